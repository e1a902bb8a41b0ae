"""The OpenAI-compatible endpoints, with and without the ``/v1`` prefix, plus ``/health``
and ``/metrics``. Generation requests are handled by :mod:`localrouter.gateway.proxy.pipeline`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from localrouter import __version__
from localrouter.gateway.auth import may_use, request_client
from localrouter.gateway.metrics import CONTENT_TYPE
from localrouter.gateway.proxy.pipeline import GenerationRequest, gateway_of
from localrouter.gateway.proxy.routing import (
    AUTO_MODELS,
    available_models,
    model_not_found,
    parse_router_bert,
)
from localrouter.settings import Settings

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
    "description": "localrouter/auto, auto, router-bert-<threshold>, or provider/model",
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


async def chat_completions(request: Request) -> Response:
    """Chat completion (streaming with `stream: true`), routed or direct."""
    return await GenerationRequest(request, "chat", "/chat/completions").handle()


async def completions(request: Request) -> Response:
    """Legacy text completion, routed on the prompt or direct."""
    return await GenerationRequest(request, "completions", "/completions").handle()


async def embeddings(request: Request) -> Response:
    """Embeddings, passed to the named provider/model."""
    return await GenerationRequest(request, "embeddings", "/embeddings").handle()


def _model_object(model_id: str, settings: Settings) -> dict[str, Any]:
    owner = (
        "localrouter"
        if model_id in AUTO_MODELS or model_id.startswith("router-bert-")
        else (model_id.split("/", 1)[0])
    )
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}


async def list_models(request: Request) -> Response:
    """The virtual routing models and every configured provider/model (the caller's
    allowed ones)."""
    settings = gateway_of(request).settings
    client = request_client(request.scope)
    models = [m for m in available_models(settings) if may_use(client, m)]
    data = [_model_object(m, settings) for m in models]
    return JSONResponse({"object": "list", "data": data})


async def get_model(request: Request, model_id: str) -> Response:
    """One model by id (ids contain '/')."""
    settings = gateway_of(request).settings
    known = model_id in available_models(settings) or parse_router_bert(model_id) is not None
    if known and may_use(request_client(request.scope), model_id):
        return JSONResponse(_model_object(model_id, settings))
    raise model_not_found(model_id, settings)


async def health(request: Request) -> Response:
    """Liveness: answers as soon as the server is up."""
    return JSONResponse({"status": "ok", "version": __version__})


async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    return Response(gateway_of(request).metrics.render(), media_type=CONTENT_TYPE)


# The generation endpoints (path, handler, OpenAPI request body), served under /v1 and at /.
_GENERATION: list[tuple[str, Callable[[Request], Awaitable[Response]], dict[str, Any]]] = [
    ("/chat/completions", chat_completions, _CHAT_SCHEMA),
    ("/completions", completions, _COMPLETIONS_SCHEMA),
    ("/embeddings", embeddings, _EMBEDDINGS_SCHEMA),
]
_PREFIXES = ("/v1", "")


def fast_routes() -> list[Route]:
    """The generation endpoints as plain Starlette routes, matched before FastAPI's own.

    FastAPI's per-request routing and dependency machinery measured about a tenth of a
    proxied request's CPU; these handlers take only the Request, so they need none of it.
    The APIRoutes of :func:`build_router` stay for the OpenAPI document (and never match,
    since these come first)."""
    return [
        Route(prefix + path, handler, methods=["POST"])
        for prefix in _PREFIXES
        for path, handler, _ in _GENERATION
    ]


def build_router() -> APIRouter:
    router = APIRouter()
    for prefix in _PREFIXES:
        endpoints: list[tuple[str, Callable[..., Any], str, dict[str, Any] | None]] = [
            *((path, handler, "POST", schema) for path, handler, schema in _GENERATION),
            ("/models", list_models, "GET", None),
            ("/models/{model_id:path}", get_model, "GET", None),
        ]
        for path, handler, method, schema in endpoints:
            router.add_api_route(
                prefix + path,
                handler,
                methods=[method],
                openapi_extra=schema,
                include_in_schema=prefix == "/v1",  # document each endpoint once, under /v1
                tags=["openai"],
            )
    router.add_api_route("/health", health, methods=["GET"], tags=["ops"])
    router.add_api_route("/metrics", metrics, methods=["GET"], tags=["ops"])
    return router
