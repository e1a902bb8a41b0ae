"""The FastAPI app factory: auth, the OpenAI endpoints, the admin API and the UI in one ASGI
app. The running parts (:class:`~localrouter.gateway.state.GatewayState`) are opened in the
lifespan, inside the server's event loop, and closed there: the access log is flushed and
the router model released on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from starlette.responses import Response

from localrouter import __version__
from localrouter.gateway.admin.api import build_admin_router
from localrouter.gateway.anthropic_errors import AnthropicErrors
from localrouter.gateway.auth import AuthMiddleware
from localrouter.gateway.errors import ApiError, install_error_handlers
from localrouter.gateway.proxy import openai_api
from localrouter.gateway.security import SecurityMiddleware
from localrouter.gateway.state import GatewayState
from localrouter.paths import home_dir, settings_path
from localrouter.routellm.service import RouterService
from localrouter.routers.registry import TrainedLoader, trained_loader
from localrouter.settings import Settings, load_settings
from localrouter.ui import mount_ui

logger = logging.getLogger("localrouter.gateway")


def create_app(
    settings: Settings | None = None,
    *,
    home: Path | None = None,
    config_path: Path | None = None,
    router: RouterService | None = None,
    trained_routers: TrainedLoader | None = None,
    allow_remote: bool = False,
) -> FastAPI:
    """The gateway app. ``settings`` default to ``config_path`` (HOME/settings.yaml), which
    the admin API also persists changes to; ``router`` (the BERT model service) defaults to a
    RouterService on HOME, created when the app starts; ``trained_routers`` loads the
    trained routers (default: those of HOME)."""
    home = home or home_dir()
    config_path = config_path or settings_path(home)
    if settings is None:
        settings = load_settings(config_path)  # a bad file is refused here, before serving

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = GatewayState.open(
            settings,
            home=home,
            config_path=config_path,
            router_model=router,
            trained_routers=trained_routers or trained_loader(home),
            allow_remote=allow_remote,
        )
        app.state.gateway = state
        try:
            yield
        finally:
            app.state.gateway = None
            await state.aclose()

    app = FastAPI(
        title="LocalRouter",
        version=__version__,
        description="A local OpenAI-compatible gateway that routes each prompt to a strong or "
        "weak model with the RouteLLM BERT router.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.gateway = None  # until the lifespan opens it
    install_error_handlers(app)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(AuthMiddleware)
    app.add_middleware(SecurityMiddleware)
    # Outermost: every error on /v1/messages (security's 403/415, auth's 401) in Anthropic's shape.
    app.add_middleware(AnthropicErrors)
    openai_api.add_routes(app)
    app.include_router(build_admin_router())
    mount_ui(app)
    return app


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return ApiError(
        500, "internal error in the gateway", "internal_error", type="server_error"
    ).response()
