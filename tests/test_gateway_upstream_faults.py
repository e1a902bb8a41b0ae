"""Failing upstreams told apart, through a real ``localrouter serve``: bodies cut short,
resets after the request was read, streams ended early, 429s, context-length errors, an
upstream dripping bytes. Each failure falls back or is relayed with its meaning; a request
is never sent twice; upstream headers clients read are passed on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.fake_upstream import FakeUpstream, RawFaultUpstream
from tests.support.gateway import GatewayProcess

USER = [{"role": "user", "content": "hello there"}]
# The strong chain tried in order for "router-bert-0" (no router installed: strong tier),
# then the weak tier (cross_tier_fallback).
CHAIN = ["raw/r1", "slow/d1", "up/s1", "up/s2"]


@pytest.fixture(scope="module")
def raw() -> Iterator[RawFaultUpstream]:
    with RawFaultUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def gateway_settings(upstream: FakeUpstream, raw: RawFaultUpstream) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "up", "base_url": upstream.base_url},
            {"name": "raw", "base_url": raw.base_url},
            # The same fake upstream, with a short deadline for a whole non-streaming answer.
            {
                "name": "slow",
                "base_url": upstream.base_url,
                "timeout_secs": 10,
                "total_timeout_secs": 1.5,
            },
        ],
        "routing": {"strong": CHAIN, "weak": ["up/w1"]},
    }


@pytest.fixture(autouse=True)
def clean(upstream: FakeUpstream, raw: RawFaultUpstream) -> Iterator[None]:
    upstream.reset()
    raw.reset()
    yield
    upstream.reset()
    raw.reset()


def chat(gateway: GatewayProcess, model: str = "router-bert-0", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": USER, **extra}
    return httpx.post(gateway.v1_url + "/chat/completions", json=body, timeout=30)


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1_url, api_key="unused", max_retries=0)


def trail(gateway: GatewayProcess, answer: httpx.Response) -> list[tuple[str, int | None, str]]:
    entry = gateway.entry(answer.headers["x-request-id"])
    return [(a["model"], a["status"], a["error"] or "") for a in entry["attempts"]]


def test_reset_after_the_request_was_read_falls_back_without_resending(
    gateway: GatewayProcess, upstream: FakeUpstream, raw: RawFaultUpstream
) -> None:
    raw.fail("r1", "reset")
    answer = chat(gateway)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-localrouter-model"] == "slow/d1"
    assert len(raw.requests_for("r1")) == 1  # it may have been acted on: never sent again
    attempts = trail(gateway, answer)
    assert [(model, status) for model, status, _ in attempts] == [
        ("raw/r1", None),
        ("slow/d1", 200),
    ]
    assert attempts[0][2].startswith("connection dropped")


def test_a_body_cut_short_by_a_closing_connection_is_an_upstream_failure(
    gateway: GatewayProcess, upstream: FakeUpstream, raw: RawFaultUpstream
) -> None:
    raw.fail("r1", "close_delimited")  # no framing: only JSON tells the body is incomplete
    upstream.fail("d1", "truncate")  # content-length announced, half sent
    answer = chat(gateway)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "reply from s1"
    attempts = trail(gateway, answer)
    assert [model for model, _, _ in attempts] == ["raw/r1", "slow/d1", "up/s1"]
    assert attempts[0][1:] == (200, "incomplete answer: the body is not complete JSON")
    assert attempts[1][2].startswith("connection dropped")
    assert (len(raw.requests_for("r1")), len(upstream.requests_for("d1"))) == (1, 1)


def test_an_upstream_dripping_bytes_meets_the_deadline_and_falls_back(
    gateway: GatewayProcess, upstream: FakeUpstream, raw: RawFaultUpstream
) -> None:
    raw.fail("r1", "reset")
    upstream.fail("d1", "drip", interval=0.2)  # never silent for timeout_secs (10 s)
    started = time.monotonic()
    answer = chat(gateway)
    elapsed = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-localrouter-model"] == "up/s1"
    assert 1.5 <= elapsed < 6
    attempts = trail(gateway, answer)
    assert attempts[1][:2] == ("slow/d1", None)
    assert attempts[1][2] == "timeout: no complete answer within 1.5 s"


def test_context_length_moves_on_and_a_bad_parameter_does_not(
    gateway: GatewayProcess, upstream: FakeUpstream, raw: RawFaultUpstream
) -> None:
    raw.fail("r1", "reset")
    upstream.fail("d1", "context_length")
    answer = chat(gateway)
    assert answer.headers["x-localrouter-model"] == "up/s1"
    assert [status for _, status, _ in trail(gateway, answer)] == [None, 400, 200]

    upstream.fail("d1", "400", message="temperature 3 exceeds the maximum of 2", code=None)
    answer = chat(gateway, temperature=3)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "temperature 3 exceeds the maximum of 2"
    assert upstream.requests_for("s1") == [upstream.requests_for("s1")[0]]  # not tried again


def test_context_length_with_nothing_left_is_the_upstreams_400(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    upstream.fail("small", "context_length")
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(gateway).chat.completions.create(model="up/small", messages=USER)
    assert raised.value.status_code == 400
    assert raised.value.code == "context_length_exceeded"
    assert "maximum context length" in raised.value.message

    # An upstream that says so in words only (another status, no code): the same answer.
    upstream.fail("words", "400", message="prompt is too long: 9000 tokens > 8192", code=None)
    answer = chat(gateway, "up/words")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "context_length_exceeded"
    assert answer.json()["error"]["message"] == "prompt is too long: 9000 tokens > 8192"
    assert answer.headers["x-upstream-request-id"].startswith("req-fake-")


def test_a_429_with_nothing_left_stays_a_429(
    gateway: GatewayProcess, upstream: FakeUpstream, raw: RawFaultUpstream
) -> None:
    upstream.fail("busy", "429", retry_after=3)
    with pytest.raises(openai.RateLimitError) as raised:
        sdk(gateway).chat.completions.create(model="up/busy", messages=USER)
    assert raised.value.status_code == 429
    assert raised.value.response.headers["retry-after"] == "3"
    assert len(upstream.requests_for("busy")) == 1

    # The whole chain, the last one rate-limited too: still a 429, every send an attempt.
    raw.fail("r1", "reset")
    for model in ("d1", "s1", "s2"):
        upstream.fail(model, "500")
    upstream.fail("w1", "429")
    answer = chat(gateway)
    assert answer.status_code == 429 and answer.headers["retry-after"] == "7"
    attempts = trail(gateway, answer)
    assert [model for model, _, _ in attempts] == [*CHAIN, "up/w1"]
    assert [status for _, status, _ in attempts] == [None, 500, 500, 500, 429]
    entry = gateway.entry(answer.headers["x-request-id"])
    assert entry["status"] == "error" and entry["status_code"] == 429


def test_upstream_headers_clients_read_are_passed_on(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    answer = chat(gateway, "up/s2")
    assert answer.status_code == 200
    assert answer.headers["x-upstream-request-id"].startswith("req-fake-")
    assert answer.headers["x-request-id"] != answer.headers["x-upstream-request-id"]
    assert answer.headers["openai-processing-ms"] == "7"
    assert answer.headers["x-ratelimit-remaining-requests"] == "99"


def test_a_stream_ended_before_the_answer_is_an_error(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    upstream.fail("early", "stream_end_early", after_chunks=2)
    body = {"model": "up/early", "stream": True, "messages": USER}
    with httpx.stream("POST", gateway.v1_url + "/chat/completions", json=body, timeout=30) as r:
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert [json.loads(e)["choices"][0]["delta"]["content"] for e in events[:2]] == [
        "reply",
        " from",
    ]
    error = json.loads(events[2])["error"]
    assert "up/early" in error["message"] and "complete" in error["message"]
    assert events[3:] == ["[DONE]"]
    entry = gateway.entry(r.headers["x-request-id"])
    assert entry["status"] == "error" and entry["status_code"] == 502
    assert entry["attempts"][-1]["error"] == entry["error"]

    with pytest.raises(openai.APIError):
        for _ in sdk(gateway).chat.completions.create(
            model="up/early",
            messages=USER,
            stream=True,
        ):
            pass

    # A whole stream (finish_reason and [DONE]) is a success.
    with httpx.stream(
        "POST", gateway.v1_url + "/chat/completions", json={**body, "model": "up/s2"}
    ) as r:
        assert [line for line in r.iter_lines() if line.startswith("data: ")][-1] == "data: [DONE]"
    assert gateway.entry(r.headers["x-request-id"])["status"] == "success"
