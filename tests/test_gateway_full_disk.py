"""A gateway whose log disk fills up, then turns read-only: requests are still answered,
``/health`` says ``degraded`` with the reason, ``/metrics`` counts the failures, the log file
only ever holds whole lines, and every entry is written once the disk recovers.

The disk is a real 256 KiB tmpfs on ``HOME/logs`` under a ``localrouter serve`` process when
this machine allows mounting; else the same gateway app served in-process (uvicorn, real
HTTP) with the writer's ``os_write`` seam failing the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from localrouter.gateway.app import create_app
from localrouter.settings import parse_settings
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.log_disk import FlakyDisk, TmpfsDisk
from tests.support.polling import wait_for
from tests.support.threaded_server import ThreadedServer


@dataclass
class DiskGateway:
    base_url: str
    logs: Path
    disk: FlakyDisk | TmpfsDisk


def _in_process(home: Path, settings: dict[str, Any], disk: FlakyDisk) -> Iterator[str]:
    app = create_app(parse_settings(settings), home=home, config_path=home / "settings.yaml")
    server = ThreadedServer(app, "gateway", log_level="warning").start(timeout=20)
    app.state.gateway.access_log.os_write = disk.write
    try:
        yield server.url
    finally:
        server.stop(timeout=30)


@pytest.fixture
def gateway(tmp_path: Path, upstream: FakeUpstream) -> Iterator[DiskGateway]:
    home = tmp_path / "home"
    settings = {
        "providers": [{"name": "up", "base_url": upstream.base_url}],
        "routing": {"strong": ["up/s"], "weak": ["up/w"]},
        "access_log": {"include_prompts": True},  # big entries: each needs new disk pages
    }
    if TmpfsDisk.allowed(tmp_path / "probe"):
        disk = TmpfsDisk(home / "logs")
        try:
            with GatewayProcess(home, settings) as gw:
                yield DiskGateway(gw.base_url, home / "logs", disk)
        finally:
            disk.close()
    else:
        flaky = FlakyDisk()
        for base_url in _in_process(home, settings, flaky):
            yield DiskGateway(base_url, home / "logs", flaky)


def ask(client: httpx.Client, index: int) -> str:
    answer = client.post(
        "/v1/chat/completions",
        json={"model": "up/s", "messages": [{"role": "user", "content": f"{index} " * 3000}]},
    )
    assert answer.status_code == 200  # serving goes on whatever the log disk does
    return answer.headers["x-request-id"]


def logged_ids(logs: Path) -> list[str]:
    ids = []
    for path in sorted(logs.glob("access-*.jsonl")):
        data = path.read_bytes()
        assert data.endswith(b"\n"), "the log file ends mid-line"
        ids += [json.loads(line)["request_id"] for line in data.splitlines()]
    return ids


def metric(client: httpx.Client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def health(client: httpx.Client) -> dict[str, Any]:
    answer = client.get("/health")
    assert answer.status_code == 200  # degraded is still alive
    data: dict[str, Any] = answer.json()
    return data


def fail_and_recover(
    client: httpx.Client,
    gateway: DiskGateway,
    failure: Callable[[], None],
    reason: str,
    logged: list[str],
) -> list[str]:
    """Break the disk with ``failure``, check what the gateway says, heal it; the ids of
    the requests made meanwhile."""
    failure()
    waiting = [ask(client, i) for i in range(3)]
    wait_for(lambda: health(client)["status"] == "degraded")
    (problem,) = health(client)["reasons"]
    assert reason in problem and "access log" in problem
    assert metric(client, "localrouter_access_log_write_failures_total") >= 1
    assert metric(client, "localrouter_access_log_pending_entries") >= 1
    assert logged_ids(gateway.logs) == logged  # whole lines only: none half-written
    # The statistics do not wait for the disk.
    assert client.get("/api/stats", timeout=5).status_code == 200
    gateway.disk.free()
    wait_for(lambda: health(client)["status"] == "ok")
    return waiting


def test_full_then_read_only_log_disk(gateway: DiskGateway) -> None:
    logs, disk = gateway.logs, gateway.disk
    with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
        ids = [ask(client, 0)]
        wait_for(lambda: logged_ids(logs) == ids)
        assert health(client)["status"] == "ok"

        full = fail_and_recover(client, gateway, disk.fill, "No space left", ids)
        wait_for(lambda: logged_ids(logs) == ids + full)
        read_only = fail_and_recover(client, gateway, disk.read_only, "Read-only", ids + full)
        wait_for(lambda: logged_ids(logs) == ids + full + read_only)
        assert metric(client, "localrouter_access_log_pending_entries") == 0
        assert metric(client, "localrouter_access_log_lost_entries_total") == 0
