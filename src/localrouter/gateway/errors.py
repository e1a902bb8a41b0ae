"""OpenAI-shaped errors: ``{"error": {"message", "type", "code", ...}}`` with a fitting status.

Handlers raise :class:`ApiError`; the app turns it (and Starlette's own 404/405 and FastAPI's
validation errors) into the same shape so clients written for OpenAI can read every failure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

# OpenAI's error "type" per status, so SDKs raise their matching exception classes.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error answered to the client in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        *,
        type: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type or _TYPES.get(status, "api_error")
        self.param = param
        self.headers = headers
        self.extra = extra

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "code": self.code,
            "param": self.param,
        }
        error.update(self.extra)
        return {"error": error}

    def response(self) -> Response:
        return Response(
            json.dumps(self.body()).encode(),
            status_code=self.status,
            media_type="application/json",
            headers=self.headers,
        )


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}"
        code = "not_found"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
        code = "method_not_allowed"
    else:
        message = str(exc.detail)
        code = None
    return ApiError(exc.status_code, message, code, headers=exc.headers).response()


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for item in exc.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    return ApiError(400, "; ".join(parts) or "invalid request", "invalid_request").response()


async def _client_gone(_: Request, exc: Exception) -> Response:
    # The client left while its body was read (e.g. by an admin endpoint): not a gateway
    # fault, so no traceback; the answer goes nowhere (the server drops it). The generation
    # endpoints catch this themselves to log their 499 entry.
    assert isinstance(exc, ClientDisconnect)
    return Response(status_code=499)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
