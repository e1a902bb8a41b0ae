"""Routers by name: ``bert`` (RouteLLM), ``random`` (the baseline) and trained routers
(``HOME/routers/NAME/``), as used by model names ``router-<name>-<t>``, ``routing.router``
and ``--router`` of ``routellm predict`` and ``routellm eval``.

Trained routers come through one hook, a loader ``(name) -> Router`` that raises
:class:`~localrouter.routers.base.UnknownRouter` when there is no such router; the default
loader knows none. A router is loaded once and kept; :meth:`RouterRegistry.forget` drops
it (retrained or deleted).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from localrouter.routers.base import ROUTER_NAME, Router, UnknownRouter
from localrouter.routers.bert import BertRouter, Predictor
from localrouter.routers.random import RandomRouter

DEFAULT_ROUTER = "bert"
BUILT_IN = ("bert", "random")

TrainedLoader = Callable[[str], Router]


def no_trained_routers(name: str) -> Router:
    raise UnknownRouter(
        f"no router named {name!r}: use bert, random or the name of a trained router"
    )


def trained_loader(home: Path) -> TrainedLoader:
    """The loader of the trained routers stored in ``HOME/routers/NAME/``, for the gateway
    and the CLI alike: UnknownRouter when no such folder exists, RouterUnavailable when it
    exists but cannot be used."""

    def load(name: str) -> Router:
        # Imported on first use: the trained routers' modules are not on the hot path.
        from localrouter.routers.trained import store
        from localrouter.routers.trained.router import load_router

        if not (store.routers_dir(home) / name).is_dir():
            return no_trained_routers(name)
        return load_router(home, name)

    return load


class RouterRegistry:
    """Thread-safe. ``bert`` is the given BERT model (lazily loading or already loaded)."""

    def __init__(self, bert: Predictor, trained: TrainedLoader = no_trained_routers) -> None:
        self._trained = trained
        self._routers: dict[str, Router] = {"bert": BertRouter(bert), "random": RandomRouter()}
        self._lock = threading.Lock()

    def get(self, name: str) -> Router:
        """The router called ``name``; raises UnknownRouter (a RouterUnavailable) when there is
        none, RouterUnavailable when it exists but cannot be used."""
        router = self._routers.get(name)
        if router is not None:
            return router
        if not ROUTER_NAME.match(name):
            raise UnknownRouter(
                f"invalid router name {name!r}: a router's name is letters, digits and _"
            )
        with self._lock:  # one load per name, even when requests arrive together
            router = self._routers.get(name)
            if router is None:
                router = self._routers[name] = self._trained(name)
        return router

    def cached(self, name: str) -> Router | None:
        """The router if it is already loaded (no I/O)."""
        return self._routers.get(name)

    def forget(self, name: str) -> None:
        """Load a trained router again on its next use (it was retrained or deleted)."""
        if name not in BUILT_IN:
            with self._lock:
                self._routers.pop(name, None)
