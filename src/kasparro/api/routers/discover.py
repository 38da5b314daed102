"""``/assets/top`` (ranking, cross-source spread, cap anomalies) and ``/assets/search``.

Included before the assets router: ``/assets/{asset_id}`` would otherwise claim these paths
(and answer 422 for a non-integer id).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from kasparro.api import params as p
from kasparro.api.deps import State
from kasparro.api.hotpath import cached_object
from kasparro.api.market_schemas import SearchResponse, TopAssetsResponse
from kasparro.api.render import dumps
from kasparro.api.schemas import error_responses
from kasparro.query.search import search_assets
from kasparro.query.top_assets import top_assets

router = APIRouter(prefix="/api/v1", tags=["assets"], dependencies=[Depends(p.strict_query)])


@router.get(
    "/assets/top",
    response_model=TopAssetsResponse,
    responses=error_responses(422, 503),
    summary="Top assets by market cap, with their cross-source spread and cap anomalies",
    description="The `rank_by` source's current quotes (observed within `current_window_s` "
    "of its freshest quote) ranked by market cap. A cap that is implausible against price x "
    "circulating supply or against the whole market (the source's current quotes) is not "
    "ranked: such an asset is listed under `anomalies` with the reasons, when it would "
    "have made the list. Each ranked asset carries the latest quote of every shown `source` "
    "and the spread between those that are current (within `current_window_s` of the "
    "asset's freshest shown quote), naming the sources it compares.",
)
async def get_top_assets(
    request: Request,
    state: State,
    limit: Annotated[int, Query(ge=1, le=100, description="How many to rank (1-100).")] = 10,
    rank_by: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9_.:\-]+$",
            description="The source whose market caps rank the assets (default: the first "
            "live market source).",
        ),
    ] = None,
    source: Annotated[
        list[p.ObservationSource] | None,
        Query(
            max_length=p.MAX_LIST_VALUES,
            description="The sources shown and compared; repeatable. Default: every live "
            "market source (`GET /api/v1/sources`; CSV files are the user's own snapshots).",
        ),
    ] = None,
) -> Response:
    live = state.registry.live_markets()
    sources = tuple(dict.fromkeys(source)) if source else tuple(live)
    rank_by = rank_by or (live[0] if live else "")

    async def compute(engine: AsyncEngine) -> bytes:
        async with engine.connect() as conn:
            report = await top_assets(conn, rank_by=rank_by, sources=sources, limit=limit)
        return dumps(report)

    return await cached_object(
        request, state, ("assets/top", rank_by, sources, limit), lambda t: compute(t.engine)
    )


@router.get(
    "/assets/search",
    response_model=SearchResponse,
    responses=error_responses(422, 503),
    summary="Find assets by the start of a symbol, name or id",
    description="Prefix match (ASCII case-insensitive) on the canonical symbol and name and "
    "on every source's id, symbol and name (`bitcoin`, `btc-bit`, `us`); the canonical "
    "numeric id matches exactly. Exact matches first, then symbol prefixes, then other "
    "prefixes; within each, the most traded asset (24 h volume) first. `markets`: the "
    "sources quoting the asset.",
)
async def search(
    request: Request,
    state: State,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=100,
            # Printable, and not only spaces (NUL cannot even be sent to PostgreSQL).
            pattern=r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$",
            description="The start of a symbol, name or id (`btc`, `bitcoin`, `us`).",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=50, description="At most this many (1-50).")] = 10,
) -> Response:
    async def compute(engine: AsyncEngine) -> bytes:
        async with engine.connect() as conn:
            return dumps(await search_assets(conn, q, limit))

    return await cached_object(
        request, state, ("assets/search", q.strip().lower(), limit), lambda t: compute(t.engine)
    )
