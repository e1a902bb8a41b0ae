"""SIGTERM (or Ctrl+C): the gateway stops accepting, lets in-flight requests (streams too)
finish within ``server.shutdown_grace_secs``, ends the rest with OpenAI-shaped errors, logs
every request it accepted and exits 0."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from localrouter.settings import SettingsError, parse_settings
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.polling import Background, wait_for


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], GatewayProcess]]:
    """Start a gateway on a fresh home; whatever a test leaves running is stopped after it."""
    started: list[GatewayProcess] = []

    def run(settings: dict[str, Any]) -> GatewayProcess:
        started.append(GatewayProcess(tmp_path / "home", settings).start())
        return started[-1]

    yield run
    for gateway in started:
        gateway.stop()


def settings(upstream: FakeUpstream, grace: float | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "providers": [{"name": "up", "base_url": upstream.base_url}],
        "routing": {"strong": ["up/s"], "weak": ["up/w"]},
    }
    if grace is not None:
        data["server"] = {"shutdown_grace_secs": grace}
    return data


def chat(model: str, *, stream: bool = False) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}


def refuses_connections(base_url: str) -> bool:
    try:
        httpx.get(base_url + "/health", timeout=1.0)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False


class Streamer:
    """A streaming request read in the background; ``events`` are its ``data:`` payloads."""

    def __init__(self, url: str, body: dict[str, Any]) -> None:
        self.events: list[str] = []
        self.status = 0
        self.request_id = ""
        self._url, self._body = url, body
        self.run = Background(self._read)

    def _read(self) -> None:
        with (
            httpx.Client(timeout=60) as client,
            client.stream("POST", self._url, json=self._body) as answer,
        ):
            self.status = answer.status_code
            self.request_id = answer.headers["x-request-id"]
            for line in answer.iter_lines():
                if line.startswith("data: "):
                    self.events.append(line[6:])


def test_sigterm_lets_a_slow_request_finish_and_logs_it(
    upstream: FakeUpstream, start: Callable[[dict[str, Any]], GatewayProcess]
) -> None:
    upstream.fail("slow", "timeout", delay=3)  # answers after 3 s
    gw = start(settings(upstream))
    answers: list[httpx.Response] = []
    client = Background(
        lambda: answers.append(
            httpx.post(gw.v1_url + "/chat/completions", json=chat("up/slow"), timeout=60)
        )
    )
    wait_for(lambda: bool(upstream.requests_for("slow")))
    base_url, home = gw.base_url, gw.home
    codes: list[int | None] = []
    stopping = Background(lambda: codes.append(gw.stop(timeout=30)))
    wait_for(lambda: refuses_connections(base_url))  # no new connection while draining
    assert not client.done.is_set()
    assert client.join(30) and stopping.join(30)
    assert client.errors == [] and stopping.errors == []
    answer = answers[0]
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == "reply from slow"
    assert codes == [0]
    entries = GatewayProcess(home).log_entries()
    assert [(e["request_id"], e["status"], e["status_code"]) for e in entries] == [
        (answer.headers["x-request-id"], "success", 200)
    ]
    assert not (home / "gateway.json").exists()


def test_ctrl_c_lets_a_stream_finish(
    upstream: FakeUpstream, start: Callable[[dict[str, Any]], GatewayProcess]
) -> None:
    upstream.fail("slow", "slow_stream", chunks=20, interval=0.1)  # about 2 s
    gw = start(settings(upstream))
    stream = Streamer(gw.v1_url + "/chat/completions", chat("up/slow", stream=True))
    wait_for(lambda: len(stream.events) >= 1)
    home, process = gw.home, gw.process
    assert process is not None
    process.send_signal(signal.SIGINT)  # Ctrl+C: the same graceful stop as SIGTERM
    assert process.wait(30) == 0
    assert stream.run.join(30) and stream.run.errors == []
    assert stream.events[-1] == "[DONE]"
    words = [
        json.loads(e)["choices"][0]["delta"].get("content", "")
        for e in stream.events[:-1]
        if json.loads(e).get("choices")
    ]
    assert "".join(words) == " ".join(f"w{i}" for i in range(20))
    (entry,) = GatewayProcess(home).log_entries()
    assert entry["request_id"] == stream.request_id
    assert (entry["status"], entry["status_code"], entry["stream"]) == ("success", 200, True)


def test_requests_past_the_grace_period_end_with_errors_and_are_logged(
    upstream: FakeUpstream, start: Callable[[dict[str, Any]], GatewayProcess]
) -> None:
    upstream.fail("slow", "timeout", delay=5)
    upstream.fail("long", "slow_stream", chunks=200, interval=0.05)  # about 10 s
    gw = start(settings(upstream, grace=1))
    answers: list[httpx.Response] = []
    waiting = Background(
        lambda: answers.append(
            httpx.post(gw.v1_url + "/chat/completions", json=chat("up/slow"), timeout=60)
        )
    )
    stream = Streamer(gw.v1_url + "/chat/completions", chat("up/long", stream=True))
    wait_for(lambda: bool(upstream.requests_for("slow")) and len(stream.events) >= 1)
    home = gw.home
    started = time.monotonic()
    assert gw.stop(timeout=30) == 0
    # Sooner than the 5 s upstream: the grace period (1 s) ended the wait.
    assert time.monotonic() - started < 4.5
    assert waiting.join(30) and stream.run.join(30)
    assert waiting.errors == [] and stream.run.errors == []

    answer = answers[0]
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "gateway_shutting_down" and "shut down" in error["message"]

    assert stream.status == 200
    assert stream.events[-1] == "[DONE]"
    last = json.loads(stream.events[-2])
    assert last["error"]["code"] == "gateway_shutting_down"

    entries = {e["request_id"]: e for e in GatewayProcess(home).log_entries()}
    assert set(entries) == {answer.headers["x-request-id"], stream.request_id}
    for entry in entries.values():
        assert (entry["status"], entry["status_code"]) == ("error", 503)
        assert "shut down" in entry["error"]
    assert entries[answer.headers["x-request-id"]]["attempts"][-1]["error"] is not None


def test_a_second_ctrl_c_ends_the_grace_period_at_once(
    upstream: FakeUpstream, start: Callable[[dict[str, Any]], GatewayProcess]
) -> None:
    upstream.fail("slow", "timeout", delay=20)
    gw = start(settings(upstream))  # the default grace: 30 s
    answers: list[httpx.Response] = []
    waiting = Background(
        lambda: answers.append(
            httpx.post(gw.v1_url + "/chat/completions", json=chat("up/slow"), timeout=60)
        )
    )
    wait_for(lambda: bool(upstream.requests_for("slow")))
    home, base_url, process = gw.home, gw.base_url, gw.process
    assert process is not None
    process.send_signal(signal.SIGINT)
    wait_for(lambda: refuses_connections(base_url))  # shutting down, waiting for the request
    assert not waiting.done.is_set()
    process.send_signal(signal.SIGINT)
    assert process.wait(10) == 0
    assert waiting.join(10) and waiting.errors == []
    assert answers[0].status_code == 503
    (entry,) = GatewayProcess(home).log_entries()
    assert (entry["request_id"], entry["status_code"]) == (answers[0].headers["x-request-id"], 503)


@pytest.mark.parametrize("grace", [-1, 3601, "soon"])
def test_the_grace_period_is_bounded(grace: object) -> None:
    with pytest.raises(SettingsError, match="shutdown_grace_secs"):
        parse_settings({"server": {"shutdown_grace_secs": grace}})
