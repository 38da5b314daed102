"""``/docs`` (Swagger UI) and ``/redoc``, working offline.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank without
internet. Here their scripts and stylesheet are served from ``/docs/assets`` out of the
installed ``fastapi-offline`` package: a maintained PyPI package whose releases ship the
current swagger-ui-dist 5 and redoc 2 builds (Swagger UI is Apache-2.0, ReDoc MIT; the
package is MIT). Only its files are used, with FastAPI's page builders: its ``FastAPIOffline``
factory would build the pages itself, with no way to set the headers below.

Each page carries a Content-Security-Policy that keeps every request on this host, so what
works in the test with every other host blocked is what works offline, and nothing leaks
when online: ReDoc's footer logo (cdn.redoc.ly, in its bundle) is refused by the browser
instead of fetched, and Swagger UI's validator badge (validator.swagger.io) is off. The one
inline script (Swagger UI's initializer) is allowed by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS_URL: Final = "/docs/assets"
# fastapi-offline's static folder: swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js
# and favicon.png (tests/api/test_docs_assets.py checks they are there).
ASSETS_DIR: Final = Path(str(files("fastapi_offline") / "static"))

_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def _policy(html: bytes) -> str:
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()}'"
        for m in _INLINE_SCRIPT.finditer(html)
    )
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' {hashes}".rstrip(),
            # Both render with inline style attributes; ReDoc injects <style> elements.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            # ReDoc runs its search index in a worker made from a blob.
            "worker-src 'self' blob:",
            "connect-src 'self'",
            "font-src 'self' data:",
            "frame-ancestors 'self'",
            "base-uri 'self'",
            "form-action 'self'",
        )
    )


def _page(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = _policy(bytes(page.body))
    page.headers["Cache-Control"] = "no-cache"
    return page


def install(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and their assets to ``app`` (created with both disabled)."""
    openapi_url = app.openapi_url or "/openapi.json"
    params = {"validatorUrl": None}  # no badge fetched from validator.swagger.io

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                swagger_ui_parameters=params,
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
        )

    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
