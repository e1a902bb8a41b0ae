"""What the running gateway shares between its parts (kept on ``app.state.lr``).

Settings are replaced whole, never mutated in place, so a request reads one consistent
snapshot; changes go through :meth:`GatewayContext.update_settings`, which validates,
persists atomically and only then swaps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localrouter.settings import Settings, parse_settings, save_settings

if TYPE_CHECKING:
    from localrouter.routellm.service import RouterService


@dataclass
class GatewayContext:
    home: Path
    settings_path: Path
    settings: Settings
    router: RouterService
    # Set by the gateway: the access log (gateway/access_log.py) with .recent(limit) and
    # .entries_since(datetime).
    access_log: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update_settings(self, change: Callable[[dict[str, Any]], None]) -> Settings:
        """Apply ``change`` to a plain-dict copy, validate the whole, persist, then swap.

        Raises SettingsError (nothing applied) when the result is invalid.
        """
        with self._lock:
            data = self.settings.model_dump(mode="json")
            change(data)
            new = parse_settings(data, self.settings_path)
            save_settings(new, self.settings_path)
            self.settings = new
        # The router reads settings through a getter, but its idle timer sleeps until the old
        # deadline unless told.
        self.router.settings_changed()
        return new
