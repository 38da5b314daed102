"""OHLC buckets of one asset's observations (``/assets/{id}/history?interval=``).

A page is a *time window* of ``limit`` buckets, not a row count: its observations come
through an index in time order (on PostgreSQL each of the asset's listings' range of
``uq_observations_listing_key``, ``store.asset_rows``; on SQLite
``ix_observations_asset_observed_id``), so the cost is the rows in the window, whatever the
size of the table (10M+ rows included) or of the asset's history.
Each (source, bucket) gets open/close (first/last by time, then id), high/low (by exact
value: ``NUMERIC`` on PostgreSQL, a REAL sort key over the exact text on SQLite, the text
itself returned), the number of observations, and the close's market cap and volume. One
statement, window functions on both dialects; decimals come back as exact text.

``1h`` and ``1d`` over a range on bucket boundaries (or open) are read from the rollups
instead (``query.candle_rollups``: one row per bucket, the same answer, tested equal);
the windowing and cursors below are the same for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from sqlalchemy import BigInteger, Integer, bindparam, case, cast, func, literal_column, select

from kasparro.query import candle_rollups as from_rollups
from kasparro.query.fastread import Prepared, Reader, dialect_for, in_list, prepare
from kasparro.query.sqltext import decimal_out, decimal_sort, timestamp_out
from kasparro.store.asset_rows import asset_listings, by_listing
from kasparro.store.rollup_schema import ROLLUP_SECONDS
from kasparro.store.schema import observations

BUCKETS: Final[dict[str, int]] = {
    "5m": 300,
    "15m": 900,
    "1h": 3_600,
    "4h": 14_400,
    "1d": 86_400,
    "1w": 604_800,
}

_WEEK_SHIFT: Final = 4 * 86_400  # 1970-01-05, the first Monday
o = observations.c


def _epoch(dialect: str) -> Any:
    if dialect == "sqlite":
        return cast(func.strftime("%s", o.observed_at), Integer)
    return cast(func.floor(func.extract("epoch", o.observed_at)), BigInteger)


@dataclass(frozen=True, slots=True)
class CandlePage:
    candles: list[dict[str, Any]]
    next_start: int | None  # epoch seconds of the next window (the cursor), None: the end


# Open ends of a range, as bounds every dialect compares correctly (SQLite's fixed-width
# timestamp text included).
_EARLIEST: Final = datetime(1, 1, 1, tzinfo=UTC)
_LATEST: Final = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@lru_cache(maxsize=16)
def _edge_statement(dialect: str, last: bool, with_sources: bool) -> Prepared:
    """The first (or last) time in ``[lo, hi)`` of a priced observation of the asset that
    the bucket query would count (the same filters, so a window placed on it has a bucket):
    an index probe from one end of the range (per listing on PostgreSQL)."""
    edge: Any = func.max if last else func.min
    counted = _counted(dialect, with_sources)
    if not by_listing(dialect):
        stmt = select(timestamp_out(edge(o.observed_at), dialect)).where(*counted)
        return prepare(stmt, dialect_for(dialect))
    # PostgreSQL: each of the asset's listings probed from that end of its range of
    # uq_observations_listing_key (store.asset_rows), the edge the newest (oldest) of those.
    listed = _listed(dialect, with_sources)
    probe = (
        select(o.observed_at)
        .where(o.listing_id == listed.c.id, *counted)
        .order_by(o.observed_at.desc() if last else o.observed_at)
        .limit(literal_column("1"))
        .lateral("listing_edge")
    )
    stmt = select(timestamp_out(edge(probe.c.observed_at), dialect)).select_from(
        listed.join(probe, literal_column("true"))
    )
    return prepare(stmt, dialect_for(dialect))


def _counted(dialect: str, with_sources: bool) -> list[Any]:
    """The rows a bucket counts: the asset's priced observations in ``[lo, hi)``."""
    where = [
        o.asset_id == bindparam("asset_id"),
        o.observed_at >= bindparam("lo"),
        o.observed_at < bindparam("hi"),
        o.price_usd.is_not(None),
    ]
    if with_sources:
        where.append(in_list(o.source, bindparam("sources"), dialect))
    return where


def _listed(dialect: str, with_sources: bool) -> Any:
    """The asset's listings (of the sources asked for), for readers without an asset index."""
    sources = (lambda c: in_list(c, bindparam("sources"), dialect)) if with_sources else None
    return asset_listings(lambda c: c == bindparam("asset_id"), sources).subquery("asset_listing")


async def _edge(
    reader: Reader,
    asset_id: int,
    sources: tuple[str, ...],
    lo: datetime,
    hi: datetime,
    *,
    last: bool,
) -> int | None:
    """Epoch seconds of the first (last) counted observation in ``[lo, hi)``, if any."""
    if hi <= lo:
        return None
    params: dict[str, Any] = {"asset_id": asset_id, "lo": lo, "hi": hi}
    if sources:
        params["sources"] = list(sources)
    rows = await reader.fetch(_edge_statement(reader.dialect, last, bool(sources)), params)
    if not rows or rows[0][0] is None:
        return None
    return _epoch_of(datetime.fromisoformat(rows[0][0].replace("Z", "+00:00")))


def _epoch_of(value: datetime) -> int:
    return int(value.astimezone(UTC).timestamp())


def _at(epoch: int) -> datetime:
    """The instant, clamped to the open ends (a window of 1000 weeks may reach past them)."""
    if epoch <= _epoch_of(_EARLIEST):
        return _EARLIEST
    if epoch >= _epoch_of(_LATEST):
        return _LATEST
    return datetime.fromtimestamp(epoch, UTC)


class RetiredRange(ValueError):
    """A range that reaches before the raw retention boundary at an interval (or bounds)
    only raw rows can answer."""

    def __init__(self, retired_before: datetime) -> None:
        super().__init__(
            f"raw observations before {retired_before:%Y-%m-%dT%H:%M:%SZ} were retired "
            "(KASPARRO_OBSERVATION_RETENTION_DAYS): ask for interval=1h or 1d with since and "
            "until on bucket boundaries (served from the rollups), a since after that time, "
            "or read the lake (kasparro export)"
        )
        self.retired_before = retired_before


async def candles(
    reader: Reader,
    asset_id: int,
    *,
    interval: str,
    sources: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    descending: bool,
    limit: int,
    start: int | None,
    rollups: bool = True,
) -> CandlePage:
    """One window of ``limit`` buckets. ``start``: where the window may begin (ascending) or
    end, exclusive (descending), from the previous page's cursor.

    A window starts at the nearest bucket that has data, never on a stretch of empty
    buckets, and a cursor is issued only when data follows it: a page is empty only when
    nothing matches at all, and ``has_more`` never leads to an empty page however sparse
    the history (one CSV point two years before a backfill took 265 empty pages to walk
    past). Two index probes per page find those edges.
    """
    step = BUCKETS[interval]
    shift = _WEEK_SHIFT if step == BUCKETS["1w"] else 0

    def bucket_of(epoch: int) -> int:
        return (epoch - shift) // step * step + shift

    edge_at: Any
    window_of: Any
    if rollups and step in ROLLUP_SECONDS and _aligned(since, step) and _aligned(until, step):
        # One row per bucket from the rollups: the same answer for a range on bucket
        # boundaries (a rollup cannot be cut), at the cost of the buckets, not the rows.
        async def edge_at(lo: datetime, hi: datetime, *, last: bool) -> int | None:
            return await from_rollups.edge(
                reader, asset_id, step, sources, _epoch_of(lo), _epoch_of(hi), last=last
            )

        async def window_of(lo: datetime, hi: datetime) -> list[Any]:
            return await from_rollups.window(
                reader, asset_id, step, sources, _epoch_of(lo), _epoch_of(hi), descending
            )
    else:
        # Raw rows before the retention boundary are gone (but each asset and source's
        # newest): buckets there would be computed from what is left, silently wrong.
        retired = await from_rollups.raw_retired_before(reader)
        if retired is not None:
            if since is not None and since < retired:
                raise RetiredRange(retired)
            since = max(since or retired, retired)

        async def edge_at(lo: datetime, hi: datetime, *, last: bool) -> int | None:
            return await _edge(reader, asset_id, sources, lo, hi, last=last)

        async def window_of(lo: datetime, hi: datetime) -> list[Any]:
            prepared = _window_statement(reader.dialect, step, descending, bool(sources))
            params: dict[str, Any] = {"asset_id": asset_id, "lo": lo, "hi": hi}
            if sources:
                params["sources"] = list(sources)
            return list(await reader.fetch(prepared, params))

    lo_bound = since or _EARLIEST
    hi_bound = until or _LATEST
    if descending:
        upper = min(hi_bound, _at(start)) if start is not None else hi_bound
        newest = await edge_at(lo_bound, upper, last=True)
        if newest is None:
            return CandlePage([], None)
        hi = bucket_of(newest) + step
        lo = hi - limit * step
        window = (max(_at(lo), lo_bound), min(_at(hi), upper))
        more = await edge_at(lo_bound, window[0], last=True)
    else:
        lower = max(lo_bound, _at(start)) if start is not None else lo_bound
        oldest = await edge_at(lower, hi_bound, last=False)
        if oldest is None:
            return CandlePage([], None)
        lo = bucket_of(oldest)
        hi = lo + limit * step
        window = (max(_at(lo), lower), min(_at(hi), hi_bound))
        more = await edge_at(window[1], hi_bound, last=False)
    rows = _shape(await window_of(*window))
    return CandlePage(rows, (lo if descending else hi) if more is not None else None)


def _aligned(bound: datetime | None, step: int) -> bool:
    return bound is None or (bound.microsecond == 0 and _epoch_of(bound) % step == 0)


@lru_cache(maxsize=64)
def _window_statement(dialect: str, step: int, descending: bool, with_sources: bool) -> Prepared:
    """The bucket statement of one shape, compiled once: building this expression tree and
    its cache key per request took ~5 ms, 20x the query itself."""
    # Integer division (epochs are positive); weeks start on Monday, as ISO weeks do (the
    # epoch was a Thursday).
    shift = _WEEK_SHIFT if step == BUCKETS["1w"] else 0
    bucket = (_epoch(dialect) - shift) // step * step + shift
    part = [o.source, bucket]
    price_key = decimal_sort(o.price_usd, dialect)
    inner = select(
        o.source.label("source"),
        bucket.label("bucket"),
        o.observed_at,
        o.price_usd,
        o.market_cap_usd,
        o.volume_24h_usd,
        func.row_number().over(partition_by=part, order_by=[o.observed_at, o.id]).label("rf"),
        func.row_number()
        .over(partition_by=part, order_by=[o.observed_at.desc(), o.id.desc()])
        .label("rl"),
        func.row_number().over(partition_by=part, order_by=[price_key.desc(), o.id]).label("rh"),
        func.row_number().over(partition_by=part, order_by=[price_key, o.id]).label("rn"),
    ).where(*_counted(dialect, with_sources))
    if by_listing(dialect):
        # Each of the asset's listings' range of uq_observations_listing_key (no asset index
        # on PostgreSQL, store.asset_rows).
        inner = inner.where(o.listing_id.in_(select(_listed(dialect, with_sources).c.id)))
    w = inner.subquery()

    def pick(rank: Any, column: Any) -> Any:
        return func.max(case((rank == 1, column)))

    stmt = (
        select(
            w.c.source,
            w.c.bucket,
            decimal_out(pick(w.c.rf, w.c.price_usd), dialect),
            decimal_out(pick(w.c.rh, w.c.price_usd), dialect),
            decimal_out(pick(w.c.rn, w.c.price_usd), dialect),
            decimal_out(pick(w.c.rl, w.c.price_usd), dialect),
            decimal_out(pick(w.c.rl, w.c.market_cap_usd), dialect),
            decimal_out(pick(w.c.rl, w.c.volume_24h_usd), dialect),
            func.count(),
            timestamp_out(func.min(w.c.observed_at), dialect),
            timestamp_out(func.max(w.c.observed_at), dialect),
        )
        .group_by(w.c.source, w.c.bucket)
        .order_by(w.c.bucket.desc() if descending else w.c.bucket, w.c.source)
    )
    return prepare(stmt, dialect_for(dialect))


def _shape(rows: list[Any]) -> list[dict[str, Any]]:
    out = []
    for source, start, open_, high, low, close, cap, volume, n, first, last in rows:
        out.append(
            {
                "bucket_start": datetime.fromtimestamp(int(start), UTC)
                .isoformat()
                .replace("+00:00", "Z"),
                "source": source,
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "market_cap_usd": cap,
                "volume_24h_usd": volume,
                "observations": int(n),
                "first_observed_at": first,
                "last_observed_at": last,
            }
        )
    return out


__all__ = ["BUCKETS", "CandlePage", "candles"]
