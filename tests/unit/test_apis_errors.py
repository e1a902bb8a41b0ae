"""Errors in Anthropic's shape for Anthropic clients, and Anthropic upstream errors in
OpenAI's shape for the others."""

from __future__ import annotations

import pytest
from anthropic.types import ErrorResponse

from localrouter.gateway.apis.errors import anthropic_from_openai, openai_from_anthropic


@pytest.mark.parametrize(
    ("status", "anthropic_status", "kind"),
    [
        (400, 400, "invalid_request_error"),
        (401, 401, "authentication_error"),
        (403, 403, "permission_error"),
        (404, 404, "not_found_error"),
        (413, 413, "request_too_large"),
        (422, 400, "invalid_request_error"),
        (429, 429, "rate_limit_error"),
        (500, 500, "api_error"),
        (502, 502, "api_error"),
        (503, 529, "overloaded_error"),
        (504, 504, "timeout_error"),
        (409, 409, "invalid_request_error"),
    ],
)
def test_openai_shaped_errors_become_anthropic_errors(
    status: int, anthropic_status: int, kind: str
) -> None:
    body = {
        "error": {"message": "No such model 'x'.", "type": "whatever", "code": "model_not_found"}
    }
    out_status, out = anthropic_from_openai(status, body)
    assert out_status == anthropic_status
    assert out == {"type": "error", "error": {"type": kind, "message": "No such model 'x'."}}
    if kind == "request_too_large":
        return  # Anthropic's documented 413 type, which the SDK's union does not list
    parsed = ErrorResponse.model_validate(out, strict=True)
    assert (parsed.type, parsed.error.type, parsed.error.message) == (
        "error",
        kind,
        "No such model 'x'.",
    )


def test_an_error_without_a_message_still_says_something() -> None:
    _, out = anthropic_from_openai(500, b"not json")
    assert out["error"]["message"] == "the request failed with status 500"


@pytest.mark.parametrize(
    ("status", "kind", "message", "openai_status", "code"),
    [
        (429, "rate_limit_error", "slow down", 429, "rate_limit_error"),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000 maximum",
            400,
            "context_length_exceeded",
        ),
        (400, "invalid_request_error", "max_tokens: too big", 400, "invalid_request_error"),
        (529, "overloaded_error", "Overloaded", 503, "overloaded_error"),
        (401, "authentication_error", "invalid x-api-key", 401, "authentication_error"),
    ],
)
def test_anthropic_upstream_errors_keep_their_meaning(
    status: int, kind: str, message: str, openai_status: int, code: str
) -> None:
    out_status, out = openai_from_anthropic(
        status, {"type": "error", "error": {"type": kind, "message": message}}
    )
    assert out_status == openai_status
    assert out["error"]["message"] == message and out["error"]["code"] == code
