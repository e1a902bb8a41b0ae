"""Errors on the Anthropic paths in Anthropic's shape, whoever produced them (the auth
middleware, the pipeline, an OpenAI-shaped upstream), so the SDK raises its own classes;
client keys there as ``x-api-key`` (how the Anthropic SDKs send them) or Bearer."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from localrouter.gateway.anthropic_errors import AnthropicErrors
from localrouter.gateway.app import create_app
from localrouter.gateway.errors import ApiError
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
            ],
            "server": {"max_body_bytes": 2048},
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


def test_body_over_the_limit_is_request_too_large(app_client: TestClient) -> None:
    with pytest.raises(anthropic.RequestTooLargeError) as caught:
        sdk(app_client, KEY).messages.create(
            model="openai/gpt-4o",
            max_tokens=5,
            messages=[{"role": "user", "content": "x" * 4096}],
        )
    assert caught.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]


async def _openai_shaped(request: Request) -> Response:
    status = int(request.query_params["status"])
    headers = {"retry-after": "7"} if status == 429 else None
    return ApiError(status, f"status {status} from upstream", headers=headers).response()


async def _anthropic_shaped(request: Request) -> Response:
    error = {"type": "overloaded_error", "message": "busy"}
    return JSONResponse({"type": "error", "error": error}, 529)


@pytest.mark.parametrize(
    ("status", "error_class", "kind"),
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (503, anthropic.OverloadedError, "overloaded_error"),
        (502, anthropic.InternalServerError, "api_error"),
        (422, anthropic.BadRequestError, "invalid_request_error"),
    ],
)
def test_openai_shaped_errors_are_reshaped(
    status: int, error_class: type[anthropic.APIStatusError], kind: str
) -> None:
    routes = [Route("/v1/messages", _openai_shaped, methods=["POST"])]
    app = AnthropicErrors(Starlette(routes=routes))
    with TestClient(app) as client:
        answer = client.post(f"/v1/messages?status={status}", json={})
        with pytest.raises(error_class) as caught:
            anthropic.Anthropic(
                base_url=str(client.base_url), api_key="k", http_client=client, max_retries=0
            ).messages.create(
                model="m",
                max_tokens=1,
                messages=USER,  # type: ignore[arg-type]
                extra_query={"status": str(status)},
            )
    assert answer.json()["error"]["type"] == kind
    assert caught.value.body["error"]["type"] == kind  # type: ignore[index]
    assert answer.headers["content-length"] == str(len(answer.content))
    if status == 429:
        assert answer.headers["retry-after"] == "7"


def test_anthropic_shaped_errors_pass_untouched() -> None:
    app = AnthropicErrors(
        Starlette(routes=[Route("/messages", _anthropic_shaped, methods=["POST"])])
    )
    with TestClient(app) as client:
        answer = client.post("/messages", json={})
    assert answer.status_code == 529
    assert answer.json()["error"] == {"type": "overloaded_error", "message": "busy"}
