"""Observations for ``/data`` and asset history: one prepared statement per query shape.

Shape = (dialect, sort, direction, latest, which filters are present, cursor state). Every
value is a bind parameter (IN lists included, as one array parameter), so a request only
binds values to an already compiled statement; ``fastread`` runs it in one round trip.

The statement is a *deferred join*: an inner query finds the page's ids using only the
sort key and filters (index-only where possible), and the outer query renders the output
columns for those ≤ limit+1 rows. Rendering (``to_char``, ``trim_scale``) therefore never
runs for rows outside the page, even when a sort needs to scan (e.g. ``price_usd``).

Index use (see ``store/schema.py``):
- default ``observed_at DESC, id DESC`` and its keyset ``(observed_at, id) < (:v, :id)``:
  backward range scan of the primary key ``(observed_at, id)`` on PostgreSQL (migration
  0019), of ``ix_observations_observed_id`` on SQLite;
- ``source``/``since``/``until``: ``ix_observations_source_observed`` or the same index;
- the strings a row shows (symbol, name, source id) are its listing's: one primary-key
  lookup per page row;
- ``asset_id``/``symbol`` (asset history), PostgreSQL: the assets' listings (by
  ``asset_mappings``), then each listing's top rows, a range of
  ``uq_observations_listing_key`` in order, merged (``store.asset_rows``): independent of
  the asset's history length. SQLite: an equality on ``ix_observations_asset_observed_id``,
  a range scan in order (several assets: asset ids first, then that index);
- ``sort=symbol``: listings in ``ix_listings_symbol_ci`` order, each one's rows by
  ``uq_observations_listing_key``;
- ``latest=true`` reads ``latest_observations`` (one row per asset and source, maintained by
  the loader), never a GROUP BY over history.

On PostgreSQL the outer query fetches each page row through a ``LATERAL`` subquery capped
with ``LIMIT 1``: a primary-key lookup per page row. As a plain join the planner prefers a
hash join with a sequential scan of ``observations`` and ``assets`` whenever the tables are
small (a 10k-row store: 3 ms per page instead of 0.4 ms), because its cost model does not
know the page is only ``limit`` rows of a cached table. The cap (not an ``OFFSET 0`` fence)
matters once observations are partitioned: the lookup is estimated at one row per
partition, and uncapped the planner answered it with hash joins over sequential scans of
``assets`` and ``listings`` for every page row (64 ms instead of 1.6 ms for a 100-row
page of a 1M-row store with 17 monthly partitions). ``(observed_at, id)`` is the primary
key, so the cap drops nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    bindparam,
    func,
    literal_column,
    select,
    union,
)
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from kasparro.query import keyset
from kasparro.query.cursor import Position
from kasparro.query.fastread import Prepared, Reader, dialect_for, in_list, prepare
from kasparro.query.keyset import SortKey
from kasparro.query.sqltext import decimal_out, decimal_sort, timestamp_out
from kasparro.store.asset_rows import Match, asset_listings, by_listing
from kasparro.store.schema import (
    LATEST_ROW,
    asset_mappings,
    assets,
    latest_observations,
    listings,
    observations,
)
from kasparro.store.types import ExactDecimal, UTCDateTime

# Output columns, in row order. Values are JSON-ready: str | int | None.
FIELDS: tuple[str, ...] = (
    "id",
    "asset_id",
    "symbol",
    "name",
    "source",
    "source_asset_id",
    "observed_at",
    "price_usd",
    "market_cap_usd",
    "volume_24h_usd",
    "change_24h_pct",
    "market_cap_rank",
    "circulating_supply",
    "total_supply",
    "max_supply",
    "run_id",
    "ingested_at",
    "asset_symbol",
    "asset_name",
)

SORT_FIELDS: tuple[str, ...] = ("observed_at", "price_usd", "market_cap_rank", "symbol")

o = observations.c
lo = latest_observations.c
li = listings.c


@dataclass(frozen=True, slots=True)
class ObservationFilter:
    symbols: tuple[str, ...] = ()  # ASCII case-insensitive; canonical or any source's symbol
    asset_ids: tuple[int, ...] = ()
    sources: tuple[str, ...] = ()
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    latest: bool = False


@dataclass(frozen=True, slots=True)
class ObservationPage:
    rows: list[Any]  # sequences in FIELDS order, plus a trailing raw sort value
    next: Position | None


@lru_cache(maxsize=32)
def sort_key(name: str, dialect: str, latest: bool) -> SortKey:
    """The sort expression for ``name``. With ``latest`` the time order uses the latest
    table's own copy of observed_at/observation_id, so no join is needed to find a page."""
    tiebreak = lo.observation_id if latest else o.id
    if name == "observed_at":
        expr: ColumnElement[Any] = lo.observed_at if latest else o.observed_at
        return SortKey(name, expr, tiebreak, False, "datetime", UTCDateTime())
    if name == "price_usd":
        expr = decimal_sort(o.price_usd, dialect)
        if dialect == "sqlite":
            return SortKey(name, expr, tiebreak, True, "float", expr.type)
        return SortKey(name, expr, tiebreak, True, "decimal", ExactDecimal())
    if name == "market_cap_rank":
        return SortKey(name, o.market_cap_rank, tiebreak, True, "int", Integer())
    if name == "symbol":
        # Ignoring case ("$aapl" next to "$AAPL", not after "$BASED"), as the symbol filter
        # matches. The listing's symbol (what the row shows): ix_listings_symbol_ci gives
        # the order, each listing's rows come from uq_observations_listing_key, and only
        # the rows of one symbol are sorted by id (PostgreSQL's incremental sort).
        return SortKey(name, func.lower(li.symbol), tiebreak, False, "str", String())
    raise ValueError(f"unknown sort field {name!r}")


def _columns(
    dialect: str, oc: Any = o, lc: Any = li, ac: Any = assets.c
) -> list[ColumnElement[Any]]:
    """The output columns, from the observation's, its listing's and its asset's columns
    (the tables', or the page-row lookups' on PostgreSQL)."""

    def d(col: ColumnElement[Any]) -> ColumnElement[Any]:
        return decimal_out(col, dialect)

    return [
        oc.id,
        oc.asset_id,
        lc.symbol,
        lc.name,
        oc.source,
        lc.source_asset_id,
        timestamp_out(oc.observed_at, dialect),
        d(oc.price_usd),
        d(oc.market_cap_usd),
        d(oc.volume_24h_usd),
        d(oc.change_24h_pct),
        oc.market_cap_rank,
        d(oc.circulating_supply),
        d(oc.total_supply),
        d(oc.max_supply),
        oc.run_id,
        timestamp_out(oc.ingested_at, dialect),
        ac.symbol,
        ac.name,
    ]


def _asset_ids_for_symbols(dialect: str) -> Any:
    """Assets whose canonical symbol or any source's symbol matches (ASCII case-insensitive).

    Both tables hold one row per asset / per mapping (thousands, not history), and the
    observations side then becomes an index lookup by asset id.
    """
    wanted: BindParameter[Any] = bindparam("symbols")
    return union(
        select(assets.c.id).where(in_list(func.upper(assets.c.symbol), wanted, dialect)),
        select(asset_mappings.c.asset_id).where(
            in_list(func.upper(asset_mappings.c.source_symbol), wanted, dialect)
        ),
    )


def _match_assets(dialect: str, symbols: bool, asset_ids: bool, one_asset: bool) -> Match | None:
    """The request's asset filter, for any column holding asset ids (the rows' or their
    mappings')."""
    if symbols:
        return lambda col: col.in_(_asset_ids_for_symbols(dialect))
    if one_asset:
        return lambda col: col == bindparam("asset_id", type_=BigInteger())
    if asset_ids:
        return lambda col: in_list(col, bindparam("asset_ids"), dialect, integer=True)
    return None


def _match_sources(dialect: str, sources: bool, one_source: bool) -> Match | None:
    # One source (or asset) is an equality, not ``= ANY(array)``: PostgreSQL reads an index
    # in order only for equalities, and `latest=true&source=x` then walks
    # ix_latest_observations_source_observed instead of sorting the source's latest rows.
    if one_source:
        return lambda col: col == bindparam("source", type_=String())
    if sources:
        return lambda col: in_list(col, bindparam("sources"), dialect)
    return None


@lru_cache(maxsize=512)
def _statement(
    dialect: str,
    sort: str,
    descending: bool,
    latest: bool,
    cursor: str | None,  # None | "value" | "null"
    symbols: bool,
    asset_ids: bool,
    one_asset: bool,
    sources: bool,
    one_source: bool,
    since: bool,
    until: bool,
) -> Select[Any]:
    key = sort_key(sort, dialect, latest)
    # The page carries each row's observed_at with its id: on PostgreSQL observations are
    # partitioned by month, and (observed_at, id) finds a row in one partition, not all.
    at = lo.observed_at if latest else o.observed_at
    inner = select(key.tiebreak.label("id"), key.expr.label("sort_value"), at.label("at"))
    src: Any
    if latest:
        needs_obs = sort != "observed_at"
        src = (
            latest_observations.join(observations, LATEST_ROW) if needs_obs else latest_observations
        )
        asset_col, source_col, time_col = lo.asset_id, lo.source, lo.observed_at
    else:
        src = observations
        asset_col, source_col, time_col = o.asset_id, o.source, o.observed_at
    if sort == "symbol":
        src = src.join(listings, li.id == o.listing_id)
    inner = inner.select_from(src)
    assets_match = _match_assets(dialect, symbols, asset_ids, one_asset)
    sources_match = _match_sources(dialect, sources, one_source)
    if assets_match is not None:
        inner = inner.where(assets_match(asset_col))
    if sources_match is not None:
        inner = inner.where(sources_match(source_col))
    if since:
        inner = inner.where(time_col >= bindparam("since", type_=UTCDateTime()))
    if until:
        inner = inner.where(time_col < bindparam("until", type_=UTCDateTime()))
    if cursor is not None:
        inner = inner.where(keyset.after(key, descending, cursor == "null"))
    lim = bindparam("lim", type_=Integer())
    top = inner.order_by(*keyset.order_by(key, descending)).limit(lim)
    if assets_match is not None and not latest and by_listing(dialect):
        # No asset index here (store.asset_rows): the page is the top rows of each of the
        # assets' listings, merged. Each listing's are a range of uq_observations_listing_key
        # in time order; the page costs at most ``lim`` rows per listing, however long the
        # history.
        listed = asset_listings(assets_match, sources_match).subquery("asset_listing")
        part = top.where(o.listing_id == listed.c.id).lateral("listing_rows")
        merged = SortKey(sort, part.c.sort_value, part.c.id, key.nullable, key.kind, key.bind_type)
        page = (
            select(part.c.id, part.c.sort_value, part.c.at)
            .select_from(listed.join(part, literal_column("true")))
            .order_by(*keyset.order_by(merged, descending))
            .limit(lim)
            .subquery("page")
        )
    else:
        page = top.subquery("page")
    outer_key = SortKey(sort, page.c.sort_value, page.c.id, key.nullable, key.kind, key.bind_type)
    if dialect == "sqlite":
        # SQLite has no LATERAL; its planner already loops over the page by primary key.
        stmt = select(*_columns(dialect), page.c.sort_value).select_from(
            page.join(observations, (o.id == page.c.id) & (o.observed_at == page.c.at))
            .join(assets, assets.c.id == o.asset_id)
            .join(listings, li.id == o.listing_id)
        )
    else:
        # Three one-row lookups per page row, each of one table by its key, so there is no
        # join order to get wrong (see the docstring). Each is fenced from being flattened
        # into a join: the observation by LIMIT 1 (its estimate is otherwise one row per
        # partition), the listing and the asset by OFFSET 0 (their keys' uniqueness gives
        # one row; a LIMIT would make a sequential scan that stops at the first match look
        # cheap on a small table).
        row = (
            select(observations)
            .where(o.id == page.c.id, o.observed_at == page.c.at)
            .limit(literal_column("1"))
            .lateral("page_row")
        )
        listing = (
            select(li.symbol, li.name, li.source_asset_id)
            .where(li.id == row.c.listing_id)
            .offset(literal_column("0"))
            .lateral("page_listing")
        )
        asset = (
            select(assets.c.symbol, assets.c.name)
            .where(assets.c.id == row.c.asset_id)
            .offset(literal_column("0"))
            .lateral("page_asset")
        )
        on: ColumnElement[Any] = literal_column("true")
        stmt = select(*_columns(dialect, row.c, listing.c, asset.c), page.c.sort_value).select_from(
            page.join(row, on).join(listing, on).join(asset, on)
        )
    return stmt.order_by(*keyset.order_by(outer_key, descending))


@lru_cache(maxsize=512)
def _prepared(*shape: Any) -> Prepared:
    # Several assets or sources, or symbols: how selective the values are decides between
    # reading each asset's (source's) rows and walking the time order, so those shapes are
    # planned per request (see ``Prepared.custom_plan``).
    symbols, asset_ids, one_asset, sources, one_source = shape[5:10]
    custom = symbols or (asset_ids and not one_asset) or (sources and not one_source)
    return prepare(_statement(*shape), dialect_for(shape[0]), custom_plan=custom)


def _shape(
    dialect: str, flt: ObservationFilter, sort: str, descending: bool, after: Position | None
) -> tuple[Any, ...]:
    cursor_state = None if after is None else ("null" if after.value is None else "value")
    return (
        dialect,
        sort,
        descending,
        flt.latest,
        cursor_state,
        bool(flt.symbols),
        bool(flt.asset_ids),
        len(set(flt.asset_ids)) == 1,
        bool(flt.sources),
        len(set(flt.sources)) == 1,
        flt.since is not None,
        flt.until is not None,
    )


async def list_observations(
    reader: Reader,
    flt: ObservationFilter,
    *,
    sort: str,
    descending: bool,
    limit: int,
    after: Position | None,
) -> ObservationPage:
    prepared = _prepared(*_shape(reader.dialect, flt, sort, descending, after))
    params: dict[str, Any] = {"lim": limit + 1}  # one extra row tells whether more exist
    if flt.symbols:
        params["symbols"] = [s.upper() for s in flt.symbols]
    if len(set(flt.asset_ids)) == 1:
        params["asset_id"] = flt.asset_ids[0]
    elif flt.asset_ids:
        params["asset_ids"] = list(flt.asset_ids)
    if len(set(flt.sources)) == 1:
        params["source"] = flt.sources[0]
    elif flt.sources:
        params["sources"] = list(flt.sources)
    if flt.since is not None:
        params["since"] = flt.since
    if flt.until is not None:
        params["until"] = flt.until
    if after is not None:
        params[keyset.CURSOR_ID] = after.id
        if after.value is not None:
            params[keyset.CURSOR_VALUE] = after.value
    rows = await reader.fetch(prepared, params)
    if len(rows) <= limit:
        return ObservationPage(list(rows), None)
    rows = list(rows[:limit])
    last = rows[-1]
    value = last[len(FIELDS)]
    if value is not None and sort == "observed_at":
        value = reader.parse_timestamp(value)
    return ObservationPage(rows, Position(value, last[0]))


def prepared_for(
    dialect: str, flt: ObservationFilter, *, sort: str, descending: bool, after: Position | None
) -> Prepared:
    """The prepared statement ``list_observations`` runs for this query (tests EXPLAIN it)."""
    return _prepared(*_shape(dialect, flt, sort, descending, after))
