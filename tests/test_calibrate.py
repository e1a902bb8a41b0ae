"""Threshold calibration: the pure function, the access-log reader and the CLI (--from-logs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from localrouter.evaluation.calibrate import (
    CalibrationError,
    calibrate,
    calibrate_from_logs,
    logged_win_rates,
)
from localrouter.routers.random import RandomRouter


@pytest.mark.parametrize("pct", [0, 5, 10, 25, 33.3, 50, 77, 90, 100])
def test_threshold_sends_the_asked_share(pct: float) -> None:
    rates = np.random.default_rng(7).beta(2, 5, size=301)
    result = calibrate(rates, pct)
    strong = int((rates >= result.threshold).sum())
    assert abs(strong - pct / 100 * len(rates)) <= 1
    assert result.strong_count == strong
    assert result.achieved_share == pytest.approx(strong / len(rates))
    assert result.total == 301


def test_threshold_is_a_short_decimal_in_the_gap() -> None:
    rates = [0.11, 0.2531874, 0.2611, 0.9]
    result = calibrate(rates, 50)
    assert result.threshold == 0.26  # in (0.2531874, 0.2611]
    assert result.strong_count == 2


def test_ties_cannot_be_split_and_the_cheaper_side_wins() -> None:
    rates = [0.1, 0.2, 0.2, 0.2, 0.9]
    result = calibrate(rates, 50)  # 2.5 wanted: 1 and 4 are equally far
    assert result.strong_count == 1
    assert result.threshold > 0.2
    assert calibrate(rates, 70).strong_count == 4


def test_table_lists_thresholds_against_share() -> None:
    rates = np.linspace(0, 1, 101)
    result = calibrate(rates, 42)
    thresholds = [t for t, _ in result.table]
    shares = [s for _, s in result.table]
    assert thresholds == sorted(thresholds, reverse=True)
    assert shares == sorted(shares)
    assert (result.threshold, result.achieved_share) in result.table
    for threshold, share in result.table:
        assert share == pytest.approx(float(np.mean(rates >= threshold)))
    payload = result.to_dict()
    assert payload["prompts"] == 101 and payload["table"][0].keys() == {"threshold", "strong_share"}


def test_bad_input() -> None:
    with pytest.raises(CalibrationError):
        calibrate([], 50)
    with pytest.raises(CalibrationError):
        calibrate([0.5], 101)


def _entry(stamp: datetime, rate: float | None) -> dict:
    return {
        "timestamp": stamp.isoformat(timespec="milliseconds"),
        "request_id": "r",
        "tier": "direct" if rate is None else "strong",
        "routellm_win_rate": rate,
        "status": "success",
    }


def _write_logs(home: Path, now: datetime) -> None:
    logs = home / "logs"
    logs.mkdir(parents=True)
    today = [_entry(now - timedelta(minutes=i), 0.1 * i) for i in range(1, 9)]
    today.append(_entry(now, None))  # not routed: no win rate
    lines = [json.dumps(e) for e in today] + ['{"truncated": ']  # a line being written
    (logs / f"access-{now.date().isoformat()}.jsonl").write_text("\n".join(lines) + "\n")
    old_day = now - timedelta(days=10)
    (logs / f"access-{old_day.date().isoformat()}.jsonl").write_text(
        json.dumps(_entry(old_day, 0.99)) + "\n"
    )
    (logs / "notes.txt").write_text("not a log")


def test_logged_win_rates_reads_recent_days(tmp_path: Path) -> None:
    now = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
    _write_logs(tmp_path, now)
    rates = logged_win_rates(tmp_path, days=7, now=now)
    assert sorted(rates) == pytest.approx([0.1 * i for i in range(1, 9)])
    assert len(logged_win_rates(tmp_path, days=30, now=now)) == 9
    result = calibrate_from_logs(25, tmp_path, days=7, now=now)
    assert result.strong_count == 2 and result.total == 8
    with pytest.raises(CalibrationError, match="no routed requests"):
        calibrate_from_logs(25, tmp_path / "nowhere", days=7, now=now)


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOCALROUTER_HOME": str(home)}
    env.pop("LOCALROUTER_ENV", None)
    return subprocess.run(
        [sys.executable, "-m", "localrouter", "routellm", "calibrate", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_from_logs(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    _write_logs(tmp_path, now)
    run = _cli(tmp_path, "--strong-pct", "50", "--from-logs", "--days", "3", "--json")
    assert run.returncode == 0, run.stderr
    payload = json.loads(run.stdout)
    assert payload["prompts"] == 8 and payload["strong_count"] == 4
    rates = [0.1 * i for i in range(1, 9)]
    assert sum(r >= payload["threshold"] for r in rates) == 4

    text = _cli(tmp_path, "--strong-pct", "50", "--from-logs")
    assert text.returncode == 0, text.stderr
    assert "sends 50.0% (4 of 8 requests" in text.stdout
    assert "| Threshold | Strong share |" in text.stdout


def test_cli_errors_are_one_sentence(tmp_path: Path) -> None:
    both = _cli(tmp_path, "--strong-pct", "50")
    assert both.returncode != 0
    assert both.stderr.strip() == "Error: pass exactly one of --from-logs or --file PROMPTS."
    empty = _cli(tmp_path, "--strong-pct", "50", "--from-logs")
    assert empty.returncode != 0 and "Traceback" not in empty.stderr
    assert "no requests routed by bert with a win rate in the last 7 days" in empty.stderr
    bad = _cli(tmp_path, "--strong-pct", "50", "--file", str(tmp_path / "missing.txt"))
    assert bad.returncode != 0 and "does not exist" in bad.stderr


def test_cli_calibrates_the_selected_router(tmp_path: Path) -> None:
    """Logged win rates of the selected router only (routing.router, or --router); with
    --file, that router's own win rates."""
    now = datetime.now(UTC)
    _write_logs(tmp_path, now)  # 8 routed entries without a router field: bert's
    mine = [{**_entry(now - timedelta(minutes=i), 0.5), "router": "mine"} for i in range(1, 4)]
    log = tmp_path / "logs" / f"access-{now.date().isoformat()}.jsonl"
    with log.open("a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in mine)
    (tmp_path / "settings.yaml").write_text("routing:\n  router: mine\n", encoding="utf-8")

    selected = _cli(tmp_path, "--strong-pct", "50", "--from-logs", "--json")
    assert selected.returncode == 0, selected.stderr
    payload = json.loads(selected.stdout)
    assert (payload["router"], payload["prompts"]) == ("mine", 3)
    bert = json.loads(
        _cli(tmp_path, "--strong-pct", "50", "--from-logs", "--router", "bert", "--json").stdout
    )
    assert (bert["router"], bert["prompts"], bert["strong_count"]) == ("bert", 8, 4)
    other = _cli(tmp_path, "--strong-pct", "50", "--from-logs", "--router", "other")
    assert other.returncode != 0
    assert "no requests routed by other with a win rate" in other.stderr

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"prompt {i}" for i in range(20)), encoding="utf-8")
    rand = _cli(
        tmp_path, "--strong-pct", "30", "--file", str(prompts), "--router", "random", "--json"
    )
    assert rand.returncode == 0, rand.stderr
    expected = RandomRouter().predict([f"prompt {i}" for i in range(20)])
    rates = [p.win_rate for p in expected]
    result = json.loads(rand.stdout)
    assert result["router"] == "random" and result["prompts"] == 20
    assert sum(r >= result["threshold"] for r in rates) == 6
    missing = _cli(tmp_path, "--strong-pct", "30", "--file", str(prompts))  # mine: not trained
    assert missing.returncode != 0 and "no router named 'mine'" in missing.stderr


def test_prompt_files_lines_and_jsonl(tmp_path: Path) -> None:
    from localrouter.evaluation.prompts import PromptFileError, read_prompt_file

    text = tmp_path / "prompts.txt"
    text.write_text("first prompt\n\n  second, with spaces  \n", encoding="utf-8")
    assert read_prompt_file(text) == ["first prompt", "  second, with spaces  "]
    jsonl = tmp_path / "prompts.jsonl"
    jsonl.write_text('{"prompt": "a\\nb"}\n\n{"prompt": "c"}\n', encoding="utf-8")
    assert read_prompt_file(jsonl) == ["a\nb", "c"]
    jsonl.write_text('{"prompt": "a"}\n{"text": "b"}\n', encoding="utf-8")
    with pytest.raises(PromptFileError, match=r"prompts\.jsonl:2"):
        read_prompt_file(jsonl)
