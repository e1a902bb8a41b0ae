"""Client API keys, allowed models, and the loopback-only rule without keys."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from localrouter.gateway.app import create_app
from localrouter.settings import parse_settings
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess

APP_KEY = "lr-client-key-for-app-one"
ADMIN_KEY = "lr-client-key-for-admin"


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def gateway_settings(upstream: FakeUpstream) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "openai", "base_url": upstream.base_url, "api_key": "sk-up"},
            {"name": "other", "base_url": upstream.base_url},
        ],
        "routing": {"strong": ["openai/big"], "weak": ["other/small"]},
        "clients": [
            {
                "name": "app-one",
                "key_sha256": sha(APP_KEY),
                "allowed_models": ["openai/*", "localrouter/auto"],
            },
            {"name": "admin", "key_sha256": sha(ADMIN_KEY), "role": "admin"},
        ],
    }


def client(gateway: GatewayProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1_url, api_key=key, max_retries=0)


USER = [{"role": "user", "content": "x"}]


def test_missing_or_wrong_key_is_401(gateway: GatewayProcess) -> None:
    answer = httpx.post(
        gateway.v1_url + "/chat/completions", json={"model": "openai/big", "messages": USER}
    )
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "wrong-key").chat.completions.create(model="openai/big", messages=USER)
    assert httpx.get(gateway.v1_url + "/models").status_code == 401
    assert httpx.get(gateway.base_url + "/api/router/status").status_code == 401
    # Operational endpoints stay open to loopback callers.
    assert httpx.get(gateway.base_url + "/health").status_code == 200


def test_allowed_models(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    app = client(gateway, APP_KEY)
    raw = app.chat.completions.with_raw_response.create(model="openai/big", messages=USER)
    assert raw.parse().model == "big"
    entry = gateway.entry(raw.headers["x-request-id"])
    assert entry["client"] == "app-one"
    # The client's own key is never sent upstream.
    assert upstream.requests_for("big")[-1].headers["authorization"] == "Bearer sk-up"
    for model in ("localrouter/auto", "auto"):  # the alias is the same virtual model
        app.chat.completions.create(model=model, messages=USER)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        app.chat.completions.create(model="other/small", messages=USER)
    assert caught.value.code == "model_not_allowed"
    with pytest.raises(openai.PermissionDeniedError):
        app.chat.completions.create(model="router-bert-0.2", messages=USER)
    client(gateway, ADMIN_KEY).chat.completions.create(model="other/small", messages=USER)


def test_keys_never_logged(gateway: GatewayProcess) -> None:
    client(gateway, APP_KEY).chat.completions.create(model="openai/big", messages=USER)
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "wrong-key-xyz").chat.completions.create(model="openai/big", messages=USER)
    gateway.wait_for_log(1)
    logs = "".join(p.read_text() for p in (gateway.home / "logs").glob("*.jsonl"))
    for secret in (APP_KEY, ADMIN_KEY, "wrong-key-xyz", "sk-up"):
        assert secret not in logs
        assert secret not in gateway.output()


def test_client_keys_reach_only_the_model_apis(gateway: GatewayProcess) -> None:
    for key, status in ((APP_KEY, 403), (ADMIN_KEY, 200)):
        auth = {"authorization": f"Bearer {key}"}
        patched = httpx.patch(
            gateway.base_url + "/api/settings/routing", json={"threshold": 0.3}, headers=auth
        )
        assert patched.status_code == status
        for path in ("/api/settings", "/api/requests", "/metrics", "/docs", "/openapi.json"):
            answer = httpx.get(gateway.base_url + path, headers=auth)
            assert answer.status_code == status, (key, path)
            if status == 403:
                assert answer.json()["error"]["code"] == "admin_key_required"
    for path in ("/metrics", "/docs", "/openapi.json", "/api/settings"):
        assert httpx.get(gateway.base_url + path).status_code == 401, path
    # The dashboard's files are open; its data needs the admin key (asked for on the page).
    assert httpx.get(gateway.base_url + "/").status_code == 200


def test_a_client_key_cannot_change_settings(gateway: GatewayProcess) -> None:
    path = gateway.home / "settings.yaml"
    before = path.read_text()
    answer = httpx.patch(
        gateway.base_url + "/api/settings/routing",
        json={"threshold": 0.9},
        headers={"authorization": f"Bearer {APP_KEY}"},
    )
    assert answer.status_code == 403
    assert path.read_text() == before
    status = httpx.get(
        gateway.base_url + "/api/settings", headers={"authorization": f"Bearer {ADMIN_KEY}"}
    )
    assert status.json()["routing"]["threshold"] == 0.3


def test_models_lists_only_the_clients_allowed_models(gateway: GatewayProcess) -> None:
    app_models = {m.id for m in client(gateway, APP_KEY).models.list()}
    admin_models = {m.id for m in client(gateway, ADMIN_KEY).models.list()}
    assert {"openai/big", "localrouter/auto", "auto"} <= app_models
    assert "other/small" not in app_models
    assert "other/small" in admin_models and app_models < admin_models
    assert not any(m.startswith("router-bert") for m in app_models)
    with pytest.raises(openai.NotFoundError):
        client(gateway, APP_KEY).models.retrieve("other/small")
    assert client(gateway, ADMIN_KEY).models.retrieve("other/small").id == "other/small"


def test_anthropic_clients_send_their_key_as_x_api_key(gateway: GatewayProcess) -> None:
    url = gateway.v1_url + "/chat/completions"
    body = {"model": "openai/big", "messages": USER}
    assert httpx.post(url, json=body, headers={"x-api-key": APP_KEY}).status_code == 200
    assert httpx.post(url, json=body, headers={"x-api-key": "wrong"}).status_code == 401
    assert (
        httpx.get(gateway.base_url + "/api/settings", headers={"x-api-key": APP_KEY}).status_code
        == 403
    )
    assert (
        httpx.get(gateway.base_url + "/api/settings", headers={"x-api-key": ADMIN_KEY}).status_code
        == 200
    )


def _asgi_get(app: Any, path: str, peer: str) -> httpx.Response:
    # TestClient runs the lifespan; the gateway serves only its own Host names.
    with TestClient(app, base_url="http://127.0.0.1:3625", client=(peer, 40000)) as http:
        return http.get(path)


def test_without_keys_only_loopback_is_served(tmp_path: Path) -> None:
    settings = parse_settings({})
    app = create_app(settings, home=tmp_path, config_path=tmp_path / "settings.yaml")
    assert _asgi_get(app, "/health", "127.0.0.1").status_code == 200
    assert _asgi_get(app, "/health", "::1").status_code == 200
    for path in ("/health", "/v1/models", "/api/router/status"):
        answer = _asgi_get(app, path, "192.0.2.7")
        assert answer.status_code == 403
        assert answer.json()["error"]["type"] == "permission_error"
    remote_ok = create_app(
        settings, home=tmp_path, config_path=tmp_path / "settings.yaml", allow_remote=True
    )
    assert _asgi_get(remote_ok, "/v1/models", "192.0.2.7").status_code == 200
    allowed = parse_settings({"server": {"allow_remote_without_keys": True}})
    app_allowed = create_app(allowed, home=tmp_path, config_path=tmp_path / "settings.yaml")
    assert _asgi_get(app_allowed, "/v1/models", "192.0.2.7").status_code == 200


def test_with_keys_remote_callers_need_a_key(tmp_path: Path) -> None:
    settings = parse_settings({"clients": [{"name": "c", "key_sha256": sha(APP_KEY)}]})
    app = create_app(settings, home=tmp_path, config_path=tmp_path / "settings.yaml")
    assert _asgi_get(app, "/v1/models", "192.0.2.7").status_code == 401
