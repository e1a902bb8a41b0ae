"""The router model's lifecycle inside the gateway (skeleton: the lifecycle issue fills this in).

Contract used by the gateway, the admin API and the CLI:

    service = RouterService(home, settings_getter)
    service.status() -> dict                # SPEC "States of the router model"
    service.predict(texts) -> list[Prediction]   # lazy load; raises RouterUnavailable
    service.start_download(repo_id=None, revision=None) -> dict   # status; one at a time
    service.cancel_download() -> dict
    service.unload() -> dict
    service.delete() -> dict
    service.close()
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from localrouter.paths import routellm_dir
from localrouter.routellm.engine import RouterEngine
from localrouter.routellm.errors import RouterUnavailable
from localrouter.routellm.prediction import Prediction
from localrouter.settings import RouteLLMSettings


def installed_model_dir(home: Path) -> Path | None:
    """The installed checkpoint folder under HOME/routellm, or None."""
    current = routellm_dir(home) / "current"
    return current if (current / "config.json").exists() else None


class RouterService:
    def __init__(self, home: Path, settings: Callable[[], RouteLLMSettings]) -> None:
        self._home = home
        self._settings = settings
        self._lock = threading.Lock()
        self._engine: RouterEngine | None = None

    def model_dir(self) -> Path | None:
        configured = self._settings().model_dir
        return configured if configured is not None else installed_model_dir(self._home)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        with self._lock:
            if self._engine is None:
                model_dir = self.model_dir()
                if model_dir is None:
                    raise RouterUnavailable("the router model is not downloaded")
                cfg = self._settings()
                self._engine = RouterEngine.load(model_dir, cfg.precision, cfg.threads)
            engine = self._engine
        return engine.predict(texts)

    def status(self) -> dict[str, object]:
        model_dir = self.model_dir()
        state = "ready" if self._engine else ("downloaded" if model_dir else "not_downloaded")
        return {"state": state, "model_dir": str(model_dir) if model_dir else None}

    def start_download(self, repo_id: str | None = None, revision: str | None = None) -> dict:
        raise NotImplementedError

    def cancel_download(self) -> dict[str, object]:
        raise NotImplementedError

    def unload(self) -> dict[str, object]:
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
        return self.status()

    def delete(self) -> dict[str, object]:
        raise NotImplementedError

    def close(self) -> None:
        self.unload()
