"""Browser-facing security of a real gateway process (issue 11): Host names (DNS rebinding),
Origin / Sec-Fetch-Site, JSON-only bodies, CORS for configured origins, body limits, deeply
nested JSON, and secrets scrubbed from answers and logs."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess

TRUSTED = "http://localhost:5173"
HEADER_SECRET = "Bearer hdr-secret-0123456789"
ENV_SECRET = "sk-env-secret-abcdefghij"
CHAT = {"model": "openai/big", "messages": [{"role": "user", "content": "hi"}]}
MAX_BODY = 4096


@pytest.fixture(scope="module")
def gateway_settings(upstream: FakeUpstream) -> dict[str, Any]:
    return {
        "server": {
            "allowed_hosts": ["router.lan", "box.lan:8080"],
            "cors_origins": [TRUSTED],
            "max_body_bytes": MAX_BODY,
            "body_timeout_secs": 1,
        },
        "providers": [
            {"name": "openai", "base_url": upstream.base_url, "api_key": "sk-config-key-1234"},
            {
                "name": "hdr",
                "base_url": upstream.base_url,
                "headers": {"authorization": HEADER_SECRET},
            },
            {"name": "env", "base_url": upstream.base_url, "api_key_env": "LR_TEST_SECURITY_KEY"},
        ],
        "routing": {"strong": ["openai/big"], "weak": ["openai/small"]},
    }


@pytest.fixture(scope="module")
def gateway_env() -> dict[str, str]:
    return {"LR_TEST_SECURITY_KEY": ENV_SECRET}


def port_of(gateway: GatewayProcess) -> int:
    port = urlsplit(gateway.base_url).port
    assert port is not None
    return port


def get(gateway: GatewayProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(gateway.base_url + path, headers=headers, timeout=10)


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:{port}", 200),
        ("localhost:{port}", 200),
        ("LOCALHOST:{port}", 200),
        ("[::1]:{port}", 200),
        ("router.lan:{port}", 200),
        ("router.lan:9999", 200),  # allowed without a port: any port (a reverse proxy)
        ("box.lan:8080", 200),
        ("box.lan:{port}", 403),  # allowed with a port: that port only
        ("evil.example:{port}", 403),  # DNS rebinding
        ("localhost:1", 403),
        ("127.0.0.1", 403),
        ("127.0.0.1.evil.example:{port}", 403),
    ],
)
def test_only_the_gateways_own_host_names_are_served(
    gateway: GatewayProcess, host: str, status: int
) -> None:
    value = host.format(port=port_of(gateway))
    for path in ("/api/settings", "/v1/models", "/health"):
        answer = get(gateway, path, host=value)
        assert answer.status_code == status, (path, value)
        if status == 403:
            error = answer.json()["error"]
            assert error["code"] == "host_not_allowed"
            assert error["type"] == "permission_error"


def test_a_post_under_a_foreign_host_changes_nothing(gateway: GatewayProcess) -> None:
    before = (gateway.home / "settings.yaml").read_text()
    answer = httpx.patch(
        gateway.base_url + "/api/settings/routing",
        json={"threshold": 0.9},
        headers={"host": f"evil.example:{port_of(gateway)}"},
    )
    assert answer.status_code == 403
    assert (gateway.home / "settings.yaml").read_text() == before


@pytest.mark.parametrize(
    ("headers", "path", "status"),
    [
        ({"origin": "{own}"}, "/api/settings", 200),
        ({"origin": "http://localhost:{port}"}, "/api/settings", 200),
        ({"origin": "http://evil.example"}, "/api/settings", 403),
        ({"origin": "http://evil.example"}, "/v1/models", 403),
        ({"origin": "null"}, "/api/settings", 403),
        ({"origin": "http://127.0.0.1:1"}, "/api/settings", 403),  # another port, origin
        ({"origin": TRUSTED}, "/v1/models", 200),
        ({"origin": TRUSTED}, "/api/settings", 403),  # CORS origins reach /v1 only
        ({"origin": TRUSTED}, "/models", 403),
        ({"sec-fetch-site": "cross-site"}, "/api/settings", 403),
        ({"sec-fetch-site": "cross-site"}, "/v1/models", 403),
        ({"sec-fetch-site": "same-origin"}, "/api/settings", 200),
        ({"sec-fetch-site": "none"}, "/api/settings", 200),
        # A link clicked on another site opens the dashboard (a navigation changes nothing).
        ({"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}, "/", 200),
        ({"sec-fetch-site": "cross-site", "sec-fetch-mode": "cors"}, "/", 403),
    ],
)
def test_foreign_origins_are_refused(
    gateway: GatewayProcess, headers: dict[str, str], path: str, status: int
) -> None:
    values = {k: v.format(own=gateway.base_url, port=port_of(gateway)) for k, v in headers.items()}
    answer = get(gateway, path, **values)
    assert answer.status_code == status
    if status == 403:
        assert answer.json()["error"]["code"] == "origin_not_allowed"


def test_cors_for_a_configured_origin(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    url = gateway.v1_url + "/chat/completions"
    preflight = httpx.options(
        url,
        headers={
            "origin": TRUSTED,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type, x-stainless-os, x-evil",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == TRUSTED
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed = preflight.headers["access-control-allow-headers"].split(", ")
    assert allowed == ["authorization", "content-type", "x-stainless-os"]
    answer = httpx.post(url, json=CHAT, headers={"origin": TRUSTED})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == TRUSTED
    assert "x-localrouter-model" in answer.headers["access-control-expose-headers"]
    # Other origins get no preflight, and own-origin answers carry no CORS headers.
    refused = httpx.options(
        url, headers={"origin": "http://evil.example", "access-control-request-method": "POST"}
    )
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    own = httpx.post(url, json=CHAT, headers={"origin": gateway.base_url})
    assert own.status_code == 200 and "access-control-allow-origin" not in own.headers


@pytest.mark.usefixtures("clean_upstream")
@pytest.mark.parametrize(
    ("method", "path", "content_type", "status"),
    [
        ("POST", "/v1/chat/completions", "text/plain", 415),
        ("POST", "/chat/completions", "text/plain;charset=UTF-8", 415),
        ("POST", "/v1/chat/completions", "application/x-www-form-urlencoded", 415),
        ("POST", "/v1/chat/completions", "multipart/form-data; boundary=x", 415),
        ("POST", "/v1/chat/completions", "application/json; charset=utf-8", 200),
        ("POST", "/v1/chat/completions", "Application/JSON", 200),
        ("POST", "/api/router/download", "text/plain", 415),
        ("PATCH", "/api/settings/routing", "text/plain", 415),
        ("PUT", "/api/settings/prices", "text/plain", 415),
    ],
)
def test_json_endpoints_accept_only_json(
    gateway: GatewayProcess,
    upstream: FakeUpstream,
    method: str,
    path: str,
    content_type: str,
    status: int,
) -> None:
    body = json.dumps(CHAT if "chat" in path else {"threshold": 0.9}).encode()
    before = (gateway.home / "settings.yaml").read_text()
    answer = httpx.request(
        method, gateway.base_url + path, content=body, headers={"content-type": content_type}
    )
    assert answer.status_code == status
    if status == 415:
        assert answer.json()["error"]["code"] == "unsupported_media_type"
        assert upstream.requests == []
        assert (gateway.home / "settings.yaml").read_text() == before


def test_a_request_without_a_body_needs_no_content_type(gateway: GatewayProcess) -> None:
    # The CLI's `routellm unload` posts no body; the Origin rules still cover browsers.
    answer = httpx.post(gateway.base_url + "/api/router/unload")
    assert answer.status_code != 415


def nested(depth: int) -> bytes:
    return b'{"model": "openai/big", "messages": ' + b"[" * depth + b"]" * depth + b"}"


def test_deeply_nested_json_is_a_400_with_a_log_entry(gateway: GatewayProcess) -> None:
    # 200 levels: past the gateway's limit; 2000: past Python's recursion limit (was a 500).
    for depth in (200, 2000):
        answer = httpx.post(
            gateway.v1_url + "/chat/completions",
            content=nested(depth),
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "invalid_json"
        entry = gateway.entry(answer.headers["x-request-id"])
        assert entry["status_code"] == 400 and "nested" in entry["error"]
    assert "Traceback" not in gateway.output()


def test_deeply_nested_json_on_the_admin_api(gateway: GatewayProcess) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    for method, path, body in (
        ("PUT", "/api/settings/prices", b'{"openai/big": ' + deep + b"}"),
        ("PATCH", "/api/settings/routing", b'{"strong": ' + deep + b"}"),
    ):
        answer = httpx.request(
            method,
            gateway.base_url + path,
            content=body,
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 400, path
        assert answer.json()["error"]["code"] == "invalid_json"
    assert "Traceback" not in gateway.output()


def test_the_body_size_limit_applies_to_the_admin_api(gateway: GatewayProcess) -> None:
    big = {"openai/big": {"input": 1, "output": 2}, "pad": "x" * MAX_BODY}
    answer = httpx.put(gateway.base_url + "/api/settings/prices", json=big)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "request_too_large"

    def chunks() -> Any:
        yield b'{"pad": "'
        for _ in range(8):
            yield b"x" * 1024  # no Content-Length: stopped while reading

    chunked = httpx.put(
        gateway.base_url + "/api/settings/prices",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert chunked.status_code == 413


def send_slowly(gateway: GatewayProcess, method: str, path: str) -> bytes:
    """Headers and half the declared body, then nothing: the answer the gateway sends."""
    url = urlsplit(gateway.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"model": ')
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer


def test_a_body_that_does_not_arrive_in_time_is_a_408(gateway: GatewayProcess) -> None:
    for path in ("/v1/chat/completions", "/api/settings/routing"):
        answer = send_slowly(gateway, "POST" if "chat" in path else "PATCH", path)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    entries = [e for e in gateway.log_entries() if e["status_code"] == 408]
    assert entries and "body_timeout_secs" in entries[-1]["error"]


@pytest.mark.usefixtures("clean_upstream")
def test_header_values_and_keys_are_scrubbed(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    # The upstream echoes the Authorization it received: a header value from the config, a
    # key from the environment, a key from the file.
    upstream.fail("echo", "400", message="bad request with {auth}")
    upstream.fail("echo-500", "500", message="failed with {auth}")
    answers = [
        httpx.post(gateway.v1_url + "/chat/completions", json={**CHAT, "model": model})
        for model in ("hdr/echo", "env/echo", "openai/echo", "hdr/echo-500")
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 502]
    assert upstream.requests_for("echo")[0].headers["authorization"] == HEADER_SECRET
    shown = "".join(
        answer.text + json.dumps(gateway.entry(answer.headers["x-request-id"]))
        for answer in answers
    )
    shown += gateway.output() + get(gateway, "/api/settings").text
    shown += get(gateway, "/api/requests").text
    for secret in (HEADER_SECRET, "hdr-secret-0123456789", ENV_SECRET, "sk-config-key-1234"):
        assert secret not in shown
    assert all("***" in answer.text for answer in answers)


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("/api/settings/routing", {"enabled": "yes"}),
        ("/api/settings/routing", {"enabled": 1}),
        ("/api/settings/routing", {"cross_tier_fallback": "true"}),
        ("/api/settings/routellm", {"idle_timeout_secs": 1e20}),
    ],
)
def test_settings_changes_are_as_strict_as_the_file(
    gateway: GatewayProcess, path: str, change: dict[str, Any]
) -> None:
    before = (gateway.home / "settings.yaml").read_text()
    answer = httpx.patch(gateway.base_url + path, json=change)
    assert answer.status_code == 400
    assert next(iter(change)) in answer.json()["error"]["message"]
    assert (gateway.home / "settings.yaml").read_text() == before
