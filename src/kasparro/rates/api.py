"""The reference rate over HTTP: one value with its inputs, a series, the divergences."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from kasparro.api import params as p
from kasparro.api.cache import CachedPage
from kasparro.api.deps import State
from kasparro.api.errors import InvalidParameter, NotFound, merged_asset
from kasparro.api.hotpath import cached_object, cached_target_page
from kasparro.api.queryspec import Param, QuerySpec
from kasparro.api.reads import ReadTarget
from kasparro.api.render import dumps, envelope
from kasparro.api.schemas import error_responses
from kasparro.query import assets as q_assets
from kasparro.query.cursor import scope_digest
from kasparro.rates import queries as q
from kasparro.rates.method import CURRENT
from kasparro.rates.schemas import DivergencesResponse, RateResponse, RatesResponse
from kasparro.timetext import INSTANT_PATTERN, WhenError, parse_instant

router = APIRouter(prefix="/api/v1", tags=["rates"], dependencies=[Depends(p.strict_query)])

INTERVALS = ("1m", "1h")
IntervalParam = Annotated[
    Literal["1m", "1h"], Query(description="The bucket: one minute or one hour.")
]
VersionParam = Annotated[
    str,
    Query(
        min_length=1,
        max_length=16,
        description="The methodology version (default: the current one); older values keep "
        "the version they were computed with.",
    ),
]


def _when(description: str) -> Any:
    """A time query parameter in exactly the documented forms (as ``/data``'s)."""
    return Query(
        pattern=INSTANT_PATTERN,
        max_length=64,
        description=description + " ISO 8601 (no offset means UTC) or unix seconds.",
        examples=["2024-05-01T12:00:00Z"],
    )


def _instant(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        return parse_instant(raw)
    except WhenError:
        message = "not a date on the calendar, or out of range"
        raise InvalidParameter(
            f"query parameter {name!r}: {message}",
            details=[{"loc": f"query.{name}", "message": message, "type": "datetime_range"}],
        ) from None


AssetIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="Canonical asset id.")]
METHOD = "Methodology: docs/reference-rate.md."


# The hot route has its own router: its query string is parsed by a QuerySpec (as /data's),
# not by FastAPI's per-parameter validation, which cost more than serving the cached page
# (profiled: BENCHMARKS.md, benchmark 11); the spec is strict on its own, so the router's
# strict_query dependency would reject its (undeclared) parameters.
hot_router = APIRouter(prefix="/api/v1", tags=["rates"])

RATE_SPEC = QuerySpec(
    Param(
        "at",
        "datetime",
        "The bucket holding this time. ISO 8601 (no offset means UTC) or unix seconds.",
        example="2024-05-01T12:00:00Z",
    ),
    Param(
        "interval", "enum", "The bucket: one minute or one hour.", default="1m", choices=INTERVALS
    ),
    Param(
        "method_version",
        "str",
        "The methodology version (default: the current one); older values keep the version "
        "they were computed with.",
        default=CURRENT.version,
        max_length=16,
    ),
)


@hot_router.get(
    "/assets/{asset_id}/rate",
    response_model=RateResponse,
    responses=error_responses(308, 404, 422, 503),
    summary="An asset's reference rate, with every input",
    description="The newest value, or the one of the bucket holding `at`: value, confidence "
    "band, and every input (source, market, price in its quote currency, the conversion used, "
    "USD price, weight, included or excluded with the reason). The value can be recomputed "
    "from the included inputs alone. " + METHOD,
    openapi_extra={"parameters": RATE_SPEC.openapi()},
)
async def asset_rate(request: Request, state: State, asset_id: AssetIdPath) -> Response:
    params = RATE_SPEC.parse(request.scope["query_string"])
    when: datetime | None = params["at"]
    interval: str = params["interval"]
    method_version: str = params["method_version"]

    async def page(target: ReadTarget) -> bytes:
        # Reused while the serving database has not changed (api.cache, api.reads); a miss
        # is one prepared statement on the fast reader, its columns already JSON-ready.
        found, alias_of = await q_assets.asset_status(target.reader, asset_id)
        if not found:
            raise NotFound(f"asset {asset_id} not found", details={"asset_id": asset_id})
        if alias_of is not None:  # its coins (and their rate) live on under the target
            raise merged_asset(request, asset_id, alias_of)
        rate = await q.rate_page(
            target.reader, asset_id, interval=interval, version=method_version, at=when
        )
        if rate is None:
            raise NotFound(
                f"no {interval} reference rate for asset {asset_id}"
                + (f" at or before {when.isoformat()}" if when else "")
                + " (it needs quotes from two venues, or two sources as a fallback)"
            )
        return dumps(rate)

    return await cached_object(
        request, state, ("rate", asset_id, interval, method_version, when), page
    )


@router.get(
    "/rates",
    response_model=RatesResponse,
    responses=error_responses(422, 503),
    summary="Reference rates over time, keyset-paged",
    description="Values oldest bucket first (ties by asset id; `order=desc`: newest first), "
    "for one asset or every asset, without their inputs (`/assets/{id}/rate?at=` has them); follow "
    "`meta.next_cursor`. " + METHOD,
)
async def list_rates(
    request: Request,
    state: State,
    asset_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    interval: IntervalParam = "1m",
    since: Annotated[str | None, _when("Buckets starting at or after this time.")] = None,
    until: Annotated[str | None, _when("Buckets starting before this time.")] = None,
    method_version: VersionParam = CURRENT.version,
    order: p.OrderParam = None,
    limit: p.LimitParam = 100,
    cursor: p.CursorParam = None,
) -> Response:
    start, end = p.time_range(_instant(since, "since"), _instant(until, "until"))
    descending = order == "desc"
    scope = scope_digest("rates", asset_id, interval, start, end, method_version, descending)
    after = p.decode_cursor(cursor, scope=scope, key=q.SORT_KEY)

    async def compute(target: ReadTarget) -> CachedPage:
        # Cached like /data's pages (the bytes, spliced with a fresh meta); a miss is one
        # prepared statement on the fast reader.
        page = await q.rates_page(
            target.reader,
            asset_id=asset_id,
            interval=interval,
            version=method_version,
            since=start,
            until=end,
            limit=limit,
            after=after,
            descending=descending,
        )
        return CachedPage(dumps(page.items), len(page.items), p.encode_cursor(scope, page.next))

    key = ("rates", asset_id, interval, start, end, method_version, descending, limit, after)
    return await cached_target_page(
        request, state, key, compute, limit=limit, sort="bucket_start", descending=descending
    )


@router.get(
    "/divergences",
    response_model=DivergencesResponse,
    responses=error_responses(422, 503),
    summary="Where sources disagree with the reference rate",
    description="In each asset's newest bucket since `since` (default: the hour before the "
    "newest bucket): venues or aggregators outside the deviation band, venues waiting to "
    "re-enter it, stale inputs, and stablecoins more than 0.5 % off their peg. " + METHOD,
)
async def list_divergences(
    request: Request,
    state: State,
    since: Annotated[str | None, _when("The newest bucket of each asset since this time.")] = None,
    interval: IntervalParam = "1m",
    method_version: VersionParam = CURRENT.version,
    limit: Annotated[int, Query(ge=1, le=5000, description="At most this many inputs.")] = 500,
) -> Response:
    async with state.reads.connect() as conn:
        data = await q.divergences(
            conn,
            interval=interval,
            version=method_version,
            since=_instant(since, "since"),
            limit=limit,
        )
    return envelope(request, data)
