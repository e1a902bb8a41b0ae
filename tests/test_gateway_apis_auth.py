"""Client keys on the Anthropic paths: ``x-api-key`` (how the Anthropic SDKs send it) or
Bearer, and every refusal in Anthropic's error shape so the SDK raises its own classes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
from fastapi.testclient import TestClient

from localrouter.gateway.app import create_app
from localrouter.settings import parse_settings

KEY = "lr-client-key-for-claude-code"
USER = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = parse_settings(
        {
            "clients": [
                {
                    "name": "claude-code",
                    "key_sha256": hashlib.sha256(KEY.encode()).hexdigest(),
                    "allowed_models": ["openai/*"],
                }
            ]
        }
    )
    app = create_app(settings, home=tmp_path, config_path=tmp_path / "settings.yaml")
    with TestClient(app) as client:
        yield client


def sdk(client: TestClient, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=str(client.base_url), api_key=key, http_client=client, max_retries=0
    )


def test_x_api_key_is_accepted_and_refusals_are_anthropic_shaped(app_client: TestClient) -> None:
    counted = sdk(app_client, KEY).messages.count_tokens(model="openai/gpt-4o", messages=USER)
    assert counted.input_tokens > 0
    with pytest.raises(anthropic.AuthenticationError) as wrong:
        sdk(app_client, "not-the-key").messages.count_tokens(model="openai/gpt-4o", messages=USER)
    assert wrong.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid API key"},
    }
    with pytest.raises(anthropic.PermissionDeniedError):
        sdk(app_client, KEY).messages.create(model="localrouter/auto", max_tokens=5, messages=USER)
    bearer = app_client.post(
        "/messages/count_tokens",
        json={"model": "openai/gpt-4o", "messages": USER},
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert bearer.status_code == 200
    missing = app_client.post("/v1/messages", json={})
    assert missing.status_code == 401 and missing.json()["type"] == "error"
    # The OpenAI paths keep OpenAI's shape.
    openai_shaped = app_client.post("/v1/responses", json={}, headers={"x-api-key": "nope"})
    assert openai_shaped.status_code == 401 and "type" not in openai_shaped.json()
