"""Statistics over the access log for the dashboard (GET /api/stats).

:func:`compute_stats` is a pure function over the reader's rows
(:mod:`localrouter.gateway.access_log.reader`), testable without a server. Requests are
counted both by the tier that answered (``by_tier``, the chart) and by the router's
decision (``by_routed_tier``): a cross-tier fallback is decided strong, answered weak.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from localrouter.gateway.access_log.reader import Row
from localrouter.routers.base import TIERS as ROUTED_TIERS
from localrouter.settings import Price

TIERS = (*ROUTED_TIERS, "direct")
# Bucket widths the traffic chart may use; the smallest giving at most _MAX_BUCKETS wins.
_BUCKET_SECS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_MAX_BUCKETS = 48


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
    the first model of the strong chain at the time of each request (``baseline_model`` of
    its entry; ``strong_model``, today's, for entries without one), using each request's own
    token counts. When a model involved has no price, dollars are unknown (``priced:
    false``) and only requests are counted.
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
    by_routed_tier: dict[str, int] = dict.fromkeys(TIERS, 0)
    total = errors = avoided = 0
    win_rates: list[float] = []
    actual = all_strong = 0.0
    missing: set[str] = set()
    baselines: set[str] = set()

    for row in rows:
        if not since <= row.ts <= until:
            continue
        total += 1
        errors += row.error
        by_tier[row.tier] = by_tier.get(row.tier, 0) + 1
        by_routed_tier[row.routed_tier] = by_routed_tier.get(row.routed_tier, 0) + 1
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
        baseline = row.baseline or strong_model
        baseline_price = prices.get(baseline) if baseline else None
        if baseline:
            baselines.add(baseline)
        if baseline_price is None:
            missing.add(baseline or "(no strong model)")
        else:
            all_strong += _cost(baseline_price, row)

    priced = not missing
    routed = by_routed_tier["strong"] + by_routed_tier["weak"]
    return {
        "total": total,
        "errors": errors,
        "hours": hours,
        "tiers": list(TIERS),
        "by_tier": by_tier,
        "by_routed_tier": by_routed_tier,
        "threshold": threshold,
        "strong_share_at_threshold": strong_share(win_rates, threshold),
        "with_win_rate": len(win_rates),
        "actual_strong_share": by_routed_tier["strong"] / routed if routed else None,
        "bucket_secs": bucket,
        "series": series,
        "cost": {
            "priced": priced,
            "actual_usd": round(actual, 9) if priced else None,
            "all_strong_usd": round(all_strong, 9) if priced else None,
            "saved_usd": round(all_strong - actual, 9) if priced else None,
            "strong_requests_avoided": avoided,
            "strong_model": strong_model,
            "baseline_models": sorted(baselines),
            "missing_prices": sorted(missing),
        },
    }
