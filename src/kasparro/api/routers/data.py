"""``GET /api/v1/data``: normalized observations, filtered, sorted, keyset-paginated.

The hot path: parameters parsed by a ``QuerySpec`` (no per-parameter pydantic work), pages
served from the version-checked cache or fetched in one round trip, JSON assembled with
orjson straight into the response body.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from kasparro.api import params as p
from kasparro.api.hotpath import observation_page
from kasparro.api.names import Names
from kasparro.api.queryspec import Param, QuerySpec
from kasparro.api.schemas import DataResponse, error_responses
from kasparro.api.state import AppState
from kasparro.query import cursor as cursors
from kasparro.query.aliases import resolve_aliases
from kasparro.query.observations import SORT_FIELDS, ObservationFilter

router = APIRouter(prefix="/api/v1", tags=["data"])

SORT_CHOICES = tuple(v for f in SORT_FIELDS for v in (f, f"-{f}"))

COMMON = (
    Param(
        "source",
        "names",
        "Source name; repeat for several (`source=coingecko&source=csv`). A backfill's "
        "history is recorded under its API's name (`coingecko`, not `coingecko_history`).",
        repeatable=True,
        names=Names.OBSERVATION,
        example="coingecko",
    ),
    Param(
        "since",
        "datetime",
        "Only observations with `observed_at >= since`: ISO 8601 "
        "(no offset means UTC) or unix seconds.",
        example="2024-05-01T00:00:00Z",
    ),
    Param(
        "until",
        "datetime",
        "Only observations with `observed_at < until` (exclusive).",
        example="2024-05-02T00:00:00Z",
    ),
    Param("limit", "int", "Page size (1-1000).", default=100, ge=1, le=1000, example=100),
    Param(
        "cursor",
        "str",
        p.CURSOR_DOC,
        min_length=cursors.MIN_CURSOR_CHARS,
        max_length=cursors.MAX_CURSOR_CHARS,
        pattern=cursors.CURSOR_PATTERN,
    ),
)

DATA_SPEC = QuerySpec(
    Param(
        "symbol",
        "str",
        "Ticker symbol, ASCII case-insensitive, matched against the "
        "canonical symbol and every source's symbol; repeatable.",
        repeatable=True,
        max_length=64,
        example="BTC",
    ),
    Param(
        "asset_id", "int", "Canonical asset id; repeatable.", repeatable=True, ge=1, le=2**63 - 1
    ),
    *COMMON,
    Param("latest", "bool", "Only the newest observation per asset and source.", default=False),
    Param(
        "sort",
        "enum",
        "Sort field; prefix `-` for descending. Default `-observed_at`. "
        "NULLs sort last in both directions; ties are broken by `id`.",
        choices=SORT_CHOICES,
    ),
    Param(
        "order", "enum", "Sort direction (alternative to the `-` prefix).", choices=("asc", "desc")
    ),
)


@router.get(
    "/data",
    response_model=DataResponse,
    responses=error_responses(414, 422, 503),
    summary="Normalized market observations",
    description=(
        "Observations from every source, each with its canonical asset.\n\n"
        "**Sorting**: `sort` is one of `observed_at`, `price_usd`, `market_cap_rank`, "
        "`symbol`; prefix with `-` (or pass `order=desc`) for descending. Default: "
        "`-observed_at`. NULLs (e.g. no rank) always come last. Ties are broken by `id`.\n\n"
        "**Pagination**: keyset. Follow `meta.next_cursor` until it is null; pages never "
        "skip or repeat rows while new data is being loaded.\n\n"
        "**latest=true** returns only the newest observation per asset and source.\n\n"
        "Decimals are exact strings; unknown query parameters are rejected with 422."
    ),
    openapi_extra={"parameters": DATA_SPEC.openapi()},
)
async def get_data(request: Request) -> Response:
    state: AppState = request.app.state.kasparro
    q = DATA_SPEC.parse(request.scope["query_string"])
    field, descending = p.parse_sort(
        q["sort"], q["order"], allowed=SORT_FIELDS, default=("observed_at", True)
    )
    since, until = p.time_range(q["since"], q["until"])
    asset_ids = tuple(q["asset_id"])
    if asset_ids:
        # A merged asset's id means the asset it was merged into (one primary-key probe,
        # only when asset_id is given).
        async with state.reads.connect() as conn:
            asset_ids = await resolve_aliases(conn, asset_ids)
    flt = ObservationFilter(
        symbols=tuple(q["symbol"]),
        asset_ids=asset_ids,
        sources=tuple(q["source"]),
        since=since,
        until=until,
        latest=q["latest"],
    )
    return await observation_page(
        request,
        state,
        endpoint="data",
        flt=flt,
        sort=field,
        descending=descending,
        limit=q["limit"],
        cursor=q["cursor"],
        latest=flt.latest,
    )
