"""One error shape for every failure, whoever raised it.

    {"error": {"code": "...", "message": "...", "details": ..., "request_id": "..."}}

``ApiError`` subclasses carry the status and code; FastAPI validation errors, Starlette's
404/405, database outages and unexpected exceptions are translated into the same body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from kasparro import timetext
from kasparro.query.fastread import ReadFailed, ReadUnavailable

log = structlog.get_logger(__name__)

JSON = "application/json"


class ApiError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = dict(headers or {})
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class InvalidParameter(ApiError):
    status = 422
    code = "validation_error"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Moved(ApiError):
    """A permanent redirect (a merged asset's id): the error shape, plus ``Location``."""

    status = 308
    code = "moved"

    def __init__(self, message: str, *, location: str, details: Any = None) -> None:
        super().__init__(message, details=details, headers={"Location": location})


def merged_asset(request: Request, asset_id: int, target: int) -> Moved:
    """A merged asset's id answers with a permanent redirect to where its coins went, for
    every path under ``/assets/{id}`` (the rest of the path and the query are kept)."""
    path = request.url.path.replace(f"/assets/{asset_id}", f"/assets/{target}", 1)
    location = path + (f"?{request.url.query}" if request.url.query else "")
    return Moved(
        f"asset {asset_id} was merged into asset {target}",
        location=location,
        details={"asset_id": asset_id, "merged_into": target},
    )


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class TriggerDisabled(ApiError):
    status = 403
    code = "trigger_disabled"


class Conflict(ApiError):
    status = 409
    code = "already_running"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"


class ServiceUnavailable(ApiError):
    status = 503
    code = "service_unavailable"


def request_id_of(request: Request) -> str | None:
    state = request.scope.get("state") or {}
    rid = state.get("request_id")
    return rid if isinstance(rid, str) else None


def error_body(
    code: str, message: str, details: Any = None, request_id: str | None = None
) -> bytes:
    return orjson.dumps(
        {"error": {"code": code, "message": message, "details": details, "request_id": request_id}},
        default=str,
    )


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: Any = None,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        error_body(code, message, details, request_id),
        status_code=status,
        media_type=JSON,
        headers=dict(headers or {}),
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(
        exc.status,
        exc.code,
        exc.message,
        details=exc.details,
        request_id=request_id_of(request),
        headers=exc.headers,
    )


def _loc(loc: Sequence[Any]) -> str:
    return ".".join(str(p) for p in loc)


_INT64 = range(-(2**63), 2**63)


def _short(value: Any) -> Any:
    """The offending input as echoed in an error: strings cut to 100 characters; integers
    beyond 64 bits as text (orjson refuses them, and many JSON readers would round them)."""
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return str(value)[:100]
    if isinstance(value, str | int | float | bool) or value is None:
        return value[:100] if isinstance(value, str) else value
    text = repr(value)
    return text[:100]


def _json_decode_detail(err: Mapping[str, Any]) -> dict[str, Any]:
    """FastAPI reports a body that is not JSON at ``loc = ("body", <character offset>)``,
    which read as a problem with a field named "10": say what is wrong with the body."""
    position = err["loc"][1] if len(err.get("loc", ())) > 1 else None
    reason = str((err.get("ctx") or {}).get("error") or "not valid JSON")
    where = f" at character {position}" if isinstance(position, int) else ""
    return {
        "loc": "body",
        "message": f"not valid JSON: {reason}{where}",
        "type": "json_invalid",
        "position": position,
    }


# A time parameter validated by its documented pattern: said in words, as the routes that
# parse it themselves say it (queryspec, the backfill), not as the regular expression.
PATTERN_MESSAGES: Mapping[str, str] = {
    timetext.INSTANT_PATTERN: timetext.INSTANT_MESSAGE,
    timetext.WHEN_PATTERN: timetext.WHEN_MESSAGE,
}


def validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        if err.get("type") == "json_invalid":
            out.append(_json_decode_detail(err))
            continue
        item = {
            "loc": _loc(err.get("loc", ())),
            "message": err.get("msg", "invalid"),
            "type": err.get("type"),
        }
        said = PATTERN_MESSAGES.get(str((err.get("ctx") or {}).get("pattern")))
        if err.get("type") == "string_pattern_mismatch" and said is not None:
            item.update(message=said, type="datetime_parsing")
        if "input" in err and err.get("type") != "missing":
            item["input"] = _short(err["input"])
        out.append(item)
    return out


def _describe(detail: dict[str, Any]) -> str:
    loc = detail["loc"]
    where, _, name = loc.partition(".")
    if where in ("query", "path", "header") and name:
        return f"{where} parameter '{name}': {detail['message']}"
    if where == "body":
        return f"request body{(' field ' + repr(name)) if name else ''}: {detail['message']}"
    return f"{loc}: {detail['message']}"


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = validation_details(exc.errors())
    message = _describe(details[0]) if details else "invalid request"
    if len(details) > 1:
        message += f" (and {len(details) - 1} more problem{'s' if len(details) > 2 else ''})"
    return error_response(
        422, "validation_error", message, details=details, request_id=request_id_of(request)
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "rate_limited",
}


# FastAPI's detail when a JSON body cannot even be decoded (e.g. invalid UTF-8): it answers
# 400 there but 422 for malformed JSON text. Both are the same client mistake, so both get
# the documented 422 (found by the schemathesis fuzz test: 400 was undocumented).
_BODY_PARSE_DETAIL = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 400 and exc.detail == _BODY_PARSE_DETAIL:
        detail = {"loc": "body", "message": "body is not valid UTF-8 JSON", "type": "json_invalid"}
        return error_response(
            422,
            "validation_error",
            "request body: not valid UTF-8 JSON",
            details=[detail],
            request_id=request_id_of(request),
        )
    if status == 404:
        message = f"no such resource: {request.method} {request.url.path}"
    elif status == 405:
        allowed = allowed_methods(request) or (exc.headers or {}).get("Allow")
        message = f"method {request.method} is not allowed on {request.url.path}"
        if allowed:
            message += f"; allowed: {allowed}"
            headers = {**(exc.headers or {}), "Allow": allowed}
            return error_response(
                405,
                "method_not_allowed",
                message,
                request_id=request_id_of(request),
                headers=headers,
            )
    else:
        message = str(exc.detail)
    return error_response(
        status,
        _HTTP_CODES.get(status, f"http_{status}"),
        message,
        request_id=request_id_of(request),
        headers=exc.headers,
    )


_PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str | None:
    """Every method some route serves at this path, for ``Allow``.

    Starlette answers 405 from the first route whose path matches and lists only that
    route's methods, so ``OPTIONS /api/v1/runs`` said ``Allow: GET`` although POST is served
    there too (found by the schemathesis fuzz test; RFC 9110 wants the full set). Each
    method is probed through the routes' own matching, which also sees routes nested in
    included routers.
    """
    routes = getattr(request.app, "routes", ())
    allowed = [
        method
        for method in _PROBED_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed) if allowed else None


_MISSING_TABLE = re.compile(r"no such table|relation .* does not exist|UndefinedTable", re.I)


def database_error_message(exc: BaseException) -> str:
    """A one-line reason without SQL text or parameters (they may hold user input)."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {first[:200]}" if first else type(orig).__name__


# SQLSTATEs that say "try again", not "this statement is wrong": a hot standby cancelling a
# query that conflicts with WAL replay (40001), a deadlock (40P01), a server shutting down or
# starting (57P01-57P03). Through ``state.reads.connect()`` such a query fails after the
# connection was made, so the read router's failover never saw it.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03"})


def _transient(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None) or exc
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code in _TRANSIENT_SQLSTATES:
            return True
    return False


async def _database_error(request: Request, exc: Exception) -> Response:
    rid = request_id_of(request)
    reason = database_error_message(exc)
    if _MISSING_TABLE.search(str(exc)):
        return error_response(
            503,
            "database_not_migrated",
            "the database schema is missing or outdated: run `kasparro migrate`",
            details={"reason": reason},
            request_id=rid,
            headers={"Retry-After": "30"},
        )
    failed = not _transient(exc) and (
        isinstance(exc, ReadFailed)
        or (isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError | InterfaceError))
    )
    if failed:
        # A statement the database rejected is our bug, not an outage.
        log.error("database_statement_failed", error=reason, request_id=rid)
        return error_response(
            500, "internal_error", "internal error while querying the store", request_id=rid
        )
    log.warning("database_unavailable", error=reason, request_id=rid)
    return error_response(
        503,
        "database_unavailable",
        "the database is unavailable",
        details={"reason": reason},
        request_id=rid,
        headers={"Retry-After": "5"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(ReadUnavailable, _database_error)
    app.add_exception_handler(ReadFailed, _database_error)
    app.add_exception_handler(OSError, _database_error)
    app.add_exception_handler(TimeoutError, _database_error)
