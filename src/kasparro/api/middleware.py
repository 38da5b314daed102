"""The one middleware: request id, timing, size limits, Prometheus metrics and last-resort
errors.

Pure ASGI (not ``BaseHTTPMiddleware``): no extra task or body buffering per request, which
matters on the hot path. Metrics are labelled by the matched *route template*
(``/api/v1/assets/{asset_id}``), never the raw path, so label cardinality stays bounded.

Size limits are enforced here, in the error envelope, with the request id: 414 for a path
or query string that is too long, 413 for a body that is too large, whether its
``Content-Length`` says so up front (answered without reading it) or a chunked body grows
past the limit while the app reads it. Not Starlette's ``RequestBodyLimitMiddleware``
(FastAPI's ``max_body_size``): it answers from outside the app's exception handlers, as
plain text without the request id, whenever the route had not read the body yet.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kasparro import metrics
from kasparro.api.errors import error_response
from kasparro.api.names import CURRENT
from kasparro.sources.registry import Registry

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-]")
MAX_REQUEST_ID = 128
UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CONTENT_LENGTH = b"content-length"
# The longest real path is /api/v1/assets/{19 digits}/history: anything near this limit is
# not a resource of this API (and echoing it whole in a 404 would only cost bandwidth).
MAX_PATH_BYTES = 1024


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body grows past the limit: an HTTPException, so FastAPI's
    body parsing passes it through (any other error there becomes "error parsing the body")
    and the app's handler renders it as the enveloped 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


def sanitize_request_id(value: bytes | None) -> str | None:
    """Keep a caller's id only as safe characters (it is echoed in headers and logs)."""
    if not value:
        return None
    text = _UNSAFE.sub("", value[: MAX_REQUEST_ID * 4].decode("latin-1"))[:MAX_REQUEST_ID]
    return text or None


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        registry: Registry,
        max_query_string_bytes: int = 4096,
        max_body_bytes: int = 65536,
    ) -> None:
        self.app = app
        self.registry = registry  # the app's sources: what source-name parameters accept
        self.max_query = max_query_string_bytes
        self.max_body = max_body_bytes
        # Cached metric children: .labels() takes a lock and builds a tuple on every call.
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._timers: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming = None
        declared: bytes | None = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER and incoming is None:
                incoming = value
            elif name == CONTENT_LENGTH:
                declared = value
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
            refusal = self._refusal(scope, declared)
            if refusal is not None:
                status, code, message = refusal
                await error_response(status, code, message, request_id=rid)(
                    scope, receive, send_with_id
                )
            else:
                token = CURRENT.set(self.registry)
                try:
                    await self.app(scope, self._limited(receive), send_with_id)
                finally:
                    CURRENT.reset(token)
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

    def _refusal(self, scope: Scope, declared: bytes | None) -> tuple[int, str, str] | None:
        """What to answer instead of running the app, if the request is too large."""
        path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
        if len(path) > MAX_PATH_BYTES:
            return 414, "uri_too_long", f"URL path longer than {MAX_PATH_BYTES} bytes"
        if len(scope.get("query_string", b"")) > self.max_query:
            return 414, "uri_too_long", f"query string longer than {self.max_query} bytes"
        # A malformed Content-Length never reaches here: the server refuses it with a 400.
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_body:
            return 413, "payload_too_large", f"request body larger than {self.max_body} bytes"
        return None

    def _limited(self, receive: Receive) -> Receive:
        """``receive`` that refuses a body (chunked, or longer than declared) past the limit."""
        limit = self.max_body
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return receive_limited

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
