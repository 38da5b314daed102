"""Canonical assets, one asset, and one asset's observation history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import BigInteger
from starlette.responses import Response

from kasparro.api import params as p
from kasparro.api.cache import CachedPage
from kasparro.api.deps import State
from kasparro.api.errors import InvalidParameter, NotFound, merged_asset
from kasparro.api.hotpath import cached_page, observation_page
from kasparro.api.queryspec import Param, QuerySpec
from kasparro.api.render import dumps, envelope, page_envelope
from kasparro.api.routers.data import COMMON
from kasparro.api.schemas import (
    AssetResponse,
    AssetsResponse,
    CandlesResponse,
    HistoryResponse,
    error_responses,
)
from kasparro.query import aliases as q_aliases
from kasparro.query import assets as q_assets
from kasparro.query.candles import BUCKETS, RetiredRange, candles
from kasparro.query.cursor import Position, scope_digest
from kasparro.query.fastread import Reader
from kasparro.query.keyset import SortKey
from kasparro.query.observations import ObservationFilter
from kasparro.store.schema import observations

router = APIRouter(prefix="/api/v1", tags=["assets"])
STRICT = [Depends(p.strict_query)]

HISTORY_SPEC = QuerySpec(
    *COMMON,
    Param("order", "enum", "Direction by `observed_at`.", default="desc", choices=("asc", "desc")),
    Param(
        "interval",
        "enum",
        "OHLC buckets instead of observations: open/high/low/close of the price per source "
        "and bucket, with the close's market cap and volume and the number of observations. "
        "`limit` then counts buckets, each with a row per source (`limit=3` over two "
        "sources: up to 6 rows); a page is a time window, so it costs the same on any "
        "table size.",
        choices=tuple(BUCKETS),
    ),
)
BUCKET_CURSOR = SortKey("bucket", observations.c.id, observations.c.id, False, "int", BigInteger())

AssetSort = Literal["id", "-id", "symbol", "-symbol"]
AssetIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="Canonical asset id.")]


@router.get(
    "/assets",
    dependencies=STRICT,
    response_model=AssetsResponse,
    responses=error_responses(422, 503),
    summary="Canonical assets with per-source ids and latest prices",
    description="Each asset lists every `(source, source_asset_id)` mapped to it with the "
    "link method (`override`, `contract`, `symbol_name`, `market_cap_tiebreak`, `manual`, "
    "`new`, `ambiguous`), its evidence, and its latest observation per source. Merged "
    "assets are not listed (their ids redirect). Keyset-paginated; default order `id` "
    "ascending.",
)
async def list_assets(
    request: Request,
    state: State,
    symbol: p.SymbolsParam = None,
    source: Annotated[
        list[p.ObservationSource] | None,
        Query(
            max_length=p.MAX_LIST_VALUES,
            description="Only assets mapped from this source; repeatable.",
        ),
    ] = None,
    sort: Annotated[AssetSort | None, Query(description="`id` or `symbol`, `-` for desc.")] = None,
    order: p.OrderParam = None,
    limit: p.LimitParam = 100,
    cursor: p.CursorParam = None,
) -> Response:
    field, descending = p.parse_sort(
        sort, order, allowed=q_assets.SORT_FIELDS, default=("id", False)
    )
    symbols = tuple(symbol or ())
    sources = tuple(source or ())
    scope = scope_digest(
        "assets", field, descending, sorted({s.upper() for s in symbols}), sorted(set(sources))
    )
    after = p.decode_cursor(cursor, scope=scope, key=q_assets.sort_key(field))
    async with state.reads.connect() as conn:
        page = await q_assets.list_assets(
            conn,
            symbols=symbols,
            sources=sources,
            sort=field,
            descending=descending,
            limit=limit,
            after=after,
        )
    return page_envelope(
        request,
        page.assets,
        limit=limit,
        next_cursor=p.encode_cursor(scope, page.next),
        sort=field,
        descending=descending,
    )


@router.get(
    "/assets/{asset_id}",
    dependencies=STRICT,
    response_model=AssetResponse,
    responses=error_responses(308, 404, 422, 503),
    summary="One canonical asset",
    description="Every source id of the asset with its link method and evidence, the "
    "latest observation per source, and the assets merged into it. The id of a merged "
    "asset answers 308 with `Location` pointing at the asset it was merged into.",
)
async def get_asset(request: Request, state: State, asset_id: AssetIdPath) -> Response:
    async with state.reads.connect() as conn:
        asset = await q_assets.get_asset(conn, asset_id)
        if asset is not None and asset["alias_of"] is not None:
            raise merged_asset(request, asset_id, asset["alias_of"])
        if asset is not None:
            asset["merged_from"] = await q_aliases.merged_into(conn, asset_id)
    if asset is None:
        raise NotFound(f"asset {asset_id} does not exist", details={"asset_id": asset_id})
    del asset["alias_of"]
    return envelope(request, asset)


@router.get(
    "/assets/{asset_id}/history",
    response_model=HistoryResponse | CandlesResponse,
    responses=error_responses(308, 404, 422, 503),
    summary="Observation history of one asset, or its OHLC buckets",
    description="Time series of the asset's observations from every (or the given) source, "
    "by `observed_at` (default newest first), keyset-paginated like `/data`. With "
    "`interval=` (5m, 15m, 1h, 4h, 1d, 1w): OHLC buckets per source instead, built from "
    "the observations (market runs and backfills alike).",
    openapi_extra={"parameters": HISTORY_SPEC.openapi()},
)
async def asset_history(request: Request, state: State, asset_id: AssetIdPath) -> Response:
    q = HISTORY_SPEC.parse(request.scope["query_string"])
    since, until = p.time_range(q["since"], q["until"])
    if q["interval"]:
        return await _bucketed(request, state, asset_id, q, since, until)

    flt = ObservationFilter(
        asset_ids=(asset_id,), sources=tuple(q["source"]), since=since, until=until
    )
    return await observation_page(
        request,
        state,
        endpoint=f"history:{asset_id}",
        flt=flt,
        sort="observed_at",
        descending=q["order"] == "desc",
        limit=q["limit"],
        cursor=q["cursor"],
        on_empty=_existence_check(request, state, asset_id),
        asset_id=asset_id,
    )


def _existence_check(
    request: Request, state: State, asset_id: int
) -> Callable[[Reader], Awaitable[None]]:
    """404 or 308 for an asset whose history page came back empty. Only for empty pages:
    rows of a non-empty page prove the asset exists (FK), and a merged asset has no
    observations left."""

    async def must_exist(reader: Reader) -> None:
        found, alias_of = await q_assets.asset_status(reader, asset_id)
        if not found:
            raise NotFound(f"asset {asset_id} does not exist", details={"asset_id": asset_id})
        if alias_of is not None:
            raise merged_asset(request, asset_id, alias_of)

    return must_exist


async def _bucketed(
    request: Request,
    state: State,
    asset_id: int,
    q: dict[str, Any],
    since: datetime | None,
    until: datetime | None,
) -> Response:
    sources = tuple(sorted(set(q["source"])))
    descending = q["order"] == "desc"
    parts = (f"candles:{asset_id}", q["interval"], descending, sources, since, until)
    scope = scope_digest(*parts)
    after = p.decode_cursor(q["cursor"], scope=scope, key=BUCKET_CURSOR)
    start = int(after.value) if after else None

    async def compute(reader: Reader) -> CachedPage:
        try:
            page = await candles(
                reader,
                asset_id,
                interval=q["interval"],
                sources=sources,
                since=since,
                until=until,
                descending=descending,
                limit=q["limit"],
                start=start,
            )
        except RetiredRange as exc:
            raise InvalidParameter(
                str(exc), details=[{"loc": "query.since", "message": str(exc), "type": "retired"}]
            ) from None
        nxt = Position(page.next_start, page.next_start) if page.next_start is not None else None
        return CachedPage(dumps(page.candles), len(page.candles), p.encode_cursor(scope, nxt))

    return await cached_page(
        request,
        state,
        (*parts, q["limit"], start),  # the inputs, not their digest (as observation_page)
        compute,
        limit=q["limit"],
        sort="bucket_start",
        descending=descending,
        on_empty=_existence_check(request, state, asset_id),
    )
