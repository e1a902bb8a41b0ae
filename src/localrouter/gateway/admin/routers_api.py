"""Routers in the admin API: list the routers (bert, random, trained ones) and their curves.

``GET /api/routers`` lists every router ``localrouter/auto`` can use: ``bert`` (with the
RouteLLM model's state), ``random`` and each trained router of ``HOME/routers/`` with its
cross-validated metrics beside those of random and bert on the same folds; a damaged one
with its error. ``GET /api/routers/{name}/curve`` gives the points of its saved
quality-against-strong-share curves for the dashboard to draw. Selecting is
``PATCH /api/settings/routing {"router": NAME}`` (api.py), checked by :func:`check_router`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from localrouter.gateway.admin.common import state_of
from localrouter.gateway.errors import ApiError
from localrouter.routellm.errors import RouterUnavailable
from localrouter.routers.registry import BUILT_IN

# The trained routers' modules (numpy, the embedders) are imported on first use, as the
# registry does: not at the gateway's start.


def check_router(home: Path, name: str) -> None:
    """ApiError 400 unless ``name`` is bert, random or a stored trained router."""
    if name in BUILT_IN:
        return
    from localrouter.routers.trained import store

    try:
        store.read_manifest(home, name)
    except (ValueError, RouterUnavailable):
        message = (
            f"no router named {name!r}: use bert, random or the name of a trained router "
            "(localrouter router list)"
        )
        raise ApiError(400, message, "unknown_router", param="router") from None


def _trained(home: Path) -> list[dict[str, Any]]:
    from localrouter.routers.trained.router import list_routers

    routers = []
    for entry in list_routers(home):
        entry = {"kind": "trained", **entry}
        if "error" not in entry:
            entry["needs_bert"] = entry.get("embedder") == "bert"
        routers.append(entry)
    return routers


def read_curves(home: Path, name: str) -> dict[str, Any]:
    """The saved report's curves of router ``name`` (and random, bert); ApiError when the
    router or its points are missing."""
    from localrouter.routers.trained import store

    try:
        folder = store.router_dir(home, name)
    except ValueError as exc:
        raise ApiError(404, str(exc), "router_not_found", param="name") from None
    if not (folder / store.MANIFEST).is_file():
        raise ApiError(404, f"no trained router named {name!r}", "router_not_found", param="name")
    try:
        report = json.loads((folder / store.REPORT).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        report = None
    curves = report.get("curves") if isinstance(report, dict) else None
    if not isinstance(curves, dict) or not isinstance(curves.get("trained"), dict):
        message = f"the report of router {name!r} has no curve points; train it again"
        raise ApiError(404, message, "no_curve")
    assert isinstance(report, dict)
    return {
        "name": name,
        "curves": curves,  # {"trained" | "random" | "bert": {"strong_share", "quality"}}
        "metrics": report.get("metrics"),
        "strong_quality": report.get("strong_quality"),
        "weak_quality": report.get("weak_quality"),
        "examples": report.get("examples"),
    }


def add_router_routes(api: APIRouter) -> None:
    @api.get("/routers")
    async def routers(request: Request) -> dict[str, Any]:
        state = state_of(request)
        status = await run_in_threadpool(state.router_model.status)
        trained = await run_in_threadpool(_trained, state.home)
        return {
            "selected": state.settings.current.routing.router,
            "routers": [
                {
                    "name": "bert",
                    "kind": "bert",
                    "state": status.get("state"),
                    "installed": bool(status.get("installed")),
                },
                {"name": "random", "kind": "random"},
                *trained,
            ],
        }

    @api.get("/routers/{name}/curve")
    async def curve(request: Request, name: str) -> dict[str, Any]:
        state = state_of(request)
        return await run_in_threadpool(read_curves, state.home, name)
