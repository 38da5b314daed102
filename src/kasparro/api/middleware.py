"""The one middleware: request id, timing, Prometheus metrics and last-resort errors.

Pure ASGI (not ``BaseHTTPMiddleware``): no extra task or body buffering per request, which
matters on the hot path. Metrics are labelled by the matched *route template*
(``/api/v1/assets/{asset_id}``), never the raw path, so label cardinality stays bounded.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kasparro import metrics
from kasparro.api.errors import error_response

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-]")
MAX_REQUEST_ID = 128
UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def sanitize_request_id(value: bytes | None) -> str | None:
    """Keep a caller's id only as safe characters (it is echoed in headers and logs)."""
    if not value:
        return None
    text = _UNSAFE.sub("", value[: MAX_REQUEST_ID * 4].decode("latin-1"))[:MAX_REQUEST_ID]
    return text or None


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_query_string_bytes: int = 4096) -> None:
        self.app = app
        self.max_query = max_query_string_bytes
        # Cached metric children: .labels() takes a lock and builds a tuple on every call.
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._timers: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                incoming = value
                break
        rid = sanitize_request_id(incoming) or new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["t0"] = start
        rid_header = (REQUEST_ID_HEADER, rid.encode("ascii"))
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), rid_header]}
            await send(message)

        try:
            if len(scope.get("query_string", b"")) > self.max_query:
                await error_response(
                    414,
                    "uri_too_long",
                    f"query string longer than {self.max_query} bytes",
                    request_id=rid,
                )(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Last resort: log once with the request id and answer in the standard shape.
            log.exception(
                "unhandled_error", request_id=rid, path=scope.get("path"), error=type(exc).__name__
            )
            if not started:
                await error_response(
                    500, "internal_error", "internal server error", request_id=rid
                )(scope, receive, send_with_id)
        finally:
            self._observe(scope, status, time.perf_counter() - start)

    def _observe(self, scope: Scope, status: int, elapsed: float) -> None:
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        method = scope.get("method", "GET")
        if method not in _METHODS:
            method = "OTHER"
        key = (method, template, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = metrics.HTTP_REQUESTS.labels(
                method, template, str(status)
            )
        counter.inc()
        tkey = (method, template)
        timer = self._timers.get(tkey)
        if timer is None:
            timer = self._timers[tkey] = metrics.HTTP_LATENCY.labels(method, template)
        timer.observe(elapsed)
