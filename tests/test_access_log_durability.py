"""The access log on a failing disk: whole lines only, entries kept in memory and written on
recovery, the count of dropped entries recorded, ``/health`` and ``/metrics`` told.

The writer's ``os_write`` seam simulates the disk here (it writes what fits, then raises
ENOSPC, as a full file system does); test_gateway_full_disk.py runs a gateway on a real full
file system.
"""

from __future__ import annotations

import errno
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from localrouter.gateway.access_log import AccessLog, AccessRecord
from localrouter.gateway.access_log.files import log_file
from localrouter.gateway.access_log.reader import LogIndex, read_entries
from localrouter.gateway.metrics import Metrics
from localrouter.settings import AccessLogSettings
from tests.support.log_disk import FlakyDisk
from tests.support.polling import wait_for


def record(index: int) -> AccessRecord:
    return AccessRecord(request_id=f"r{index}", status="success", status_code=200)


def file_lines(path: Path) -> list[dict[str, object]]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "the file ends mid-line"
    return [json.loads(line) for line in data.splitlines()]


def test_full_disk_keeps_lines_whole_and_writes_entries_after_recovery(tmp_path: Path) -> None:
    disk = FlakyDisk()
    log = AccessLog(tmp_path, AccessLogSettings(), os_write=disk.write)
    metrics = Metrics()
    metrics.watch_access_log(log.health)
    log.start()
    path = log_file(tmp_path, datetime.now(UTC).date())
    try:
        log.write(record(0))
        assert log.flush()
        before = path.read_bytes()
        disk.fill(room=25)  # the next batch gets 25 bytes out, then ENOSPC: a short write
        for index in range(1, 4):
            log.write(record(index))
        assert not log.flush()  # handled, but waiting in memory
        health = log.health()
        assert health.error is not None and "No space left on device" in health.error
        assert health.pending == 3 and health.write_failures >= 1 and health.lost == 0
        assert path.read_bytes() == before  # the partial line was taken back
        text = metrics.render().decode()
        assert "localrouter_access_log_pending_entries 3.0" in text
        assert "localrouter_access_log_write_failures_total 0.0" not in text

        disk.free()
        wait_for(lambda: log.health().error is None)
        assert log.flush()
        assert [e["request_id"] for e in file_lines(path)] == ["r0", "r1", "r2", "r3"]
        assert log.health().pending == 0
    finally:
        log.close()


def test_read_only_disk_then_overflow_records_the_lost_count(tmp_path: Path) -> None:
    disk = FlakyDisk()
    log = AccessLog(tmp_path, AccessLogSettings(), max_pending=5, os_write=disk.write)
    metrics = Metrics()
    metrics.watch_access_log(log.health)
    log.start()
    path = log_file(tmp_path, datetime.now(UTC).date())
    try:
        disk.fill(code=errno.EROFS)
        for index in range(8):
            log.write(record(index))
        log.flush()
        health = log.health()
        assert health.error is not None and "Read-only file system" in health.error
        assert (health.pending, health.lost) == (5, 3)  # the oldest three were dropped
        assert "localrouter_access_log_lost_entries_total 3.0" in metrics.render().decode()

        disk.free()
        wait_for(lambda: log.health().pending == 0)
        lines = file_lines(path)
        marker, *entries = lines
        assert marker["type"] == "lost_entries" and marker["count"] == 3
        assert marker["reason"] is not None and "Read-only" in str(marker["reason"])
        assert [e["request_id"] for e in entries] == ["r3", "r4", "r5", "r6", "r7"]
        # The one reader gives request entries only: stats, /api/requests and calibrate
        # never see the marker.
        since = datetime.now(UTC) - timedelta(minutes=5)
        assert [e["request_id"] for e in read_entries(tmp_path, since)] == [
            f"r{i}" for i in range(3, 8)
        ]
        assert len(LogIndex(tmp_path).rows_since(since)) == 5
        assert log.health().lost == 3  # the total stays counted
    finally:
        log.close()


def test_a_torn_last_line_from_before_never_swallows_the_next_entry(tmp_path: Path) -> None:
    path = log_file(tmp_path, datetime.now(UTC).date())
    path.write_bytes(b'{"request_id": "old"}\n{"request_id": "cut sho')  # a crash mid-write
    log = AccessLog(tmp_path, AccessLogSettings())
    log.start()
    log.write(record(1))
    log.close()
    data = path.read_bytes()
    assert data.endswith(b"\n")
    since = datetime.now(UTC) - timedelta(minutes=5)
    assert [e["request_id"] for e in read_entries(tmp_path, since)] == ["r1"]
    _, torn, ours = data.splitlines()
    assert torn == b'{"request_id": "cut sho' and json.loads(ours)["request_id"] == "r1"


def test_close_with_a_failing_disk_gives_up_after_one_attempt(tmp_path: Path) -> None:
    disk = FlakyDisk()
    log = AccessLog(tmp_path, AccessLogSettings(), os_write=disk.write)
    log.start()
    disk.fill()
    log.write(record(1))
    log.close(timeout=5)
    assert log.health().pending == 1
    assert (
        not log_file(tmp_path, datetime.now(UTC).date()).exists()
        or file_lines(log_file(tmp_path, datetime.now(UTC).date())) == []
    )


def test_a_burst_on_a_healthy_disk_is_never_dropped(tmp_path: Path) -> None:
    log = AccessLog(tmp_path, AccessLogSettings(), max_pending=5)
    log.start()
    for index in range(50):  # ten times the in-memory bound, faster than one write
        log.write(record(index))
    log.close()
    path = log_file(tmp_path, datetime.now(UTC).date())
    assert [e["request_id"] for e in file_lines(path)] == [f"r{i}" for i in range(50)]
    assert log.health().lost == 0
