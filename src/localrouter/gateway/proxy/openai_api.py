"""The model API endpoints, with and without the ``/v1`` prefix: OpenAI's (chat,
completions, embeddings, models, Responses) and Anthropic's (Messages, count_tokens); plus
``/health`` and ``/metrics``. Generation requests are handled by
:mod:`localrouter.gateway.proxy.pipeline`, with the client API's adapter from
:mod:`localrouter.gateway.proxy.client_apis`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response
from starlette.routing import request_response

from localrouter import __version__
from localrouter.gateway.apis.count_tokens import count_tokens as estimate_tokens
from localrouter.gateway.auth import may_use, request_client
from localrouter.gateway.errors import ApiError
from localrouter.gateway.metrics import CONTENT_TYPE
from localrouter.gateway.proxy.client_apis import ClientApi, MessagesApi, ResponsesApi
from localrouter.gateway.proxy.pipeline import GenerationRequest, read_json
from localrouter.gateway.proxy.routing import (
    AUTO_MODELS,
    ROUTER_MODELS,
    available_models,
    model_not_found,
    parse_router_model,
)
from localrouter.gateway.state import gateway_state
from localrouter.routers.base import UnknownRouter

_JSON = "application/json"


def _body_schema(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                _JSON: {
                    "schema": {
                        "type": "object",
                        "required": required,
                        "properties": properties,
                        "additionalProperties": True,
                    }
                }
            },
        }
    }


_MODEL_PROP = {
    "type": "string",
    "description": f"localrouter/auto, auto, {ROUTER_MODELS} (e.g. router-bert-0.25), "
    "or provider/model",
}
_CHAT_SCHEMA = _body_schema(
    ["model", "messages"],
    {
        "model": _MODEL_PROP,
        "messages": {"type": "array", "items": {"type": "object"}},
        "stream": {"type": "boolean"},
    },
)
_COMPLETIONS_SCHEMA = _body_schema(
    ["model", "prompt"],
    {
        "model": _MODEL_PROP,
        "prompt": {"oneOf": [{"type": "string"}, {"type": "array"}]},
        "stream": {"type": "boolean"},
    },
)
_EMBEDDINGS_SCHEMA = _body_schema(
    ["model", "input"],
    {
        "model": {"type": "string", "description": "provider/model"},
        "input": {"oneOf": [{"type": "string"}, {"type": "array"}]},
    },
)


_RESPONSES_SCHEMA = _body_schema(
    ["model"],
    {
        "model": _MODEL_PROP,
        "input": {"oneOf": [{"type": "string"}, {"type": "array"}]},
        "instructions": {"type": "string"},
        "previous_response_id": {"type": "string"},
        "store": {"type": "boolean"},
        "stream": {"type": "boolean"},
    },
)
_MESSAGES_SCHEMA = _body_schema(
    ["model", "messages", "max_tokens"],
    {
        "model": _MODEL_PROP,
        "messages": {"type": "array", "items": {"type": "object"}},
        "max_tokens": {"type": "integer"},
        "system": {"oneOf": [{"type": "string"}, {"type": "array"}]},
        "stream": {"type": "boolean"},
    },
)
_COUNT_TOKENS_SCHEMA = _body_schema(
    ["model", "messages"],
    {"model": _MODEL_PROP, "messages": {"type": "array", "items": {"type": "object"}}},
)


async def chat_completions(request: Request) -> Response:
    """Chat completion (streaming with `stream: true`), routed or direct."""
    return await GenerationRequest(request, ClientApi("chat")).handle()


async def completions(request: Request) -> Response:
    """Legacy text completion, routed on the prompt or direct."""
    return await GenerationRequest(request, ClientApi("completions")).handle()


async def embeddings(request: Request) -> Response:
    """Embeddings, passed to the named provider/model."""
    return await GenerationRequest(request, ClientApi("embeddings")).handle()


async def responses(request: Request) -> Response:
    """OpenAI Responses API (streaming with `stream: true`), routed or direct; stored unless
    `store: false`, continued with `previous_response_id`."""
    return await GenerationRequest(request, ResponsesApi()).handle()


async def messages(request: Request) -> Response:
    """Anthropic Messages API (streaming with `stream: true`), routed or direct; errors in
    Anthropic's shape."""
    return await GenerationRequest(request, MessagesApi()).handle()


async def count_tokens(request: Request) -> Response:
    """Anthropic's token count: an estimate of the request's input tokens (no upstream)."""
    body = await read_json(request)
    return JSONResponse(estimate_tokens(body))


def _response_not_found(response_id: str) -> ApiError:
    return ApiError(
        404, f"Response with id '{response_id}' not found.", "not_found", param="response_id"
    )


async def get_response(request: Request, response_id: str) -> Response:
    """A stored response (`store` was not false), while the retention keeps it."""
    stored = await gateway_state(request.scope).responses().aget(response_id)
    if stored is None:
        raise _response_not_found(response_id)
    return JSONResponse(stored.response)


async def delete_response(request: Request, response_id: str) -> Response:
    """Delete a stored response."""
    if not await gateway_state(request.scope).responses().adelete(response_id):
        raise _response_not_found(response_id)
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})


def _model_object(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}


async def list_models(request: Request) -> Response:
    """The virtual routing models and every configured provider/model (the caller's
    allowed ones)."""
    settings = gateway_state(request.scope).settings.current
    client = request_client(request.scope)
    data = [
        _model_object(m, "localrouter" if m in AUTO_MODELS else m.split("/", 1)[0])
        for m in available_models(settings)
        if may_use(client, m)
    ]
    return JSONResponse({"object": "list", "data": data})


async def get_model(request: Request, model_id: str) -> Response:
    """One model by id (ids contain '/'); ``router-<name>-<t>`` when that router exists; an
    alias of ``routing.aliases``."""
    state = gateway_state(request.scope)
    settings = state.settings.current
    if not may_use(request_client(request.scope), model_id):
        raise model_not_found(model_id, settings)
    if model_id in AUTO_MODELS or model_id in settings.routing.aliases:
        return JSONResponse(_model_object(model_id, "localrouter"))
    parsed = parse_router_model(model_id)
    if parsed is not None:
        try:
            await run_in_threadpool(state.routers.get, parsed[0])  # a trained one: from disk
        except UnknownRouter as exc:
            raise model_not_found(model_id, settings, why=str(exc)) from None
        except Exception:  # exists but cannot predict right now: it is still a model name
            pass
        return JSONResponse(_model_object(model_id, "localrouter"))
    if model_id in available_models(settings):
        return JSONResponse(_model_object(model_id, model_id.split("/", 1)[0]))
    raise model_not_found(model_id, settings)


async def health(request: Request) -> Response:
    """Liveness: answers (200) as soon as the server is up; ``degraded`` with the reasons
    while something needs attention (the access log cannot be written)."""
    state = getattr(request.app.state, "gateway", None)
    reasons = state.health_problems() if state is not None else []
    if reasons:
        return JSONResponse({"status": "degraded", "reasons": reasons, "version": __version__})
    return JSONResponse({"status": "ok", "version": __version__})


async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    return Response(gateway_state(request.scope).metrics.render(), media_type=CONTENT_TYPE)


# The generation endpoints (path, handler, OpenAPI request body), served under /v1 and at /.
_GENERATION: list[tuple[str, Callable[[Request], Awaitable[Response]], dict[str, Any], str]] = [
    ("/chat/completions", chat_completions, _CHAT_SCHEMA, "openai"),
    ("/completions", completions, _COMPLETIONS_SCHEMA, "openai"),
    ("/embeddings", embeddings, _EMBEDDINGS_SCHEMA, "openai"),
    ("/responses", responses, _RESPONSES_SCHEMA, "openai"),
    ("/messages", messages, _MESSAGES_SCHEMA, "anthropic"),
    ("/messages/count_tokens", count_tokens, _COUNT_TOKENS_SCHEMA, "anthropic"),
]
_PREFIXES = ("/v1", "")


class _PlainRoute(APIRoute):
    """A route described in the OpenAPI document like any APIRoute but served as a plain
    Starlette route: the handler gets the Request as is. FastAPI's per-request dependency
    machinery measured about a tenth of a proxied request's CPU, and these handlers take
    nothing else."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.app = request_response(endpoint)


def add_routes(app: FastAPI) -> None:
    """Every endpoint of this module, on the app itself (not an included router: the app's
    own routes are matched first and without the included routers' extra matching)."""
    for prefix in _PREFIXES:
        endpoints: list[tuple[str, Callable[..., Any], str, dict[str, Any] | None, str]] = [
            *((path, handler, "POST", schema, tag) for path, handler, schema, tag in _GENERATION),
            ("/models", list_models, "GET", None, "openai"),
            ("/models/{model_id:path}", get_model, "GET", None, "openai"),
            ("/responses/{response_id}", get_response, "GET", None, "openai"),
            ("/responses/{response_id}", delete_response, "DELETE", None, "openai"),
        ]
        for path, handler, method, schema, tag in endpoints:
            app.router.add_api_route(
                prefix + path,
                handler,
                methods=[method],
                openapi_extra=schema,
                include_in_schema=prefix == "/v1",  # document each endpoint once, under /v1
                tags=[tag],
                route_class_override=_PlainRoute if schema is not None else APIRoute,
            )
    app.router.add_api_route("/health", health, methods=["GET"], tags=["ops"])
    app.router.add_api_route("/metrics", metrics, methods=["GET"], tags=["ops"])
