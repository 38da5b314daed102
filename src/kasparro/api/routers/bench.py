"""Benchmark ceiling: pre-serialized constant JSON through the same app and middleware.

Only mounted when ``KASPARRO_BENCH_ENDPOINTS=1``; hidden from the OpenAPI document.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

JSON = "application/json"


def constant_payload(size: int) -> bytes:
    """A valid JSON document of exactly ``size`` bytes (size >= 12)."""
    head, tail = b'{"data":"', b'"}'
    fill = max(0, size - len(head) - len(tail))
    return head + b"x" * fill + tail


def make_router(size: int) -> APIRouter:
    router = APIRouter(prefix="/api/v1/_bench", include_in_schema=False)
    payload = constant_payload(size)

    @router.get("/constant", include_in_schema=False)
    async def constant() -> Response:
        return Response(payload, media_type=JSON)

    return router
