"""Candles read from ``observation_rollups`` (1 h and 1 d): one row per bucket and source.

The same answer as the candles computed from raw rows (``query.candles``; tested equal on
both databases, any arrival order), for ranges whose ends fall on bucket boundaries (a
rollup cannot be cut in the middle; other ranges are served from raw rows). Every access
is a range of the rollups' primary key ``(asset_id, bucket_seconds, bucket, source)``, so
the cost is the buckets in the window, whatever the number of observations behind them, and
buckets older than the raw retention window still answer.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func, select

from kasparro.query.fastread import Prepared, Reader, dialect_for, in_list, prepare
from kasparro.query.sqltext import decimal_out, timestamp_out
from kasparro.store.rollup_schema import RETIRED_KEY, observation_rollups
from kasparro.store.schema import store_metadata

r = observation_rollups.c


@lru_cache(maxsize=4)
def _retired_statement(dialect: str) -> Prepared:
    m = store_metadata.c
    stmt = select(m.value).where(m.key == bindparam("key"))
    return prepare(stmt, dialect_for(dialect))


async def raw_retired_before(reader: Reader) -> datetime | None:
    """Where retention has deleted raw observations up to, if it ever ran: before it, only
    the rollups hold every bucket (``load.rollups.mark_retired``)."""
    rows = await reader.fetch(_retired_statement(reader.dialect), {"key": RETIRED_KEY})
    if not rows or rows[0][0] is None:
        return None
    return datetime.fromisoformat(json.loads(rows[0][0]))


def _range(stmt: Any, dialect: str, with_sources: bool) -> Any:
    stmt = stmt.where(
        r.asset_id == bindparam("asset_id"),
        r.bucket_seconds == bindparam("secs"),
        r.bucket >= bindparam("lo"),
        r.bucket < bindparam("hi"),
    )
    if with_sources:
        stmt = stmt.where(in_list(r.source, bindparam("sources"), dialect))
    return stmt


@lru_cache(maxsize=16)
def _edge_statement(dialect: str, last: bool, with_sources: bool) -> Prepared:
    edge = func.max(r.bucket) if last else func.min(r.bucket)
    return prepare(_range(select(edge), dialect, with_sources), dialect_for(dialect))


def _params(asset_id: int, secs: int, sources: tuple[str, ...], lo: int, hi: int) -> dict[str, Any]:
    params: dict[str, Any] = {"asset_id": asset_id, "secs": secs, "lo": lo, "hi": hi}
    if sources:
        params["sources"] = list(sources)
    return params


async def edge(
    reader: Reader,
    asset_id: int,
    secs: int,
    sources: tuple[str, ...],
    lo: int,
    hi: int,
    *,
    last: bool,
) -> int | None:
    """The first (last) bucket with data in ``[lo, hi)`` (epoch seconds), if any."""
    if hi <= lo:
        return None
    rows = await reader.fetch(
        _edge_statement(reader.dialect, last, bool(sources)),
        _params(asset_id, secs, sources, lo, hi),
    )
    if not rows or rows[0][0] is None:
        return None
    return int(rows[0][0])


@lru_cache(maxsize=16)
def _window_statement(dialect: str, descending: bool, with_sources: bool) -> Prepared:
    stmt = select(
        r.source,
        r.bucket,
        decimal_out(r.open_price, dialect),
        decimal_out(r.high_price, dialect),
        decimal_out(r.low_price, dialect),
        decimal_out(r.close_price, dialect),
        decimal_out(r.market_cap_usd, dialect),
        decimal_out(r.volume_24h_usd, dialect),
        r.observations,
        timestamp_out(r.open_at, dialect),
        timestamp_out(r.close_at, dialect),
    )
    stmt = _range(stmt, dialect, with_sources).order_by(
        r.bucket.desc() if descending else r.bucket, r.source
    )
    return prepare(stmt, dialect_for(dialect))


async def window(
    reader: Reader,
    asset_id: int,
    secs: int,
    sources: tuple[str, ...],
    lo: int,
    hi: int,
    descending: bool,
) -> list[Any]:
    """Rows shaped as the raw candle statement's: source, bucket, open, high, low, close,
    market cap, volume, count, first and last observed_at."""
    prepared = _window_statement(reader.dialect, descending, bool(sources))
    return list(await reader.fetch(prepared, _params(asset_id, secs, sources, lo, hi)))


__all__ = ["edge", "window"]
