"""The running gateway's one state object, shared by every endpoint and the middleware.

:class:`GatewayState` is opened in the app's lifespan (inside the server's event loop) and
closed there; handlers reach it through :func:`gateway_state`. It holds the settings store,
the BERT router model service, the router registry with one micro-batching classifier per
router in use, the access log, the metrics and the upstreams' HTTP clients.

Settings are replaced whole, never mutated in place, so a request reads one consistent
snapshot (``state.settings.current``); :meth:`SettingsStore.update` validates the whole
result, persists it atomically and only then swaps and tells the listeners.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from starlette.types import Scope

from localrouter.gateway.access_log import AccessLog
from localrouter.gateway.apis.response_store import ResponseStore, store_path
from localrouter.gateway.errors import ApiError
from localrouter.gateway.metrics import Metrics
from localrouter.gateway.proxy.classifier import MicroBatcher
from localrouter.gateway.proxy.providers import Upstreams
from localrouter.gateway.secret_values import configured_secrets
from localrouter.gateway.shutdown import Drain
from localrouter.paths import logs_dir
from localrouter.routellm.service import RouterService
from localrouter.routers.base import Router
from localrouter.routers.registry import (
    RouterRegistry,
    TrainedLoader,
    manifest_stamp,
    no_trained_routers,
)
from localrouter.settings import (
    ClientSettings,
    ProviderSettings,
    RouteLLMSettings,
    Settings,
    parse_settings,
    save_settings,
)
from localrouter.settings_roundtrip import save_change

SettingsChange = Callable[[dict[str, Any]], None]


def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    return {
        name: f.get_default(call_default_factory=True)
        for name, f in model.model_fields.items()
        if not f.is_required()
    }


# Fields a new provider or client leaves out of settings.yaml when they only repeat a default.
_ITEM_DEFAULTS = {"providers": _defaults(ProviderSettings), "clients": _defaults(ClientSettings)}


class SettingsStore:
    """The current settings and the one way to change them. Thread-safe."""

    def __init__(self, settings: Settings, path: Path) -> None:
        self.path = path
        self._current = settings
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Settings], None]] = []

    @property
    def current(self) -> Settings:
        return self._current

    def routellm(self) -> RouteLLMSettings:
        """The router model's section (the RouterService reads it at each use)."""
        return self._current.routellm

    def subscribe(self, listener: Callable[[Settings], None]) -> None:
        """Call ``listener(new)`` after every successful update."""
        self._listeners.append(listener)

    def update(self, change: SettingsChange) -> Settings:
        """Apply ``change`` to a plain-dict copy, validate the whole, persist, then swap.

        Raises SettingsError (nothing applied) when the result is invalid, OSError when it
        cannot be saved (nothing applied either)."""
        with self._lock:
            old = self._current.model_dump(mode="json")
            data = self._current.model_dump(mode="json")
            change(data)
            new = parse_settings(data, self.path)
            if self.path.exists():
                # Only what changed goes into the user's file; comments stay; .bak kept.
                save_change(self.path, old, new.model_dump(mode="json"), _ITEM_DEFAULTS)
            else:
                save_settings(new, self.path)
            self._current = new
            for listener in self._listeners:  # under the lock: they see updates in order
                listener(new)
        return new


@dataclass(eq=False)
class GatewayState:
    home: Path
    settings: SettingsStore
    router_model: RouterService  # the BERT model: status, download, unload (admin API)
    routers: RouterRegistry
    access_log: AccessLog
    metrics: Metrics
    upstreams: Upstreams
    allow_remote: bool = False  # `serve --allow-remote`
    drain: Drain = field(default_factory=Drain)  # in-flight requests' shutdown deadline
    _classifiers: dict[str, MicroBatcher] = field(default_factory=dict, repr=False)
    _batched: dict[str, Router] = field(default_factory=dict, repr=False)  # what each wraps
    _responses: ResponseStore | None = field(default=None, repr=False)
    _secrets_for: Settings | None = field(default=None, repr=False)
    _secrets: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        home: Path,
        config_path: Path,
        router_model: RouterService | None = None,
        trained_routers: TrainedLoader = no_trained_routers,
        allow_remote: bool = False,
    ) -> GatewayState:
        """Create and start everything; call inside the server's event loop (lifespan)."""
        store = SettingsStore(settings, config_path)
        if router_model is None:
            router_model = RouterService(home, store.routellm)
        # Clean-up of stale versions and the idle timer start here, not in the constructor.
        router_model.start()
        access_log = AccessLog(logs_dir(home), settings.access_log)
        access_log.start()
        state = cls(
            home=home,
            settings=store,
            router_model=router_model,
            routers=RouterRegistry(router_model, trained_routers, manifest_stamp(home)),
            access_log=access_log,
            metrics=Metrics(),
            upstreams=Upstreams(),
            allow_remote=allow_remote,
        )
        state.metrics.watch_access_log(access_log.health)
        # The idle timer sleeps until the old deadline unless told of a new timeout.
        store.subscribe(lambda _: router_model.settings_changed())
        store.subscribe(lambda new: access_log.configure(new.access_log))
        state._classifiers["bert"] = state._new_classifier("bert")  # the hot path: no hop
        return state

    def _new_classifier(self, name: str) -> MicroBatcher:
        router = self.routers.get(name)
        self._batched[name] = router
        return MicroBatcher(router.predict, on_batch=self.metrics.classifier_batch.observe)

    async def classifier(self, name: str) -> MicroBatcher:
        """The micro-batcher of router ``name``; raises UnknownRouter when there is none.
        A trained router is loaded (off the event loop) on its first use, and again when
        its files changed (``router train`` or ``router delete`` in another process)."""
        batcher = self._classifiers.get(name)
        if batcher is not None and (
            self.routers.changed(name) or self.routers.cached(name) is not self._batched[name]
        ):
            self.forget_router(name)
            batcher = None
        if batcher is None:
            if self.routers.cached(name) is None:
                await asyncio.to_thread(self.routers.get, name)
            batcher = self._classifiers.setdefault(name, self._new_classifier(name))
        return batcher

    def forget_router(self, name: str) -> None:
        """A trained router changed or went away: load it again on its next use."""
        batcher = self._classifiers.pop(name, None) if name != "bert" else None
        if batcher is not None:
            batcher.close()
        self.routers.forget(name)

    def begin_shutdown(self, grace: float | None = None) -> float:
        """The server stopped accepting: in-flight requests get ``grace`` seconds (default:
        the current ``shutdown_grace_secs``), then end with an error. Returns the grace."""
        if grace is None:
            grace = self.settings.current.server.shutdown_grace_secs
        self.drain.begin(grace)
        return grace

    def health_problems(self) -> list[str]:
        """Why the gateway is degraded (``/health``); empty when all is well."""
        log = self.access_log.health()
        if log.error is None:
            return []
        waiting = f"{log.pending} {'entry' if log.pending == 1 else 'entries'} waiting in memory"
        lost = f", {log.lost} lost" if log.lost else ""
        return [f"{log.error} ({waiting}{lost})"]

    def responses(self) -> ResponseStore:
        """The stored Responses (HOME/responses.sqlite3), opened on first use; retention
        follows ``responses`` in the settings."""
        store = self._responses
        retention = self.settings.current.responses
        if store is None:
            store = self._responses = ResponseStore(
                store_path(self.home),
                max_count=retention.max_stored,
                max_age_days=retention.retention_days,
            )
        else:  # plain attributes, read at each use: a settings change applies at once
            store.max_count = retention.max_stored
            store.max_age_days = retention.retention_days
        return store

    def secrets(self, settings: Settings) -> list[str]:
        """Provider keys to scrub from anything echoed or logged (cached per settings)."""
        if settings is not self._secrets_for:
            self._secrets = configured_secrets(settings)
            self._secrets_for = settings
        return self._secrets

    async def aclose(self) -> None:
        await self.upstreams.aclose()
        for batcher in self._classifiers.values():
            batcher.close()
        # Both join threads: keep the loop free while the log drains and the model goes.
        await asyncio.to_thread(self.access_log.close)
        await asyncio.to_thread(self.router_model.close)
        if self._responses is not None:
            self._responses.close()


def gateway_state(scope: Scope) -> GatewayState:
    """The running gateway's state for a request (``request.scope`` or an ASGI scope); 503
    before the lifespan opened it."""
    state: GatewayState | None = getattr(scope["app"].state, "gateway", None)
    if state is None:
        raise ApiError(503, "the gateway is not ready yet", "not_ready")
    return state
