"""The access log: daily files, retention, the background writer, shutdown flush, prompts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from localrouter.gateway.access_log import AccessLog, AccessRecord
from localrouter.gateway.access_log.files import log_file
from localrouter.gateway.access_log.reader import read_entries
from localrouter.settings import AccessLogSettings
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess


def entry(index: int, when: datetime) -> AccessRecord:
    return AccessRecord(timestamp=when.isoformat(timespec="milliseconds"), request_id=f"r{index}")


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_daily_files_recent_and_since(tmp_path: Path) -> None:
    log = AccessLog(tmp_path, AccessLogSettings(), keep_recent=3)
    log.start()
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    log.write(entry(0, yesterday))
    for index in range(1, 5):
        log.write(entry(index, now))
    assert [e["request_id"] for e in log.recent(10)] == ["r4", "r3", "r2"]  # newest first
    assert [e["request_id"] for e in log.recent(1)] == ["r4"]
    assert log.flush()
    since = [e["request_id"] for e in read_entries(tmp_path, now - timedelta(seconds=1))]
    assert since == ["r1", "r2", "r3", "r4"]
    all_entries = [
        e["request_id"] for e in read_entries(tmp_path, yesterday - timedelta(seconds=1))
    ]
    assert all_entries == ["r0", "r1", "r2", "r3", "r4"]
    log.close()
    assert [e["request_id"] for e in lines(log_file(tmp_path, yesterday.date()))] == ["r0"]
    assert len(lines(log_file(tmp_path, now.date()))) == 4


def test_retention_removes_old_files(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    old = log_file(tmp_path, today - timedelta(days=10))
    kept = log_file(tmp_path, today - timedelta(days=2))
    unrelated = tmp_path / "notes.txt"
    for path in (old, kept, unrelated):
        path.write_text("{}\n")
    log = AccessLog(tmp_path, AccessLogSettings(retention_days=3))
    log.start()  # the writer cleans up when it starts (and once a day after)
    log.write(entry(1, datetime.now(UTC)))
    log.close()
    assert not old.exists()
    assert kept.exists() and unrelated.exists()
    # Five days on, with 3 days kept, both remaining daily files go.
    removed = set(log.cleanup(today + timedelta(days=5)))
    assert removed == {kept, log_file(tmp_path, today)}
    assert unrelated.exists()


def test_close_writes_everything_queued(tmp_path: Path) -> None:
    log = AccessLog(tmp_path, AccessLogSettings())
    log.start()
    now = datetime.now(UTC)
    for index in range(5000):
        log.write(entry(index, now))
    log.close()
    written = lines(log_file(tmp_path, now.date()))
    assert [e["request_id"] for e in written] == [f"r{i}" for i in range(5000)]


def test_disabled_log_writes_no_file(tmp_path: Path) -> None:
    log = AccessLog(tmp_path, AccessLogSettings(enabled=False))
    log.start()
    log.write(entry(1, datetime.now(UTC)))
    log.close()
    assert list(tmp_path.glob("access-*.jsonl")) == []
    assert log.recent(5)[0]["request_id"] == "r1"


def test_gateway_flushes_on_shutdown_and_logs_prompts_when_asked(tmp_path: Path) -> None:
    with FakeUpstream() as upstream:
        settings = {
            "providers": [{"name": "up", "base_url": upstream.base_url}],
            "routing": {"strong": ["up/s"], "weak": ["up/w"]},
            "access_log": {"include_prompts": True},
        }
        gw = GatewayProcess(tmp_path / "home", settings).start()
        try:
            with httpx.Client(timeout=30) as client:
                ids = []
                for index in range(200):
                    answer = client.post(
                        gw.v1_url + "/chat/completions",
                        json={
                            "model": "up/s",
                            "messages": [{"role": "user", "content": f"p{index}"}],
                        },
                    )
                    ids.append(answer.headers["x-request-id"])
        finally:
            gw.stop()  # right away: entries still queued must reach the disk
    entries = gw.log_entries()
    assert [e["request_id"] for e in entries] == ids
    assert [e["prompt"] for e in entries] == [f"p{i}" for i in range(200)]
    day = date.fromisoformat(entries[0]["timestamp"][:10])
    assert log_file(gw.home / "logs", day).exists()
