"""The admin API under ``/api/`` that the dashboard uses (contract: docs/ARCHITECTURE.md).

Everything reads the running gateway's :class:`~localrouter.gateway.state.GatewayState`.
Errors always use OpenAI's shape ``{"error": {"message", "type", "code"}}``; bodies are parsed
here rather than by FastAPI so that a bad body gets that shape too, whatever exception
handlers the host app installs. Provider keys go only to their own provider (to list its
models) and never into an answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StrictBool
from starlette.concurrency import run_in_threadpool

from localrouter.evaluation.calibrate import CalibrationError
from localrouter.evaluation.calibrate import calibrate as calibrate_threshold
from localrouter.gateway.access_log.reader import LogIndex, Row, rows_of
from localrouter.gateway.admin import stats
from localrouter.gateway.admin.common import AdminRoute as _AdminRoute
from localrouter.gateway.admin.common import Body as _Body
from localrouter.gateway.admin.common import read_body as _body
from localrouter.gateway.admin.common import state_of as _state
from localrouter.gateway.admin.common import update_settings as _update
from localrouter.gateway.admin.providers_api import add_provider_routes, providers_view
from localrouter.gateway.admin.routers_api import add_router_routes, check_router
from localrouter.gateway.errors import ApiError
from localrouter.gateway.request_body import parse_json_body
from localrouter.gateway.state import GatewayState
from localrouter.paths import routellm_dir
from localrouter.routellm.errors import RouterModelError, RouterUnavailable
from localrouter.routers.base import ROUTER_NAME, UnknownRouter, route
from localrouter.settings import ProviderSettings

if TYPE_CHECKING:
    from localrouter.routellm.service import RouterService

MAX_PROMPT_CHARS = 100_000
UPSTREAM_LIST_TIMEOUT = httpx.Timeout(3.0, connect=1.5)


# --- request bodies ---------------------------------------------------------------------


class DownloadBody(_Body):
    repo_id: str | None = None
    revision: str | None = None


class PredictBody(_Body):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    router: str | None = Field(default=None, pattern=ROUTER_NAME.pattern)  # default: routing.router


class RoutingPatch(_Body):
    enabled: StrictBool | None = None
    router: str | None = None
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    strong: list[str] | None = None
    weak: list[str] | None = None
    cross_tier_fallback: StrictBool | None = None


class RouteLLMPatch(_Body):
    idle_timeout_secs: int | None = Field(default=None, ge=0)
    precision: str | None = None
    classify: str | None = None


class CalibrateBody(_Body):
    strong_pct: float = Field(ge=0.0, le=100.0)
    days: float = Field(default=7.0, gt=0.0, le=366.0)
    router: str | None = Field(default=None, pattern=ROUTER_NAME.pattern)  # default: routing.router


# --- helpers ----------------------------------------------------------------------------


def _routellm_view(state: GatewayState) -> dict[str, Any]:
    cfg = state.settings.current.routellm
    return {
        "repo_id": cfg.repo_id,
        "revision": cfg.revision,
        "model_dir": str(cfg.model_dir) if cfg.model_dir else None,
        "precision": cfg.precision,
        "idle_timeout_secs": cfg.idle_timeout_secs,
        "classify": cfg.classify,
    }


def _prices_view(state: GatewayState) -> dict[str, Any]:
    return {ref: price.model_dump() for ref, price in state.settings.current.prices.items()}


async def _router_call(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return await run_in_threadpool(fn)
    except RouterUnavailable as exc:
        raise ApiError(503, str(exc), "router_unavailable") from None
    except RouterModelError as exc:
        raise ApiError(409, str(exc), "router_error", type="router_error") from None


class _Traffic:
    """Rows of the access log for the statistics (an incremental index of the files)."""

    def __init__(self) -> None:
        self._index: LogIndex | None = None

    def rows_since(self, state: GatewayState, since: datetime) -> list[Row]:
        log = state.access_log
        if not state.settings.current.access_log.enabled:
            # Nothing goes to disk; the in-memory window of recent requests is all there is.
            cutoff = since.timestamp()
            return [r for r in rows_of(log.recent(10_000)) if r.ts >= cutoff]
        log.flush()  # what was logged before this call is in the files
        if self._index is None or self._index.folder != log.folder:
            self._index = LogIndex(log.folder)
        return self._index.rows_since(since)


async def _upstream_models(provider: ProviderSettings) -> list[str]:
    """The provider's own ``GET /models`` listing; an unreachable provider lists nothing."""
    headers = dict(provider.headers)
    key = provider.resolve_api_key()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        async with httpx.AsyncClient(timeout=UPSTREAM_LIST_TIMEOUT, trust_env=False) as client:
            answer = await client.get(f"{provider.base_url}/models", headers=headers)
        if answer.status_code != 200:
            return []
        data = answer.json().get("data", [])
        return [f"{provider.name}/{m['id']}" for m in data if isinstance(m, dict) and m.get("id")]
    except (httpx.HTTPError, ValueError, AttributeError):
        return []


# --- the router -------------------------------------------------------------------------


def build_admin_router(dependencies: list[Any] | None = None) -> APIRouter:
    """``/api/*``; ``dependencies`` (e.g. the gateway's auth) apply to every endpoint."""
    api = APIRouter(prefix="/api", route_class=_AdminRoute, dependencies=dependencies or [])
    traffic = _Traffic()

    @api.get("/router/status")
    async def router_status(request: Request) -> dict[str, Any]:
        return await _router_action(request, lambda router: router.status())

    @api.post("/router/download")
    async def router_download(request: Request) -> JSONResponse:
        state = _state(request)
        body = await _body(request, DownloadBody)
        status = await _router_call(
            lambda: state.router_model.start_download(body.repo_id, body.revision)
        )
        # "started" is False when a download already runs: this answer shows that one.
        started = status.get("started", True)
        return JSONResponse(_with_config(state, status), status_code=202 if started else 200)

    @api.post("/router/download/cancel")
    async def router_cancel(request: Request) -> dict[str, Any]:
        return await _router_action(request, lambda router: router.cancel_download())

    @api.post("/router/load")
    async def router_load(request: Request) -> dict[str, Any]:
        return await _router_action(request, lambda router: router.load())

    @api.post("/router/unload")
    async def router_unload(request: Request) -> dict[str, Any]:
        return await _router_action(request, lambda router: router.unload())

    @api.delete("/router")
    async def router_delete(request: Request) -> dict[str, Any]:
        return await _router_action(request, lambda router: router.delete())

    @api.post("/router/predict")
    async def router_predict(request: Request) -> dict[str, Any]:
        state = _state(request)
        body = await _body(request, PredictBody)
        routing = state.settings.current.routing
        threshold = body.threshold if body.threshold is not None else routing.threshold
        name = body.router or routing.router
        try:
            router = await run_in_threadpool(state.routers.get, name)
            [prediction] = await run_in_threadpool(router.predict, [body.prompt])
        except UnknownRouter as exc:
            raise ApiError(404, str(exc), "router_not_found", param="router") from None
        except RouterUnavailable as exc:
            raise ApiError(503, str(exc), "router_unavailable") from None
        except RouterModelError as exc:
            raise ApiError(503, str(exc), "router_error") from None
        return {
            "router": name,
            "win_rate": prediction.win_rate,
            "route": route(prediction.win_rate, threshold),
            "threshold": threshold,
            "tokens": prediction.tokens,
            "truncated": prediction.truncated,
            "latency_ms": prediction.latency_ms,
        }

    @api.get("/settings")
    async def get_settings(request: Request) -> dict[str, Any]:
        state = _state(request)
        settings = state.settings.current
        return {
            "routing": settings.routing.model_dump(mode="json"),
            "routellm": _routellm_view(state),
            "prices": _prices_view(state),
            "providers": providers_view(state),
            "access_log": settings.access_log.model_dump(mode="json"),
        }

    @api.patch("/settings/routing")
    async def patch_routing(request: Request) -> dict[str, Any]:
        state = _state(request)
        patch = (await _body(request, RoutingPatch)).model_dump(exclude_none=True)
        if "router" in patch:
            await run_in_threadpool(check_router, state.home, patch["router"])
        await run_in_threadpool(_update, state, lambda data: data["routing"].update(patch))
        return state.settings.current.routing.model_dump(mode="json")

    @api.patch("/settings/routellm")
    async def patch_routellm(request: Request) -> dict[str, Any]:
        state = _state(request)
        patch = (await _body(request, RouteLLMPatch)).model_dump(exclude_none=True)
        await run_in_threadpool(_update, state, lambda data: data["routellm"].update(patch))
        return _routellm_view(state)

    @api.put("/settings/prices")
    async def put_prices(request: Request) -> dict[str, Any]:
        state = _state(request)
        raw = await request.body()
        prices = parse_json_body(raw) if raw.strip() else {}

        def change(data: dict[str, Any]) -> None:
            data["prices"] = prices

        await run_in_threadpool(_update, state, change)
        return _prices_view(state)

    @api.get("/models")
    async def list_models(request: Request) -> dict[str, Any]:
        state = _state(request)
        settings = state.settings.current
        found: list[str] = [*settings.routing.strong, *settings.routing.weak]
        for provider in settings.providers:
            found += [f"{provider.name}/{m}" for m in provider.models]
        listings = await asyncio.gather(*(_upstream_models(p) for p in settings.providers))
        for listing in listings:
            found += listing
        return {"models": list(dict.fromkeys(found))}

    @api.get("/requests")
    async def recent_requests(
        request: Request,
        limit: int = 50,
        offset: int = 0,
        tier: str | None = None,
        status: str | None = None,
        model: str | None = None,
    ) -> dict[str, Any]:
        """The newest requests first (this process's memory window), filtered, one page."""
        state = _state(request)
        limit = max(1, min(limit, 1000))
        offset = max(0, offset)
        rows = [e for e in state.access_log.recent(100_000) if _matches(e, tier, status, model)]
        return {
            "requests": rows[offset : offset + limit],
            "total": len(rows),
            "offset": offset,
            "limit": limit,
        }

    @api.get("/stats")
    async def get_stats(
        request: Request,
        threshold: float | None = None,
        hours: float = 24.0,
        presets: str | None = None,
    ) -> dict[str, Any]:
        """``presets`` (e.g. ``0.1,0.3,0.5``): the strong share at each of those too."""
        state = _state(request)
        settings = state.settings.current
        if threshold is None:
            threshold = settings.routing.threshold
        if not 0.0 <= threshold <= 1.0:
            raise ApiError(400, "threshold must be between 0 and 1", "invalid_parameter")
        if not 0.0 < hours <= 24 * 366:
            raise ApiError(400, "hours must be between 0 and 8784", "invalid_parameter")
        now = datetime.now(UTC)
        rows = await run_in_threadpool(traffic.rows_since, state, now - timedelta(hours=hours))
        strong_chain = settings.routing.strong
        result = stats.compute_stats(
            rows,
            threshold=threshold,
            hours=hours,
            now=now,
            prices=settings.prices,
            strong_model=strong_chain[0] if strong_chain else None,
        )
        if presets:
            cutoff = (now - timedelta(hours=hours)).timestamp()
            rates = [r.win_rate for r in rows if r.win_rate is not None and r.ts >= cutoff]
            result["share_at"] = {
                f"{t:g}": stats.strong_share(rates, t) for t in _thresholds(presets)
            }
        return result

    @api.post("/calibrate")
    async def calibrate(request: Request) -> dict[str, Any]:
        state = _state(request)
        body = await _body(request, CalibrateBody)
        since = datetime.now(UTC) - timedelta(days=body.days)
        name = body.router or state.settings.current.routing.router
        rows = await run_in_threadpool(traffic.rows_since, state, since)
        # Older entries have no router: they were all routed by bert.
        rates = [
            row.win_rate
            for row in rows
            if row.win_rate is not None and (row.router or "bert") == name
        ]
        if not rates:
            raise ApiError(
                409,
                f"no requests routed by {name} with a win rate in the last {body.days:g} days",
                "no_data",
            )
        try:
            return {"router": name, **calibrate_threshold(rates, body.strong_pct).to_dict()}
        except CalibrationError as exc:
            raise ApiError(400, str(exc), "invalid_parameter") from None

    add_provider_routes(api)
    add_router_routes(api)
    return api


def _thresholds(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")[:10] if part.strip()]
    except ValueError:
        message = "presets must be numbers separated by commas"
        raise ApiError(400, message, "invalid_parameter") from None
    if not all(0.0 <= v <= 1.0 for v in values):
        raise ApiError(400, "presets must be between 0 and 1", "invalid_parameter")
    return values


def _matches(
    entry: dict[str, Any], tier: str | None, status: str | None, model: str | None
) -> bool:
    """The traffic table's filter: answered tier ("fallback": answered by the other tier),
    status (success | error) and a model name part (requested or answering)."""
    if tier == "fallback":
        if not entry.get("routed_tier") or entry.get("tier") in (None, entry.get("routed_tier")):
            return False
    elif tier and entry.get("tier") != tier:
        return False
    if status and entry.get("status") != status:
        return False
    if model:
        needle = model.lower()
        names = (entry.get("requested_model"), entry.get("model"), entry.get("provider"))
        if not any(isinstance(n, str) and needle in n.lower() for n in names):
            return False
    return True


async def _router_action(
    request: Request, action: Callable[[RouterService], dict[str, Any]]
) -> dict[str, Any]:
    """One of the router service's actions, run off the event loop; its status answer."""
    state = _state(request)
    router = state.router_model
    return _with_config(state, await _router_call(lambda: _with_disk_size(action(router))))


def _with_disk_size(status: dict[str, Any]) -> dict[str, Any]:
    """``disk_bytes``: what deleting the installed model frees (the dashboard's dialog)."""
    home = status.get("home")
    size: int | None = None
    if status.get("installed") and home and not status.get("configured_model_dir"):
        try:  # delete removes the whole folder: versions and the download cache
            folder = routellm_dir(Path(home))
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        except OSError:
            size = None
    status["disk_bytes"] = size
    return status


def _with_config(state: GatewayState, status: dict[str, Any]) -> dict[str, Any]:
    """The service's status plus what the settings say, for fields the service left out."""
    cfg = state.settings.current.routellm
    merged = {
        "repo_id": cfg.repo_id,
        "revision": cfg.revision,
        "commit": None,
        "precision": cfg.precision,
        "memory_usage_mb": None,
        "last_used_secs_ago": None,
        "idle_timeout_secs": cfg.idle_timeout_secs,
        "error": None,
    }
    merged.update(status)
    return merged
