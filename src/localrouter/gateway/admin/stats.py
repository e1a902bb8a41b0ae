"""Statistics over the access log for the dashboard (GET /api/stats, POST /api/calibrate).

The UI polls every few seconds, and a busy gateway logs tens of thousands of requests a
day: parsing whole daily files on every poll would cost seconds of CPU (and GIL) each
time. :class:`LogIndex` therefore keeps a compact :class:`Row` per logged request and,
since the daily files are append-only, reads only the bytes added since its last look.
:func:`compute_stats` is a pure function over rows, testable without a server.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from localrouter.gateway.access_log import files_since
from localrouter.settings import Price

TIERS = ("strong", "weak", "direct")
# Bucket widths the traffic chart may use; the smallest giving at most _MAX_BUCKETS wins.
_BUCKET_SECS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_MAX_BUCKETS = 48


def parse_timestamp(value: object) -> datetime | None:
    """An entry's ``timestamp`` as an aware UTC datetime (ISO 8601 text or epoch seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def win_rate_of(entry: Mapping[str, Any]) -> float | None:
    value = entry.get("routellm_win_rate")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def model_ref(entry: Mapping[str, Any]) -> str | None:
    """The ``provider/model`` that answered, however the entry spells it."""
    model = entry.get("model")
    provider = entry.get("provider")
    if not model:
        return None
    if provider and not str(model).startswith(f"{provider}/"):
        return f"{provider}/{model}"
    return str(model)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True, slots=True)
class Row:
    """What the statistics need of one access-log entry."""

    ts: float  # epoch seconds
    tier: str  # strong | weak | direct | none (failed before routing)
    win_rate: float | None
    model: str | None  # provider/model that answered
    error: bool
    input_tokens: int
    output_tokens: int


def row_of(entry: Mapping[str, Any]) -> Row | None:
    """The row of one entry; None when it has no readable timestamp."""
    when = parse_timestamp(entry.get("timestamp"))
    if when is None:
        return None
    tier = entry.get("tier")
    return Row(
        ts=when.timestamp(),
        tier=tier if isinstance(tier, str) and tier else "none",
        win_rate=win_rate_of(entry),
        model=model_ref(entry),
        error=entry.get("status") == "error",
        input_tokens=_count(entry.get("input_tokens")),
        output_tokens=_count(entry.get("output_tokens")),
    )


def rows_of(entries: Iterable[Mapping[str, Any]]) -> list[Row]:
    return [row for row in map(row_of, entries) if row is not None]


@dataclass
class _File:
    offset: int = 0  # bytes consumed: always just after a newline
    rows: list[Row] = field(default_factory=list)


class LogIndex:
    """Rows of ``access-YYYY-MM-DD.jsonl`` files, parsed once and extended as files grow.

    Only complete lines are consumed (a line being written is read next time); a file that
    shrank was replaced and is read again; files outside the asked window are forgotten.
    Thread-safe.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[Path, _File] = {}
        self._lock = threading.Lock()

    def rows_since(self, since: datetime) -> list[Row]:
        first_day = since.astimezone(UTC).date()
        cutoff = since.timestamp()
        with self._lock:
            paths = files_since(self.folder, first_day)
            wanted = set(paths)
            for stale in [p for p in self._files if p not in wanted]:
                del self._files[stale]
            rows: list[Row] = []
            for path in paths:
                cached = self._refresh(path)
                rows.extend(r for r in cached.rows if r.ts >= cutoff)
        return rows

    def _refresh(self, path: Path) -> _File:
        cached = self._files.get(path)
        try:
            size = path.stat().st_size
            if cached is None or size < cached.offset:
                cached = self._files[path] = _File()
            if size == cached.offset:
                return cached
            with path.open("rb") as handle:
                handle.seek(cached.offset)
                data = handle.read(size - cached.offset)
        except OSError:
            return cached or _File()
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn line after a crash
            if isinstance(entry, dict) and (row := row_of(entry)) is not None:
                cached.rows.append(row)
        cached.offset += end
        return cached


def strong_share(win_rates: Sequence[float], threshold: float) -> float | None:
    """The fraction of prompts RouteLLM's rule (``win_rate >= threshold``) sends to strong."""
    if not win_rates:
        return None
    return sum(1 for w in win_rates if w >= threshold) / len(win_rates)


def bucket_secs_for(hours: float) -> int:
    span = hours * 3600
    return next((b for b in _BUCKET_SECS if span / b <= _MAX_BUCKETS), _BUCKET_SECS[-1])


def _cost(price: Price, row: Row) -> float:
    return (row.input_tokens * price.input + row.output_tokens * price.output) / 1_000_000


def compute_stats(
    rows: Iterable[Row],
    *,
    threshold: float,
    hours: float,
    now: datetime,
    prices: Mapping[str, Price],
    strong_model: str | None,
) -> dict[str, Any]:
    """Counts by tier, the strong share at ``threshold``, a time series and the cost estimate.

    Cost compares what successful routed requests cost with what they would have cost on
    the first model of the strong chain, using each request's own token counts. When a
    model involved has no price, dollars are unknown (``priced: false``) and only requests
    are counted.
    """
    since = (now - timedelta(hours=hours)).timestamp()
    until = (now + timedelta(minutes=5)).timestamp()  # clocks differ a little; not more
    bucket = bucket_secs_for(hours)
    start = math.floor(since / bucket) * bucket
    n_buckets = math.floor(now.timestamp() / bucket) - start // bucket + 1
    series: list[dict[str, Any]] = [
        {"t": datetime.fromtimestamp(start + i * bucket, UTC).isoformat()} | dict.fromkeys(TIERS, 0)
        for i in range(n_buckets)
    ]

    by_tier: dict[str, int] = dict.fromkeys(TIERS, 0)
    total = errors = avoided = 0
    win_rates: list[float] = []
    actual = all_strong = 0.0
    missing: set[str] = set()
    strong_price = prices.get(strong_model) if strong_model else None
    if strong_model and strong_price is None:
        missing.add(strong_model)

    for row in rows:
        if not since <= row.ts <= until:
            continue
        total += 1
        errors += row.error
        by_tier[row.tier] = by_tier.get(row.tier, 0) + 1
        if row.tier in TIERS:
            series[min(int((row.ts - start) // bucket), n_buckets - 1)][row.tier] += 1
        if row.win_rate is not None:
            win_rates.append(row.win_rate)
        if row.tier not in ("strong", "weak") or row.error:
            continue
        avoided += row.tier == "weak"
        price = prices.get(row.model) if row.model else None
        if price is None:
            missing.add(row.model or "(unknown model)")
        else:
            actual += _cost(price, row)
        if strong_price is not None:
            all_strong += _cost(strong_price, row)

    priced = strong_model is not None and not missing
    routed = by_tier["strong"] + by_tier["weak"]
    return {
        "total": total,
        "errors": errors,
        "hours": hours,
        "by_tier": by_tier,
        "threshold": threshold,
        "strong_share_at_threshold": strong_share(win_rates, threshold),
        "with_win_rate": len(win_rates),
        "actual_strong_share": by_tier["strong"] / routed if routed else None,
        "bucket_secs": bucket,
        "series": series,
        "cost": {
            "priced": priced,
            "actual_usd": round(actual, 9) if priced else None,
            "all_strong_usd": round(all_strong, 9) if priced else None,
            "saved_usd": round(all_strong - actual, 9) if priced else None,
            "strong_requests_avoided": avoided,
            "strong_model": strong_model,
            "missing_prices": sorted(missing),
        },
    }
