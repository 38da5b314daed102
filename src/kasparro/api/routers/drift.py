"""``GET /api/v1/drift``: schema-drift events detected in upstream responses."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import WithJsonSchema
from starlette.responses import Response

from kasparro.api import params as p
from kasparro.api.deps import State
from kasparro.api.errors import InvalidParameter
from kasparro.api.ops_schemas import DriftResponse
from kasparro.api.render import page_envelope
from kasparro.api.schemas import error_responses
from kasparro.query import drift as q
from kasparro.query.cursor import scope_digest

router = APIRouter(prefix="/api/v1", tags=["drift"], dependencies=[Depends(p.strict_query)])

DriftKind = Literal["missing", "unexpected", "type_changed"]


UNIX_SECONDS = r"^-?[0-9]{1,12}(\.[0-9]{1,9})?$"
MAX_SINCE_CHARS = 64
# What the parser accepts, as the schema says it: an ISO 8601 / RFC 3339 date-time or unix
# seconds (the same forms as /data's `since`).
SinceText = Annotated[
    str,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time", "maxLength": MAX_SINCE_CHARS},
                {"type": "string", "pattern": UNIX_SECONDS},
            ]
        }
    ),
]


def _bad_since(message: str, kind: str) -> InvalidParameter:
    return InvalidParameter(
        f"query parameter 'since': {message}",
        details=[{"loc": "query.since", "message": message, "type": kind}],
    )


def parse_since(text: str | None) -> datetime | None:
    """``since`` as an aware UTC datetime; no offset means UTC. A value whose offset or
    magnitude leaves years 1..9999 in UTC is a 422 (``datetime_range``), never a 500."""
    if text is None:
        return None
    if re.fullmatch(UNIX_SECONDS, text):
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except (ValueError, OverflowError, OSError):
            raise _bad_since("unix seconds out of range", "datetime_range") from None
    try:
        # RFC 3339 allows a lower-case 't' and 'z'; fromisoformat does not.
        value = datetime.fromisoformat(text.upper()) if len(text) <= MAX_SINCE_CHARS else None
    except ValueError:
        value = None
    if value is None:
        raise _bad_since(
            "expected an ISO 8601 date-time (e.g. 2024-05-01T12:00:00Z) or unix seconds",
            "datetime_parsing",
        )
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise _bad_since("out of range once converted to UTC", "datetime_range") from None


@router.get(
    "/drift",
    response_model=DriftResponse,
    responses=error_responses(414, 422, 503),
    summary="Schema-drift events, newest first",
    description="Changes detected in upstream responses against each endpoint's expected "
    "contract, one event per (source, endpoint, field, kind), counted over every run:\n\n"
    "* `missing`: a required field was absent (with `suggestion`, the unexpected field it was "
    "most likely renamed to, and its `confidence`);\n"
    "* `unexpected`: a field the contract does not know;\n"
    "* `type_changed`: a value of a JSON type the contract does not allow.\n\n"
    "Ordered by `last_seen_at` descending (ties by `id`), keyset-paginated: follow "
    "`meta.next_cursor`. An event seen again while you page moves to the front (its "
    "`last_seen_at` changes): poll with `since` to pick up such changes.",
)
async def list_drift(
    request: Request,
    state: State,
    source: p.SourcesParam = None,
    kind: Annotated[
        list[DriftKind] | None,
        Query(max_length=p.MAX_LIST_VALUES, description="Drift kind; repeatable."),
    ] = None,
    since: Annotated[
        SinceText | None,
        Query(
            description="Only events last seen at or after this time: ISO 8601 "
            "(no offset means UTC) or unix seconds.",
            examples=["2024-05-01T00:00:00Z"],
        ),
    ] = None,
    limit: p.LimitParam = 50,
    cursor: p.CursorParam = None,
) -> Response:
    flt = q.DriftFilter(
        sources=tuple(sorted(set(source or ()))),
        kinds=tuple(sorted(set(kind or ()))),
        since=parse_since(since),
    )
    scope = scope_digest("drift", flt.sources, flt.kinds, flt.since)
    after = p.decode_cursor(cursor, scope=scope, key=q.SORT_KEY)
    async with state.reads.connect() as conn:
        page = await q.list_drift(conn, flt, limit=limit, after=after)
    nxt = p.encode_cursor(scope, page.next)
    return page_envelope(
        request, page.events, limit=limit, next_cursor=nxt, sort="last_seen_at", descending=True
    )
