"""Threshold calibration: which threshold sends P% of a set of prompts to the strong tier.

The routing rule is ``strong when win_rate >= threshold``. Any threshold in the gap between
the k-th largest distinct win rate and the next one below it routes the same prompts, so we
return the *shortest decimal* in that gap (0.25 rather than 0.2531874), which is what a user
types into settings and stays robust to win rates logged with fewer digits.

Win rates come from the model (``--file``) or from the access log's ``routellm_win_rate``
(``--from-logs``, :func:`logged_win_rates`), which the admin API's ``POST /api/calibrate``
also uses. Win rates of one router only: thresholds mean the same for every router, but the
share of prompts above one depends on the router.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from localrouter.gateway.access_log import reader
from localrouter.paths import logs_dir

TABLE_PCTS: tuple[float, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90)


class CalibrationError(ValueError):
    """No usable win rates, or a strong share outside 0-100."""


@dataclass(frozen=True)
class Calibration:
    threshold: float
    achieved_share: float  # fraction of the prompts with win_rate >= threshold
    strong_count: int
    total: int
    requested_pct: float
    table: list[tuple[float, float]]  # (threshold, strong share as a fraction), by threshold

    def to_dict(self) -> dict[str, object]:
        return {
            "threshold": self.threshold,
            "strong_pct": self.requested_pct,
            "achieved_share": self.achieved_share,
            "strong_count": self.strong_count,
            "prompts": self.total,
            "table": [{"threshold": t, "strong_share": s} for t, s in self.table],
        }


def _shortest_decimal(lower: float, upper: float) -> float:
    """The number with the fewest decimals in (lower, upper]; ``upper`` if none is short."""
    for digits in range(1, 13):
        scale: int = 10**digits
        candidate = round((math.floor(lower * scale) + 1) / scale, digits)
        if candidate <= lower:  # lower * scale rounded down across an integer
            candidate = round(candidate + 1 / scale, digits)
        if lower < candidate <= upper:
            return candidate
    return upper


def _sorted_distinct(win_rates: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct win rates, largest first, and how many prompts have a win rate >= each."""
    values = np.asarray(win_rates, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise CalibrationError("there are no win rates to calibrate on")
    if not np.all(np.isfinite(values)):
        raise CalibrationError("a win rate is not a finite number")
    distinct, counts = np.unique(values, return_counts=True)
    return distinct[::-1], np.cumsum(counts[::-1])


def _pick(distinct: np.ndarray, at_least: np.ndarray, total: int, pct: float) -> tuple[float, int]:
    """(threshold, strong count) closest to ``pct`` percent of ``total``; ties go to fewer
    strong calls, the cheaper side."""
    if not 0 <= pct <= 100:
        raise CalibrationError(f"the strong share must be between 0 and 100 percent, not {pct}")
    want = pct / 100 * total
    options = np.r_[0, at_least]  # option 0: nothing strong; option i: distinct[:i] strong
    best = int(np.argmin(np.abs(options - want)))  # argmin keeps the first (smaller) on ties
    if best == 0:
        top = float(distinct[0])
        # Any threshold above the largest win rate; never above 1 unless a win rate is 1.
        threshold = _shortest_decimal(top, max(1.0, math.nextafter(top, math.inf)))
        return threshold, 0
    upper = float(distinct[best - 1])
    if best == len(distinct):
        return (0.0 if upper >= 0 else upper), total
    lower = float(distinct[best])
    return _shortest_decimal(lower, upper), int(options[best])


def calibrate(
    win_rates: Sequence[float] | np.ndarray,
    strong_pct: float,
    table_pcts: Iterable[float] = TABLE_PCTS,
) -> Calibration:
    """The threshold that sends ``strong_pct`` percent of these prompts to the strong tier
    (as close as ties allow), with a small table of thresholds against strong share."""
    distinct, at_least = _sorted_distinct(win_rates)
    total = int(at_least[-1])
    threshold, count = _pick(distinct, at_least, total, strong_pct)
    rows = {threshold: count / total}
    for pct in table_pcts:
        t, c = _pick(distinct, at_least, total, pct)
        rows[t] = c / total
    table = sorted(rows.items(), key=lambda row: -row[0])
    return Calibration(
        threshold=threshold,
        achieved_share=count / total,
        strong_count=count,
        total=total,
        requested_pct=float(strong_pct),
        table=table,
    )


# --- access logs ---------------------------------------------------------------------------


def logged_win_rates(
    home: Path | None = None,
    days: float = 7,
    now: datetime | None = None,
    router: str | None = None,
) -> list[float]:
    """``routellm_win_rate`` of every logged request of the last ``days`` days (entries that
    were not routed have none and are skipped; unreadable lines are skipped too); with
    ``router``, only the requests that router decided."""
    if days <= 0:
        raise CalibrationError("days must be positive")
    now = now or datetime.now(UTC)
    # A few minutes ahead: clocks of processes writing the log differ a little.
    return reader.logged_win_rates(
        logs_dir(home), now - timedelta(days=days), now + timedelta(minutes=5), router
    )


def calibrate_from_logs(
    strong_pct: float,
    home: Path | None = None,
    days: float = 7,
    now: datetime | None = None,
    router: str | None = None,
) -> Calibration:
    rates = logged_win_rates(home, days, now, router)
    if not rates:
        which = f"requests routed by {router}" if router else "routed requests"
        raise CalibrationError(
            f"the access log has no {which} with a win rate in the last {days:g} days"
        )
    return calibrate(rates, strong_pct)
