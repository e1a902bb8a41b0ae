"""The FastAPI app factory: wires settings, router service, upstreams, access log, metrics,
auth, the OpenAI endpoints, the admin API and the UI into one ASGI app.

Everything that needs the server's event loop (the shared httpx client) is created in the
lifespan; the access log is flushed and the router model released on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from starlette.responses import Response

from localrouter import __version__
from localrouter.gateway.access_log import AccessLog
from localrouter.gateway.admin.api import build_admin_router
from localrouter.gateway.auth import AuthMiddleware
from localrouter.gateway.context import GatewayContext
from localrouter.gateway.errors import ApiError, install_error_handlers
from localrouter.gateway.metrics import Metrics
from localrouter.gateway.proxy.classifier import MicroBatcher
from localrouter.gateway.proxy.openai_api import build_router, fast_routes
from localrouter.gateway.proxy.providers import Upstreams
from localrouter.gateway.runtime import Gateway
from localrouter.gateway.security import SecurityMiddleware
from localrouter.paths import home_dir, logs_dir, settings_path
from localrouter.routellm.service import RouterService
from localrouter.settings import Settings, load_settings
from localrouter.ui import mount_ui

logger = logging.getLogger("localrouter.gateway")


def create_app(
    settings: Settings | None = None,
    *,
    home: Path | None = None,
    config_path: Path | None = None,
    router: RouterService | None = None,
    allow_remote: bool = False,
) -> FastAPI:
    """The gateway app. ``settings`` default to ``config_path`` (HOME/settings.yaml), which
    the admin API also persists changes to; ``router`` defaults to a RouterService on HOME."""
    home = home or home_dir()
    config_path = config_path or settings_path(home)
    if settings is None:
        settings = load_settings(config_path)

    if router is None:
        # Reads the context (bound below, before any prediction) so admin changes such as
        # the idle timeout apply at once.
        router = RouterService(home, lambda: ctx.settings.routellm)
    ctx = GatewayContext(home=home, settings_path=config_path, settings=settings, router=router)
    access_log = AccessLog(logs_dir(home), lambda: ctx.settings.access_log)
    ctx.access_log = access_log
    metrics = Metrics()
    gateway = Gateway(
        ctx=ctx,
        classifier=MicroBatcher(router.predict, on_batch=metrics.classifier_batch.observe),
        access_log=access_log,
        metrics=metrics,
        allow_remote=allow_remote,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        gateway.upstreams = Upstreams()
        access_log.start()
        try:
            yield
        finally:
            await gateway.upstreams.aclose()
            gateway.classifier.close()
            # Joins a thread: keep the loop free while the log drains to disk.
            await asyncio.to_thread(access_log.close)
            await asyncio.to_thread(router.close)

    app = FastAPI(
        title="LocalRouter",
        version=__version__,
        description="A local OpenAI-compatible gateway that routes each prompt to a strong or "
        "weak model with the RouteLLM BERT router.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.lr = ctx
    app.state.gateway = gateway
    install_error_handlers(app)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(
        AuthMiddleware, settings=lambda: ctx.settings, allow_remote=lambda: gateway.allow_remote
    )
    app.add_middleware(SecurityMiddleware, settings=lambda: ctx.settings)  # outermost
    app.router.routes[:0] = fast_routes()
    app.include_router(build_router())
    app.include_router(build_admin_router())
    mount_ui(app)
    return app


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return ApiError(
        500, "internal error in the gateway", "internal_error", type="server_error"
    ).response()
