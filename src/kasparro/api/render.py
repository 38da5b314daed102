"""JSON responses built with orjson straight into bytes (no response_model validation).

Schemas for these bodies are declared in ``kasparro.api.schemas`` for OpenAPI only; the
hot path never instantiates a pydantic model per row.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kasparro.query.observations import FIELDS as OBS_FIELDS
from kasparro.query.sqltext import json_default

JSON = "application/json"
_OPTS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS

# Index of the canonical asset columns in an observation row (rendered as a nested object).
_ASSET_SYMBOL = OBS_FIELDS.index("asset_symbol")
_ASSET_NAME = OBS_FIELDS.index("asset_name")
_FLAT = OBS_FIELDS[:_ASSET_SYMBOL]


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=json_default, option=_OPTS)


def meta(request: Request, **extra: Any) -> dict[str, Any]:
    """Common ``meta``: request id and server-side latency so far (milliseconds)."""
    state = request.scope.get("state") or {}
    t0 = state.get("t0")
    latency = round((time.perf_counter() - t0) * 1000, 3) if t0 is not None else None
    return {"request_id": state.get("request_id"), "api_latency_ms": latency, **extra}


def json_response(
    body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        dumps(body), status_code=status, media_type=JSON, headers=dict(headers) if headers else None
    )


def envelope(
    request: Request,
    data: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **meta_fields: Any,
) -> Response:
    return json_response(
        {"data": data, "meta": meta(request, **meta_fields)}, status=status, headers=headers
    )


def page_meta(
    request: Request,
    *,
    count: int,
    limit: int,
    next_cursor: str | None,
    sort: str,
    descending: bool,
    **extra: Any,
) -> dict[str, Any]:
    """``meta`` of a keyset-paginated list; ``has_more`` and ``order`` follow from the rest."""
    return meta(
        request,
        count=count,
        limit=limit,
        next_cursor=next_cursor,
        has_more=next_cursor is not None,
        sort=sort,
        order="desc" if descending else "asc",
        **extra,
    )


def page_envelope(
    request: Request,
    items: list[Any],
    *,
    limit: int,
    next_cursor: str | None,
    sort: str,
    descending: bool,
) -> Response:
    """A page of a list endpoint: ``items`` and their :func:`page_meta`."""
    return json_response(
        {
            "data": items,
            "meta": page_meta(
                request,
                count=len(items),
                limit=limit,
                next_cursor=next_cursor,
                sort=sort,
                descending=descending,
            ),
        }
    )


def observation_dicts(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Rows from ``query.observations`` -> JSON objects, canonical asset nested."""
    out = []
    fields = _FLAT
    for row in rows:
        item = dict(zip(fields, row, strict=False))
        item["asset"] = {"id": row[1], "symbol": row[_ASSET_SYMBOL], "name": row[_ASSET_NAME]}
        out.append(item)
    return out
