"""OHLC buckets of one asset's observations (``/assets/{id}/history?interval=``).

A page is a *time window* of ``limit`` buckets, not a row count: its observations come
through ``ix_observations_asset_observed_id`` (asset, then time), so the cost is the rows in
the window, whatever the size of the table (10M+ rows included) or of the asset's history.
Each (source, bucket) gets open/close (first/last by time, then id), high/low (by exact
value: ``NUMERIC`` on PostgreSQL, a REAL sort key over the exact text on SQLite, the text
itself returned), the number of observations, and the close's market cap and volume. One
statement, window functions on both dialects; decimals come back as exact text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from sqlalchemy import BigInteger, Integer, bindparam, case, cast, func, select

from kasparro.query.fastread import Prepared, Reader, dialect_for, in_list, prepare
from kasparro.query.sqltext import decimal_out, decimal_sort, timestamp_out
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


@lru_cache(maxsize=8)
def _span_statement(dialect: str, with_sources: bool) -> Prepared:
    stmt = select(func.min(o.observed_at), func.max(o.observed_at)).where(
        o.asset_id == bindparam("asset_id")
    )
    if with_sources:
        stmt = stmt.where(in_list(o.source, bindparam("sources"), dialect))
    return prepare(stmt, dialect_for(dialect))


async def asset_span(
    reader: Reader, asset_id: int, sources: tuple[str, ...] = ()
) -> tuple[datetime, datetime] | None:
    """The first and last observation time of the asset, of ``sources`` only when given
    (index probes: a page of some sources starts at *their* newest data, not at another
    source's far-off point)."""
    params: dict[str, Any] = {"asset_id": asset_id}
    if sources:
        params["sources"] = list(sources)
    rows = await reader.fetch(_span_statement(reader.dialect, bool(sources)), params)
    if not rows or rows[0][0] is None:
        return None
    return reader.parse_timestamp(rows[0][0]), reader.parse_timestamp(rows[0][1])


def _epoch_of(value: datetime) -> int:
    return int(value.astimezone(UTC).timestamp())


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
) -> CandlePage:
    """One window of ``limit`` buckets. ``start``: the window's first bucket (ascending) or
    the bucket after its last one (descending), from the previous page's cursor."""
    step = BUCKETS[interval]
    span = await asset_span(reader, asset_id, sources)
    if span is None:
        return CandlePage([], None)
    lo_all = _epoch_of(since) if since else _epoch_of(span[0])
    hi_all = _epoch_of(until) if until else _epoch_of(span[1]) + 1  # exclusive
    lo_all = max(lo_all, _epoch_of(span[0]))
    hi_all = min(hi_all, _epoch_of(span[1]) + 1)
    if hi_all <= lo_all:
        return CandlePage([], None)
    shift = _WEEK_SHIFT if step == BUCKETS["1w"] else 0
    if descending:
        hi = start if start is not None else (hi_all - 1 - shift) // step * step + step + shift
        lo = hi - limit * step
        next_start = lo if lo > lo_all else None
    else:
        lo = start if start is not None else (lo_all - shift) // step * step + shift
        hi = lo + limit * step
        next_start = hi if hi < hi_all else None
    window_lo, window_hi = max(lo, lo_all), min(hi, hi_all)
    rows = await _window(reader, asset_id, sources, step, window_lo, window_hi, descending)
    return CandlePage(rows, next_start)


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
    ).where(
        o.asset_id == bindparam("asset_id"),
        o.observed_at >= bindparam("lo"),
        o.observed_at < bindparam("hi"),
        o.price_usd.is_not(None),
    )
    if with_sources:
        inner = inner.where(in_list(o.source, bindparam("sources"), dialect))
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


async def _window(
    reader: Reader,
    asset_id: int,
    sources: tuple[str, ...],
    step: int,
    lo: int,
    hi: int,
    descending: bool,
) -> list[dict[str, Any]]:
    prepared = _window_statement(reader.dialect, step, descending, bool(sources))
    params: dict[str, Any] = {
        "asset_id": asset_id,
        "lo": datetime.fromtimestamp(lo, UTC),
        "hi": datetime.fromtimestamp(hi, UTC),
    }
    if sources:
        params["sources"] = list(sources)
    out = []
    rows = await reader.fetch(prepared, params)
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


__all__ = ["BUCKETS", "CandlePage", "asset_span", "candles"]
