"""Statistics over access-log entries for the dashboard (GET /api/stats).

Pure functions over plain dicts (SPEC "Access log entry"), so they are testable without a
server and cheap enough to recompute on every poll of the UI.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

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


def strong_share(win_rates: Sequence[float], threshold: float) -> float | None:
    """The fraction of prompts RouteLLM's rule (``win_rate >= threshold``) sends to strong."""
    if not win_rates:
        return None
    return sum(1 for w in win_rates if w >= threshold) / len(win_rates)


def bucket_secs_for(hours: float) -> int:
    span = hours * 3600
    return next((b for b in _BUCKET_SECS if span / b <= _MAX_BUCKETS), _BUCKET_SECS[-1])


def _cost(price: Price, entry: Mapping[str, Any]) -> float:
    tokens_in = entry.get("input_tokens") or 0
    tokens_out = entry.get("output_tokens") or 0
    return (tokens_in * price.input + tokens_out * price.output) / 1_000_000


def compute_stats(
    entries: Iterable[Mapping[str, Any]],
    *,
    threshold: float,
    hours: float,
    now: datetime,
    prices: Mapping[str, Price],
    strong_model: str | None,
) -> dict[str, Any]:
    """Counts by tier, the strong share at ``threshold``, a time series and the cost estimate.

    Cost compares what routed requests cost with what they would have cost on the first
    model of the strong chain, using each request's own token counts. When a model involved
    has no price, dollars are unknown (``priced: false``) and only requests are counted.
    """
    since = now - timedelta(hours=hours)
    bucket = bucket_secs_for(hours)
    start = math.floor(since.timestamp() / bucket) * bucket
    n_buckets = math.floor(now.timestamp() / bucket) - start // bucket + 1
    series: list[dict[str, Any]] = [
        {"t": datetime.fromtimestamp(start + i * bucket, UTC).isoformat()} | dict.fromkeys(TIERS, 0)
        for i in range(n_buckets)
    ]

    by_tier: dict[str, int] = dict.fromkeys(TIERS, 0)
    total = errors = 0
    win_rates: list[float] = []
    actual = all_strong = 0.0
    missing: set[str] = set()
    avoided = 0
    strong_price = prices.get(strong_model) if strong_model else None
    if strong_model and strong_price is None:
        missing.add(strong_model)

    for entry in entries:
        when = parse_timestamp(entry.get("timestamp"))
        if when is None or when < since or when > now + timedelta(minutes=5):
            continue
        total += 1
        if entry.get("status") == "error":
            errors += 1
        tier = entry.get("tier") or "none"
        by_tier[tier] = by_tier.get(tier, 0) + 1
        index = min(int((when.timestamp() - start) // bucket), n_buckets - 1)
        if tier in TIERS and index >= 0:
            series[index][tier] += 1
        rate = win_rate_of(entry)
        if rate is not None:
            win_rates.append(rate)
        if tier not in ("strong", "weak") or entry.get("status") == "error":
            continue
        if tier == "weak":
            avoided += 1
        ref = model_ref(entry)
        price = prices.get(ref) if ref else None
        if price is None:
            missing.add(ref or "(unknown model)")
        else:
            actual += _cost(price, entry)
        if strong_price is not None:
            all_strong += _cost(strong_price, entry)

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
            "actual_usd": round(actual, 6) if priced else None,
            "all_strong_usd": round(all_strong, 6) if priced else None,
            "saved_usd": round(all_strong - actual, 6) if priced else None,
            "strong_requests_avoided": avoided,
            "strong_model": strong_model,
            "missing_prices": sorted(missing),
        },
    }
