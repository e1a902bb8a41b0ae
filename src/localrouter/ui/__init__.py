"""The web dashboard: static HTML/CSS/JS shipped as package data (no build step, no CDN).

``mount_ui(app)`` serves ``index.html`` at ``/`` and the other files under ``/ui/``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).with_name("static")
# The page polls the API; the files themselves are small, so always revalidate rather than
# risk an old app.js talking to a newer API after an upgrade.
_NO_CACHE = {"Cache-Control": "no-cache"}


class _StaticFiles(StaticFiles):
    def file_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers.update(_NO_CACHE)
        return response


def mount_ui(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=_NO_CACHE)

    @app.get("/ui", include_in_schema=False)
    async def ui_root() -> RedirectResponse:
        return RedirectResponse("/")

    app.mount("/ui", _StaticFiles(directory=STATIC_DIR), name="ui")
