"""The dashboard: one page and its own script and stylesheet, served from the package.

Offline by construction: the page loads nothing but these files and the API's JSON (no CDN,
no web fonts, charts drawn as SVG by the page's own script).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter
from starlette.responses import FileResponse, RedirectResponse, Response

from kasparro.api.errors import NotFound

STATIC: Final = Path(__file__).resolve().parents[1] / "static"
_FILES: Final = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard-rate.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> Response:
    return RedirectResponse("/dashboard", status_code=307)


@router.get("/dashboard")
async def dashboard() -> Response:
    return FileResponse(
        STATIC / "dashboard.html",
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/static/{name}")
async def static(name: str) -> Response:
    media_type = _FILES.get(name)
    if media_type is None:  # only the page's own files: no directory to walk
        raise NotFound(f"no static file {name!r}", details={"name": name})
    return FileResponse(STATIC / name, media_type=media_type, headers={"Cache-Control": "no-cache"})
