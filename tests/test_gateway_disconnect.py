"""A client that disconnects while the upstream still works on its answer: the gateway
closes the upstream request at once, starts no fallback, and logs one 499 entry (the
convention of streams the client left, see test_gateway_streaming). One that leaves while
its body is still being read gets the same 499 entry, and no traceback in the server log."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.polling import wait_for


@pytest.fixture(scope="module")
def gateway_settings(upstream: FakeUpstream) -> dict[str, Any]:
    # Routing off: the auto model means the strong chain, held first, backup as its fallback.
    return {
        "providers": [{"name": "up", "base_url": upstream.base_url}],
        "routing": {"enabled": False, "strong": ["up/held", "up/backup"], "weak": []},
    }


pytestmark = pytest.mark.usefixtures("clean_upstream")


def open_request(gateway: GatewayProcess, path: str, body: dict[str, Any]) -> socket.socket:
    """A raw HTTP/1.1 request sent on its own socket, whose answer is never read."""
    url = httpx.URL(gateway.base_url)
    assert url.host and url.port
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock = socket.create_connection((url.host, url.port), timeout=10)
    sock.sendall(head.encode() + data)
    return sock


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/chat/completions",
            {"model": "localrouter/auto", "messages": [{"role": "user", "content": "hi"}]},
        ),
        ("/v1/completions", {"model": "localrouter/auto", "prompt": "hi"}),
        (
            "/v1/chat/completions",
            {
                "model": "localrouter/auto",
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
            },
        ),
    ],
    ids=["chat", "completions", "stream-before-first-chunk"],
)
def test_client_disconnect_cancels_the_upstream_request(
    gateway: GatewayProcess, upstream: FakeUpstream, path: str, body: dict[str, Any]
) -> None:
    upstream.fail("held", "hold", delay=20)  # would answer only after the test's deadlines
    logged = len(gateway.log_entries())
    sock = open_request(gateway, path, body)
    try:
        wait_for(lambda: upstream.held == 1, timeout=5)
    finally:
        sock.close()

    # The gateway closed its upstream connection (not waited for the held answer).
    wait_for(lambda: upstream.held_closed == 1, timeout=3)
    wait_for(lambda: len(gateway.log_entries()) > logged, timeout=5)

    # A request sent afterwards on the same gateway and upstream pool works as usual, and
    # its entry, written after the first one, shows the first request was logged once.
    follow_up(gateway)
    entries = gateway.log_entries()[logged:]
    assert [e["requested_model"] for e in entries] == ["localrouter/auto", "up/after"]

    entry = entries[0]
    assert entry["status"] == "error" and entry["status_code"] == 499
    assert entry["error"] == "client disconnected"
    assert entry["endpoint"] == path and entry["stream"] is bool(body.get("stream"))
    assert entry["attempts"] == [
        {"model": "up/held", "status": None, "error": "client disconnected"}
    ]
    assert upstream.requests_for("backup") == []  # no fallback after the client left
    assert upstream.held_closed == 1


def follow_up(gateway: GatewayProcess) -> None:
    """A plain request to ``up/after``, answered and logged."""
    follow = httpx.post(
        gateway.v1_url + "/chat/completions",
        json={"model": "up/after", "messages": [{"role": "user", "content": "x"}]},
        timeout=10,
    )
    assert follow.status_code == 200
    gateway.entry(follow.headers["x-request-id"])


def send_partial(gateway: GatewayProcess, method: str, path: str, declared: int) -> None:
    """Headers announcing ``declared`` body bytes, a few of them, then the socket closed."""
    url = httpx.URL(gateway.base_url)
    assert url.host and url.port
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    )
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(head.encode() + b'{"model": "localrouter/auto", "messages": [')


def assert_quiet_and_serving(gateway: GatewayProcess, output_before: int) -> None:
    """No traceback for the abandoned request, and the next request is answered as usual."""
    follow_up(gateway)
    # The follow-up was answered after the abandoned request ended, so anything that request
    # logged is already in the output.
    output = gateway.output()[output_before:]
    assert "Traceback" not in output and "ClientDisconnect" not in output, output


@pytest.mark.parametrize(
    "path", ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/chat/completions"]
)
def test_client_disconnect_while_the_body_is_read_is_logged_as_499(
    gateway: GatewayProcess, path: str
) -> None:
    logged = len(gateway.log_entries())
    output_before = len(gateway.output())
    send_partial(gateway, "POST", path, declared=100_000)

    wait_for(lambda: len(gateway.log_entries()) > logged, timeout=5)
    entry = gateway.log_entries()[logged]
    assert entry["endpoint"] == path
    assert entry["status"] == "error" and entry["status_code"] == 499
    assert entry["error"] == "client disconnected"
    assert entry["requested_model"] is None and entry["attempts"] == []
    assert_quiet_and_serving(gateway, output_before)
    # One entry for the abandoned request, one for the follow-up.
    assert len(gateway.log_entries()) == logged + 2


def test_client_disconnect_while_an_admin_body_is_read_is_quiet(gateway: GatewayProcess) -> None:
    # The admin API reads its bodies itself too; it writes no access-log entry.
    output_before = len(gateway.output())
    send_partial(gateway, "PUT", "/api/settings/prices", declared=100_000)
    assert_quiet_and_serving(gateway, output_before)
