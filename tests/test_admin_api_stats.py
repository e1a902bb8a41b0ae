"""The dashboard's statistics over access-log entries (admin/stats.py, access_log/reader.py),
at fixed times."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from localrouter.gateway.access_log.reader import LogIndex, model_ref, rows_of
from localrouter.gateway.admin.stats import bucket_secs_for, compute_stats
from localrouter.settings import Price

NOW = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)


def at(minutes_ago: float) -> datetime:
    return NOW - timedelta(minutes=minutes_ago)


def test_bucket_width_keeps_the_chart_readable() -> None:
    assert bucket_secs_for(1) == 300
    assert bucket_secs_for(24) == 1800
    assert bucket_secs_for(168) == 21600
    for hours in (0.5, 1, 6, 24, 168, 24 * 31):
        assert hours * 3600 / bucket_secs_for(hours) <= 48


def test_timestamps_in_any_common_spelling_land_in_their_bucket() -> None:
    entries: list[dict[str, Any]] = [
        {"timestamp": at(0.25).isoformat(), "tier": "strong", "routellm_win_rate": 0.9},
        {"timestamp": at(7).strftime("%Y-%m-%dT%H:%M:%S"), "tier": "weak"},  # naive = UTC
        {"timestamp": at(12).strftime("%Y-%m-%dT%H:%M:%SZ"), "tier": "weak"},
        {"timestamp": at(30).timestamp(), "tier": "direct"},  # epoch seconds
        {"timestamp": at(90).isoformat(), "tier": "strong"},  # older than the hour
        {"timestamp": "yesterday", "tier": "strong"},  # unreadable: skipped
    ]
    stats = compute_stats(
        rows_of(entries), threshold=0.5, hours=1, now=NOW, prices={}, strong_model="a/strong"
    )
    assert stats["total"] == 4
    assert stats["by_tier"] == {"strong": 1, "weak": 2, "direct": 1}
    series = stats["series"]
    assert datetime.fromisoformat(series[0]["t"]) <= at(60)
    assert (
        datetime.fromisoformat(series[-1]["t"])
        <= NOW
        < datetime.fromisoformat(series[-1]["t"]) + timedelta(seconds=stats["bucket_secs"])
    )
    assert series[-1]["strong"] == 1  # 15 s ago: the current 5-minute bucket (12:00)
    assert sum(b["weak"] for b in series) == 2
    assert stats["strong_share_at_threshold"] == 1.0 and stats["with_win_rate"] == 1


def test_cost_counts_successful_routed_requests_only() -> None:
    prices = {"a/strong": Price(input=10, output=30), "b/weak": Price(input=1, output=2)}

    def routed(tier: str, model: str, status: str = "success") -> dict[str, Any]:
        return {
            "timestamp": at(1).isoformat(),
            "tier": tier,
            "model": model,  # already "provider/model", without a provider field
            "status": status,
            "input_tokens": 1_000_000,
            "output_tokens": 1_000_000,
        }

    entries = [
        routed("weak", "b/weak"),
        routed("strong", "a/strong"),
        routed("weak", "b/weak", status="error"),
        {**routed("direct", "c/other")},  # direct: neither tier, no price needed
    ]
    stats = compute_stats(
        rows_of(entries), threshold=0.3, hours=24, now=NOW, prices=prices, strong_model="a/strong"
    )
    cost = stats["cost"]
    assert stats["errors"] == 1
    assert cost["priced"] is True and cost["missing_prices"] == []
    assert cost["all_strong_usd"] == pytest.approx(2 * 40)
    assert cost["actual_usd"] == pytest.approx(40 + 3)
    assert cost["saved_usd"] == pytest.approx(37)
    assert cost["strong_requests_avoided"] == 1


def test_model_ref_joins_provider_and_model() -> None:
    assert model_ref({"provider": "ollama", "model": "llama3.2"}) == "ollama/llama3.2"
    assert model_ref({"provider": "ollama", "model": "ollama/llama3.2"}) == "ollama/llama3.2"
    assert model_ref({"provider": "openrouter", "model": "meta/llama"}) == "openrouter/meta/llama"
    assert model_ref({"model": None}) is None


def test_log_index_reads_only_what_was_appended(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    path = tmp_path / f"access-{now.date().isoformat()}.jsonl"
    old = tmp_path / f"access-{(now - timedelta(days=3)).date().isoformat()}.jsonl"

    def line(tier: str, seconds_ago: float = 1) -> str:
        stamp = (now - timedelta(seconds=seconds_ago)).isoformat()
        return json.dumps({"timestamp": stamp, "tier": tier, "routellm_win_rate": 0.5}) + "\n"

    old.write_text(line("strong", 3 * 86400), encoding="utf-8")
    path.write_text(line("strong") + "{not json\n" + line("weak"), encoding="utf-8")
    index = LogIndex(tmp_path)
    since = now - timedelta(hours=1)
    assert [r.tier for r in index.rows_since(since)] == ["strong", "weak"]

    half = line("direct")
    with path.open("a", encoding="utf-8") as handle:
        handle.write(half[:10])  # a line being written: not read yet
    assert len(index.rows_since(since)) == 2
    with path.open("a", encoding="utf-8") as handle:
        handle.write(half[10:])
    assert [r.tier for r in index.rows_since(since)] == ["strong", "weak", "direct"]

    path.write_text(line("weak"), encoding="utf-8")  # replaced by a shorter file
    assert [r.tier for r in index.rows_since(since)] == ["weak"]
    week = index.rows_since(now - timedelta(days=7))
    assert sorted(r.tier for r in week) == ["strong", "weak"]
