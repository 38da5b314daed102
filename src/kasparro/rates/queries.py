"""The reference rate's SQL on the read side: one value with its inputs, a keyset-paged
series, and the divergences of the newest buckets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from kasparro.query import keyset
from kasparro.query.cursor import Position
from kasparro.query.fastread import Prepared, Reader, dialect_for, prepare
from kasparro.query.keyset import SortKey
from kasparro.query.sqltext import decimal_out, iso, timestamp_out
from kasparro.rates.method import (
    CURRENT,
    OUTSIDE_BAND,
    REENTRY_PENDING,
    STALE,
)
from kasparro.store.rate_schema import rate_inputs, rates
from kasparro.store.schema import assets
from kasparro.store.types import ExactDecimal, UTCDateTime

SORT_KEY = SortKey(
    "bucket_start",
    rates.c.bucket_start,
    rates.c.asset_id,
    False,
    "datetime",
    rates.c.bucket_start.type,
)

_RATE_FIELDS = (
    "asset_id",
    "interval",
    "method_version",
    "bucket_start",
    "value",
    "low",
    "high",
    "n_inputs",
    "n_partitions",
    "fallback",
    "depeg",
    "computed_at",
)
_INPUT_FIELDS = tuple(
    c.name
    for c in rate_inputs.c
    if c.name not in ("asset_id", "interval", "method_version", "bucket_start")
)


def _rate(row: Any, interval: str) -> dict[str, Any]:
    out = {k: getattr(row, k) for k in _RATE_FIELDS}
    out["bucket_end"] = row.bucket_start + (
        timedelta(minutes=1) if interval == "1m" else timedelta(hours=1)
    )
    return out


_STEP = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1)}


def _out(table: Any, name: str, dialect: str) -> ColumnElement[Any]:
    """A column as JSON-ready text (exact decimals, RFC 3339 times), as ``dumps`` renders
    the typed value, so the page needs no per-field conversion in Python."""
    col = table.c[name]
    if isinstance(col.type, UTCDateTime):
        return timestamp_out(col, dialect)
    if isinstance(col.type, ExactDecimal):
        return decimal_out(col, dialect)
    return col


@lru_cache(maxsize=8)
def _rate_statement(dialect: str, at: bool) -> Prepared:
    """One round trip: the value (the newest bucket, or the newest at or before ``at``),
    its asset's symbol and name, and every input, one row per input (the value's columns
    repeated: cheaper than a second query)."""
    asset_id: Any = bindparam("asset_id")
    interval: Any = bindparam("interval")
    version: Any = bindparam("v")
    newest = select(rates.c.bucket_start).where(
        rates.c.asset_id == asset_id,
        rates.c.interval == interval,
        rates.c.method_version == version,
    )
    if at:
        newest = newest.where(rates.c.bucket_start <= bindparam("at"))
    bucket = newest.order_by(rates.c.bucket_start.desc()).limit(1).scalar_subquery()
    on_inputs = and_(
        rate_inputs.c.asset_id == rates.c.asset_id,
        rate_inputs.c.interval == rates.c.interval,
        rate_inputs.c.method_version == rates.c.method_version,
        rate_inputs.c.bucket_start == rates.c.bucket_start,
    )
    stmt = (
        select(
            *(_out(rates, f, dialect) for f in _RATE_FIELDS),
            assets.c.symbol,
            assets.c.name,
            *(_out(rate_inputs, f, dialect) for f in _INPUT_FIELDS),
        )
        .select_from(
            rates.join(assets, assets.c.id == rates.c.asset_id).outerjoin(rate_inputs, on_inputs)
        )
        .where(
            rates.c.asset_id == asset_id,
            rates.c.interval == interval,
            rates.c.method_version == version,
            rates.c.bucket_start == bucket,
        )
        .order_by(rate_inputs.c.partition, rate_inputs.c.source, rate_inputs.c.market)
    )
    return prepare(stmt, dialect_for(dialect))


_N_RATE = len(_RATE_FIELDS)
_INCLUDED = _INPUT_FIELDS.index("included")


async def rate_page(
    reader: Reader,
    asset_id: int,
    *,
    interval: str = "1m",
    version: str = CURRENT.version,
    at: datetime | None = None,
) -> dict[str, Any] | None:
    """The asset's value of the bucket holding ``at`` or the newest before it (None: the
    newest), with its symbol, name and every input, as JSON-ready values (decimals and
    times as text, as ``api.render.dumps`` writes the typed ones)."""
    params: dict[str, Any] = {"asset_id": asset_id, "interval": interval, "v": version}
    if at is not None:
        params["at"] = at
    rows = await reader.fetch(_rate_statement(reader.dialect, at is not None), params)
    if not rows:
        return None
    first = rows[0]
    out: dict[str, Any] = dict(zip(_RATE_FIELDS, first, strict=False))
    out["fallback"], out["depeg"] = bool(out["fallback"]), bool(out["depeg"])
    start = datetime.fromisoformat(out["bucket_start"])
    out["bucket_end"] = iso(start + _STEP[interval])
    fields = _INPUT_FIELDS
    inputs = []
    if first[_N_RATE + 2] is not None:  # no input row: the outer join's NULLs
        for row in rows:
            item = dict(zip(fields, row[_N_RATE + 2 :], strict=True))
            item["included"] = bool(item["included"])  # SQLite's 0/1
            inputs.append(item)
    out["inputs"] = inputs
    out["symbol"], out["name"] = first[_N_RATE], first[_N_RATE + 1]
    return out


@dataclass(frozen=True, slots=True)
class RatePage:
    items: list[dict[str, Any]]
    next: Position | None


@lru_cache(maxsize=64)
def _page_statement(
    dialect: str, one_asset: bool, since: bool, until: bool, after: bool, descending: bool
) -> Prepared:
    """A page of values as JSON-ready text, then the raw sort value and id (the cursor)."""
    query = select(
        *(_out(rates, f, dialect) for f in _RATE_FIELDS), rates.c.bucket_start, rates.c.asset_id
    ).where(rates.c.interval == bindparam("interval"), rates.c.method_version == bindparam("v"))
    if one_asset:
        query = query.where(rates.c.asset_id == bindparam("asset_id"))
    if since:
        query = query.where(rates.c.bucket_start >= bindparam("since"))
    if until:
        query = query.where(rates.c.bucket_start < bindparam("until"))
    if after:
        query = query.where(keyset.after(SORT_KEY, descending, False))
    query = query.order_by(*keyset.order_by(SORT_KEY, descending)).limit(bindparam("lim"))
    return prepare(query, dialect_for(dialect))


def _json_rate(row: Sequence[Any], interval: str) -> dict[str, Any]:
    out: dict[str, Any] = dict(zip(_RATE_FIELDS, row, strict=False))
    out["fallback"], out["depeg"] = bool(out["fallback"]), bool(out["depeg"])  # SQLite's 0/1
    out["bucket_end"] = iso(datetime.fromisoformat(out["bucket_start"]) + _STEP[interval])
    return out


async def rates_page(
    reader: Reader,
    *,
    asset_id: int | None,
    interval: str,
    version: str,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    after: Position | None,
    descending: bool = False,
) -> RatePage:
    """Values oldest first (ties: asset id; ``descending``: newest first), keyset-paged;
    one asset or every asset; one prepared statement on the fast reader, JSON-ready."""
    prepared = _page_statement(
        reader.dialect,
        asset_id is not None,
        since is not None,
        until is not None,
        after is not None,
        descending,
    )
    params: dict[str, Any] = {"interval": interval, "v": version, "lim": limit + 1}
    if asset_id is not None:
        params["asset_id"] = asset_id
    if since is not None:
        params["since"] = since
    if until is not None:
        params["until"] = until
    if after is not None:
        params[keyset.CURSOR_VALUE] = after.value
        params[keyset.CURSOR_ID] = after.id
    rows = await reader.fetch(prepared, params)
    items = [_json_rate(r, interval) for r in rows[:limit]]
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = Position(reader.parse_timestamp(last[_N_RATE]), last[_N_RATE + 1])
    return RatePage(items, nxt)


async def divergences(
    conn: AsyncConnection,
    *,
    interval: str = "1m",
    version: str = CURRENT.version,
    since: datetime | None = None,
    limit: int = 500,
) -> dict[str, Any]:
    """In each asset's newest bucket since ``since`` (default: the hour before the newest
    bucket): inputs outside the band (aggregators too: measured against the value) or waiting
    to re-enter, stale inputs, and stablecoins off their peg."""
    if since is None:
        newest = (
            await conn.execute(
                select(func.max(rates.c.bucket_start)).where(
                    rates.c.interval == interval, rates.c.method_version == version
                )
            )
        ).scalar_one()
        if newest is None:
            return {"since": None, "depegs": [], "inputs": [], "inputs_truncated": False}
        since = newest - timedelta(hours=1)
    latest = (
        select(rates.c.asset_id, func.max(rates.c.bucket_start).label("bucket_start"))
        .where(
            rates.c.interval == interval,
            rates.c.method_version == version,
            rates.c.bucket_start >= since,
        )
        .group_by(rates.c.asset_id)
        .subquery()
    )
    on_latest = and_(
        rates.c.asset_id == latest.c.asset_id,
        rates.c.bucket_start == latest.c.bucket_start,
        rates.c.interval == interval,
        rates.c.method_version == version,
    )
    depegs = await conn.execute(
        select(rates, assets.c.symbol)
        .join(latest, on_latest)
        .join(assets, assets.c.id == rates.c.asset_id)
        .where(rates.c.depeg.is_(True))
        .order_by(rates.c.asset_id)
    )
    flagged = rate_inputs.c.reason.in_((OUTSIDE_BAND, REENTRY_PENDING, STALE))
    inputs = await conn.execute(
        select(
            rates.c.asset_id,
            assets.c.symbol,
            rates.c.bucket_start,
            rates.c.value,
            *(rate_inputs.c[f] for f in _INPUT_FIELDS),
        )
        .select_from(rates)
        .join(latest, on_latest)
        .join(assets, assets.c.id == rates.c.asset_id)
        .join(
            rate_inputs,
            and_(
                rate_inputs.c.asset_id == rates.c.asset_id,
                rate_inputs.c.interval == rates.c.interval,
                rate_inputs.c.method_version == rates.c.method_version,
                rate_inputs.c.bucket_start == rates.c.bucket_start,
            ),
        )
        .where(flagged)
        .order_by(
            rates.c.asset_id, rate_inputs.c.partition, rate_inputs.c.source, rate_inputs.c.market
        )
        .limit(limit + 1)  # one more: whether the list was cut
    )
    rows = [dict(r._mapping) for r in inputs]
    return {
        "since": since,
        "depegs": [
            {**_rate(r, interval), "symbol": r.symbol, "off_peg": r.value - 1} for r in depegs
        ],
        "inputs": rows[:limit],
        "inputs_truncated": len(rows) > limit,
    }
