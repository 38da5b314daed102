"""``GET /api/v1/quarantine``: records the ETL rejected, with their reason and raw form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from kasparro.api import params as p
from kasparro.api.deps import State
from kasparro.api.ops_schemas import QuarantineResponse
from kasparro.api.render import page_envelope
from kasparro.api.schemas import error_responses
from kasparro.query import quarantine as q
from kasparro.query.cursor import Position, scope_digest

router = APIRouter(prefix="/api/v1", tags=["quarantine"], dependencies=[Depends(p.strict_query)])


@router.get(
    "/quarantine",
    response_model=QuarantineResponse,
    responses=error_responses(414, 422, 503),
    summary="Quarantined records, newest first",
    description="Upstream records that failed validation. They are never dropped silently: "
    "each is kept once per (source, content) with the reason, the raw record, the first and "
    "last run that rejected it and how many times. `run_id` matches the last run that "
    "rejected a record. Newest first by `id`, keyset-paginated: follow `meta.next_cursor`.",
)
async def list_quarantine(
    request: Request,
    state: State,
    source: p.SourcesParam = None,
    run_id: Annotated[
        int | None,
        Query(
            ge=1,
            le=2**63 - 1,
            description="Only records last rejected by this run.",
            examples=[7],
        ),
    ] = None,
    limit: p.LimitParam = 50,
    cursor: p.CursorParam = None,
) -> Response:
    flt = q.QuarantineFilter(sources=tuple(sorted(set(source or ()))), run_id=run_id)
    scope = scope_digest("quarantine", flt.sources, flt.run_id)
    after = p.decode_cursor(cursor, scope=scope, key=q.ID_SORT_KEY)
    async with state.reads.connect() as conn:
        page = await q.list_quarantine(
            conn, flt, limit=limit, before_id=after.id if after else None
        )
    nxt = p.encode_cursor(scope, Position(page.next_id, page.next_id)) if page.next_id else None
    return page_envelope(
        request, page.records, limit=limit, next_cursor=nxt, sort="id", descending=True
    )
