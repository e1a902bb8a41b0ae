"""What every admin endpoint shares: OpenAI-shaped errors, body parsing, settings updates."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, ValidationError

from localrouter.gateway.errors import ApiError
from localrouter.gateway.request_body import parse_json_body
from localrouter.gateway.state import GatewayState, SettingsChange, gateway_state
from localrouter.settings import SettingsError


class AdminRoute(APIRoute):
    """Turns ApiError and FastAPI's own validation errors into OpenAI-shaped answers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return exc.response()
            except RequestValidationError as exc:
                return ApiError(400, describe(exc.errors()), "invalid_parameter").response()

        return guarded


def describe(errors: Any) -> str:
    parts = []
    for item in errors:
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query"))
        parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    return "; ".join(parts) or "invalid request"


def state_of(request: Request) -> GatewayState:
    return gateway_state(request.scope)


async def read_body(request: Request, model: type[BaseModel]) -> Any:
    raw = await request.body()
    try:
        return model.model_validate(parse_json_body(raw) if raw.strip() else {})
    except ValidationError as exc:
        raise ApiError(400, describe(exc.errors()), "invalid_body") from None


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def without_userinfo(url: str) -> str:
    """``https://user:secret@host/v1`` -> ``https://host/v1``: credentials never reach the UI."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def update_settings(state: GatewayState, change: SettingsChange) -> None:
    try:
        state.settings.update(change)
    except SettingsError as exc:
        raise ApiError(400, str(exc), "invalid_settings") from None
    except OSError as exc:
        message = f"cannot save settings: {exc}"
        raise ApiError(500, message, "save_failed", type="server_error") from None
