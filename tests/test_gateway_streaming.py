"""SSE streaming: pass-through, fallback before the first chunk, error event after it,
client disconnects cancelling the upstream."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from localrouter.gateway.proxy.streaming import SseRelay
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess


@pytest.fixture(scope="module")
def gateway_settings(upstream: FakeUpstream) -> dict[str, Any]:
    return {
        "providers": [{"name": "up", "base_url": upstream.base_url}],
        "routing": {"strong": ["up/s1", "up/s2"], "weak": ["up/w1"]},
    }


pytestmark = pytest.mark.usefixtures("clean_upstream")


def stream_events(gateway: GatewayProcess, model: str) -> tuple[httpx.Response, list[str]]:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "a b c"}]}
    with httpx.stream("POST", gateway.v1_url + "/chat/completions", json=body, timeout=30) as r:
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    return r, events


def test_chunks_arrive_before_the_answer_is_complete(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    upstream.fail("slow", "slow_stream", chunks=4, interval=0.2)
    body = {"model": "up/slow", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    started = time.monotonic()
    with httpx.stream("POST", gateway.v1_url + "/chat/completions", json=body, timeout=30) as r:
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        first_at = time.monotonic() - started
        rest = [line for line in lines if line.startswith("data: ")]
    total = time.monotonic() - started
    assert json.loads(first[6:])["choices"][0]["delta"]["content"] == "w0"
    assert first_at < total - 0.4  # not buffered until the end
    assert rest[-1] == "data: [DONE]"


def test_failure_before_first_chunk_falls_back(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    upstream.fail("s1", "stream_drop", after_chunks=0)
    response, events = stream_events(gateway, "router-bert-0")
    assert response.status_code == 200
    assert response.headers["x-localrouter-model"] == "up/s2"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "reply from s2"
    assert events[-1] == "[DONE]"
    entry = gateway.entry(response.headers["x-request-id"])
    assert [a["model"] for a in entry["attempts"]] == ["up/s1", "up/s2"]
    assert entry["attempts"][0]["error"].startswith("connection dropped")
    assert entry["status"] == "success" and entry["stream"] is True


def test_streaming_500_falls_back_across_tiers(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    upstream.fail("s1", "500")
    upstream.fail("s2", "429")
    response, events = stream_events(gateway, "router-bert-0")
    assert response.headers["x-localrouter-model"] == "up/w1"
    assert events[-1] == "[DONE]"


def test_failure_after_first_chunk_ends_with_error_event(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    upstream.fail("dropper", "stream_drop", after_chunks=2)
    response, events = stream_events(gateway, "up/dropper")
    assert response.status_code == 200
    assert [json.loads(e)["choices"][0]["delta"]["content"] for e in events[:2]] == [
        "reply",
        " from",
    ]
    error: dict[str, Any] = json.loads(events[2])["error"]
    assert set(error) >= {"message", "type", "code"}
    assert "up/dropper" in error["message"]
    assert events[3:] == ["[DONE]"]
    entry = gateway.entry(response.headers["x-request-id"])
    assert entry["status"] == "error" and entry["status_code"] == 502
    assert "mid-stream" in entry["error"]


def test_openai_sdk_raises_on_midstream_error(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    upstream.fail("dropper", "stream_drop", after_chunks=1)
    client = openai.OpenAI(base_url=gateway.v1_url, api_key="x", max_retries=0)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(
            model="up/dropper", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            received.append(chunk)
    assert len(received) == 1


def test_client_disconnect_cancels_upstream(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    upstream.fail("long", "slow_stream", chunks=200, interval=0.05)
    body = {"model": "up/long", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with httpx.stream("POST", gateway.v1_url + "/chat/completions", json=body, timeout=30) as r:
        request_id = r.headers["x-request-id"]
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")
    # Leaving the block closed our connection after one chunk (of 200, 10 s worth).
    deadline = time.monotonic() + 5
    while upstream.cancelled < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert upstream.cancelled == 1
    assert upstream.completed_streams == 0
    entry = gateway.entry(request_id)
    assert entry["status"] == "error" and entry["error"] == "client disconnected"
    assert entry["status_code"] == 499


def test_upstream_rejecting_stream_options_is_asked_again_without(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    upstream.fail("old-server", "no_stream_options")
    response, events = stream_events(gateway, "up/old-server")
    assert response.status_code == 200 and events[-1] == "[DONE]"
    sent = upstream.requests_for("old-server")
    assert ["stream_options" in r.body for r in sent] == [True, False]
    entry = gateway.entry(response.headers["x-request-id"])
    assert [a["status"] for a in entry["attempts"]] == [400, 200]
    assert entry["status"] == "success"


def test_relay_splits_events_across_reads_and_strips_only_the_added_usage_chunk() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    events = [
        b'data: {"choices": [{"delta": {"content": "a"}}]}\r\n\r\n',
        b'data: {"choices": [{"delta": {"content": "b"}}], "usage": null}\n\n',
        b'data: {"choices": [], "usage": ' + json.dumps(usage).encode() + b"}\n\n",
        b"data: [DONE]\n\n",
    ]
    stream = b"".join(events)
    for strip in (True, False):
        for size in (1, 7, len(stream)):
            relay = SseRelay(strip_usage_chunk=strip)
            out = b"".join(relay.feed(stream[i : i + size]) for i in range(0, len(stream), size))
            out += relay.finish()
            expected = [events[0], events[1], events[3]] if strip else events
            assert out == b"".join(expected)
            assert relay.usage == usage and relay.saw_done
