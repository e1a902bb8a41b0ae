"""Bad input and failed upstreams: each answer's status code and OpenAI error shape."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.threaded_server import free_port

MAX_BODY = 4096
USER = [{"role": "user", "content": "x"}]


@pytest.fixture(scope="module")
def gateway_settings(upstream: FakeUpstream) -> dict[str, Any]:
    return {
        "server": {"max_body_bytes": MAX_BODY},
        "providers": [
            {"name": "up", "base_url": upstream.base_url, "api_key": "sk-errors-secret-9999"},
            {
                "name": "dead",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "connect_timeout_secs": 1,
            },
        ],
        "routing": {"strong": ["up/s1", "dead/s2"], "weak": ["up/w1"]},
    }


def assert_error(answer: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert "code" in error
    if code is not None:
        assert error["code"] == code
    return error


def chat(gateway: GatewayProcess, **kwargs: Any) -> httpx.Response:
    # Raw bodies are declared JSON: anything else is refused before it is read (415).
    kwargs.setdefault("headers", {"content-type": "application/json"})
    return httpx.post(gateway.v1_url + "/chat/completions", timeout=30, **kwargs)


def test_invalid_json(gateway: GatewayProcess) -> None:
    error = assert_error(chat(gateway, content=b'{"model": "auto", '), 400, "invalid_json")
    assert error["type"] == "invalid_request_error"
    assert_error(chat(gateway, content=b""), 400, "invalid_json")
    assert_error(chat(gateway, content=b"[1, 2]"), 400, "invalid_json")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "auto"}, "messages"),
        ({"model": "auto", "messages": "hello"}, "messages"),
        ({"model": "auto", "messages": [{"content": "no role"}]}, "messages[0]"),
        (
            {"model": "auto", "messages": [{"role": "user", "content": "x"}], "stream": "yes"},
            "stream",
        ),
    ],
)
def test_missing_or_invalid_fields(
    gateway: GatewayProcess, body: dict[str, Any], param: str
) -> None:
    error = assert_error(chat(gateway, json=body), 400)
    assert error["param"] == param
    assert f"'{param}'" in error["message"]


def test_missing_fields_other_endpoints(gateway: GatewayProcess) -> None:
    answer = httpx.post(gateway.v1_url + "/completions", json={"model": "auto"})
    assert assert_error(answer, 400, "missing_required_parameter")["param"] == "prompt"
    answer = httpx.post(gateway.v1_url + "/embeddings", json={"model": "up/e"})
    assert assert_error(answer, 400, "missing_required_parameter")["param"] == "input"
    answer = httpx.post(gateway.v1_url + "/embeddings", json={"model": "auto", "input": "x"})
    assert_error(answer, 400, "model_not_supported")


def test_unknown_model_lists_available(gateway: GatewayProcess) -> None:
    for model in ("nope/model", "gpt-unknown"):
        answer = chat(gateway, json={"model": model, "messages": USER})
        error = assert_error(answer, 404, "model_not_found")
        assert model in error["message"]
        for available in ("localrouter/auto", "up/s1", "up/w1"):
            assert available in error["message"]
        assert "up/s1" in error["available"]


@pytest.mark.parametrize(
    "model", ["router-bert-1.5", "router-bert--0.1", "router-bert-abc", "router-bert-nan"]
)
def test_bad_router_threshold(gateway: GatewayProcess, model: str) -> None:
    answer = chat(gateway, json={"model": model, "messages": [{"role": "user", "content": "x"}]})
    assert assert_error(answer, 400, "invalid_threshold")["param"] == "model"


def test_body_too_large_with_content_length(gateway: GatewayProcess) -> None:
    body = json.dumps(
        {"model": "auto", "messages": [{"role": "user", "content": "x" * (MAX_BODY * 4)}]}
    ).encode()
    assert_error(chat(gateway, content=body), 413, "request_too_large")


def test_body_too_large_chunked_is_answered_not_dropped(gateway: GatewayProcess) -> None:
    def body() -> Iterator[bytes]:  # no content-length: chunked transfer encoding
        for _ in range(1000):
            yield b" " * 1024

    try:
        answer = chat(gateway, content=body())
    except httpx.HTTPError:
        pytest.fail("the gateway should answer 413, not drop the connection")
    assert_error(answer, 413, "request_too_large")


def test_body_too_large_chunked_is_stopped_while_reading(gateway: GatewayProcess) -> None:
    """Twice the limit in chunks, and the body never ends: only a gateway that stops reading
    at the limit can answer (one that reads the whole body first waits forever)."""
    url = httpx.URL(gateway.v1_url)
    assert url.host and url.port
    head = (
        f"POST {url.path}/chat/completions HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (1024, b" " * 1024)
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(head.encode() + chunk * (2 * MAX_BODY // 1024))
        received = b""
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)  # times out (fails) if the gateway waits for the end
            assert data, "the gateway closed the connection without an answer"
            received += data
        headers, _, content = received.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: *(\d+)", headers)
        assert length, headers
        while len(content) < int(length[1]):
            content += sock.recv(65536)
    assert headers.startswith(b"HTTP/1.1 413 ")
    assert json.loads(content)["error"]["code"] == "request_too_large"


def test_all_upstreams_failed(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.fail("s1", "500")
    upstream.fail("w1", "503")
    try:
        answer = chat(
            gateway,
            json={"model": "localrouter/auto", "messages": [{"role": "user", "content": "x"}]},
        )
    finally:
        upstream.heal("s1")
        upstream.heal("w1")
    error = assert_error(answer, 502, "upstream_unavailable")
    # The trail: strong chain (up/s1, dead/s2) then the weak tier (cross_tier_fallback).
    assert [a["model"] for a in error["attempts"]] == ["up/s1", "dead/s2", "up/w1"]
    assert [a["status"] for a in error["attempts"]] == [500, None, 503]
    assert error["attempts"][1]["error"].startswith("connect error")
    for model in ("up/s1", "dead/s2", "up/w1"):
        assert model in error["message"]
    assert "sk-errors-secret-9999" not in answer.text
    entry = gateway.entry(answer.headers["x-request-id"])
    assert entry["status"] == "error" and entry["status_code"] == 502
    assert entry["attempts"] == error["attempts"]


def test_upstream_non_retryable_error_is_passed_through(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    upstream.fail("bad-param", "400", message="temperature must be <= 2")
    try:
        answer = chat(
            gateway, json={"model": "up/bad-param", "messages": [{"role": "user", "content": "x"}]}
        )
    finally:
        upstream.heal("bad-param")
    error = assert_error(answer, 400, "fake_400")
    assert error["message"] == "temperature must be <= 2"
    assert len(upstream.requests_for("bad-param")) == 1  # no retry on a real client error


def test_unknown_path_and_method(gateway: GatewayProcess) -> None:
    assert_error(httpx.get(gateway.base_url + "/v1/nothing"), 404, "not_found")
    assert_error(httpx.post(gateway.base_url + "/v2/chat/completions", json={}), 404)
    assert_error(httpx.get(gateway.v1_url + "/chat/completions"), 405, "method_not_allowed")
    assert_error(httpx.delete(gateway.v1_url + "/models"), 405)


def test_errors_are_logged(gateway: GatewayProcess) -> None:
    answer = chat(gateway, json={"model": "auto"})
    entry = gateway.entry(answer.headers["x-request-id"])
    assert entry["status"] == "error" and entry["status_code"] == 400
    assert "'messages'" in entry["error"]
