"""Routers trained on the user's own outcomes (README "Trained routers").

The gateway's registry calls :func:`load_router`; the UI lists with :func:`list_routers`.
"""

from __future__ import annotations

from localrouter.routellm.errors import RouterUnavailable
from localrouter.routers.trained.router import TrainedRouter, list_routers, load_router

__all__ = ["RouterUnavailable", "TrainedRouter", "list_routers", "load_router"]
