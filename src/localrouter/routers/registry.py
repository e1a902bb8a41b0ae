"""Routers by name: ``bert`` (RouteLLM), ``random`` (the baseline) and trained routers
(``HOME/routers/NAME/``), as used by model names ``router-<name>-<t>``, ``routing.router``
and ``--router`` of ``routellm predict`` and ``routellm eval``.

Trained routers come through one hook, a loader ``(name) -> Router`` that raises
:class:`~localrouter.routers.base.UnknownRouter` when there is no such router; the default
loader knows none. A router is loaded once and kept; :meth:`RouterRegistry.forget` drops
it, and so does a change of its files (``router train`` or ``router delete`` in another
process): a stamp of its manifest, taken when it was loaded, is compared at each use.
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
# What identifies a trained router's files as they are now (None: there are none).
TrainedStamp = Callable[[str], object]


def no_stamp(name: str) -> object:
    return None


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


def manifest_stamp(home: Path) -> TrainedStamp:
    """The stamp of ``HOME/routers/NAME/manifest.json``: a retrained router is a new folder
    renamed in (new inode, new mtime), a deleted one has none."""

    def stamp(name: str) -> object:
        try:
            st = (home / "routers" / name / "manifest.json").stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    return stamp


class RouterRegistry:
    """Thread-safe. ``bert`` is the given BERT model (lazily loading or already loaded);
    ``stamp`` tells when a loaded trained router's files changed (default: never)."""

    def __init__(
        self,
        bert: Predictor,
        trained: TrainedLoader = no_trained_routers,
        stamp: TrainedStamp = no_stamp,
    ) -> None:
        self._trained = trained
        self._stamp = stamp
        self._routers: dict[str, Router] = {"bert": BertRouter(bert), "random": RandomRouter()}
        self._stamps: dict[str, object] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Router:
        """The router called ``name``; raises UnknownRouter (a RouterUnavailable) when there is
        none, RouterUnavailable when it exists but cannot be used. A trained router whose
        files changed since it was loaded is loaded again."""
        router = self._routers.get(name)
        if router is not None and not self.changed(name):
            return router
        if not ROUTER_NAME.match(name):
            raise UnknownRouter(
                f"invalid router name {name!r}: a router's name is letters, digits and _"
            )
        with self._lock:  # one load per name, even when requests arrive together
            router = self._routers.get(name)
            if router is None or self.changed(name):
                self._routers.pop(name, None)
                stamp = self._stamp(name)  # before loading: a change during it shows next time
                router = self._routers[name] = self._trained(name)
                self._stamps[name] = stamp
        return router

    def cached(self, name: str) -> Router | None:
        """The router if it is already loaded (no I/O)."""
        return self._routers.get(name)

    def changed(self, name: str) -> bool:
        """True when the loaded trained router ``name`` was retrained or deleted since (one
        stat); False for a built-in router or one not loaded."""
        if name in BUILT_IN or name not in self._routers:
            return False
        return self._stamp(name) != self._stamps.get(name)

    def forget(self, name: str) -> None:
        """Load a trained router again on its next use (it was retrained or deleted)."""
        if name not in BUILT_IN:
            with self._lock:
                self._routers.pop(name, None)
                self._stamps.pop(name, None)
