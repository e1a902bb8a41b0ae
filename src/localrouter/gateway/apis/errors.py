"""Errors in each API's shape.

The gateway's errors are OpenAI-shaped (``gateway/errors.py``); Responses clients read them
as they are. Anthropic clients get ``{"type": "error", "error": {"type", "message"}}`` with
Anthropic's status codes, so their SDKs raise the matching exception classes. Errors from
Anthropic upstreams go the other way for OpenAI-shaped clients, keeping their meaning (a
429 stays a 429, "prompt is too long" becomes ``context_length_exceeded``).
"""

from __future__ import annotations

from typing import Any

from localrouter.gateway.apis.common import Json

# Anthropic's error types and the statuses it sends them with.
ANTHROPIC_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
# Statuses the gateway uses that Anthropic spells differently.
_TO_ANTHROPIC_STATUS = {422: 400, 503: 529}
_FROM_ANTHROPIC_STATUS = {529: 503}


class StreamFailed(Exception):
    """An upstream stream reported an error after it started (an ``error`` event)."""

    def __init__(self, message: str, type: str = "api_error", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.type = type
        self.code = code


def anthropic_error(status: int, message: str, type: str | None = None) -> tuple[int, Json]:
    """``(status, body)`` of an Anthropic-shaped error."""
    status = _TO_ANTHROPIC_STATUS.get(status, status)
    kind = type or ANTHROPIC_TYPES.get(status)
    if kind is None:
        kind = "api_error" if status >= 500 else "invalid_request_error"
    return status, {"type": "error", "error": {"type": kind, "message": message}}


def anthropic_from_openai(status: int, body: Any) -> tuple[int, Json]:
    """An OpenAI-shaped error (``{"error": {"message", "type", "code"}}``) for an Anthropic
    client."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message:
        message = f"the request failed with status {status}"
    return anthropic_error(status, message)


def openai_from_anthropic(status: int, body: Any) -> tuple[int, Json]:
    """An Anthropic upstream's error for an OpenAI-shaped client."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = f"the upstream failed with status {status}"
    kind = str(error.get("type") or "api_error")
    code: str | None = kind
    status = _FROM_ANTHROPIC_STATUS.get(status, status)
    if status == 400 and "prompt is too long" in message.lower():
        code = "context_length_exceeded"
    out_type = {
        "overloaded_error": "service_unavailable",
        "rate_limit_error": "rate_limit_error",
        "authentication_error": "authentication_error",
        "permission_error": "permission_error",
        "not_found_error": "not_found_error",
    }.get(kind, "invalid_request_error" if status < 500 else "api_error")
    return status, {"error": {"message": message, "type": out_type, "code": code, "param": None}}
