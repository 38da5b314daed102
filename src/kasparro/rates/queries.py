"""The reference rate's SQL on the read side: one value with its inputs, a keyset-paged
series, and the divergences of the newest buckets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.query import keyset
from kasparro.query.cursor import Position
from kasparro.query.keyset import SortKey
from kasparro.rates.method import (
    CURRENT,
    OUTSIDE_BAND,
    REENTRY_PENDING,
    STALE,
)
from kasparro.store.rate_schema import rate_inputs, rates
from kasparro.store.schema import assets

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


async def asset_exists(conn: AsyncConnection, asset_id: int) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(assets.c.id, assets.c.symbol, assets.c.name, assets.c.alias_of).where(
                assets.c.id == asset_id
            )
        )
    ).one_or_none()
    return dict(row._mapping) if row is not None else None


async def rate_at(
    conn: AsyncConnection,
    asset_id: int,
    *,
    interval: str = "1m",
    version: str = CURRENT.version,
    at: datetime | None = None,
) -> dict[str, Any] | None:
    """The asset's value of the bucket holding ``at`` or the newest before it (None: the
    newest), with every input of it."""
    query = select(rates).where(
        rates.c.asset_id == asset_id,
        rates.c.interval == interval,
        rates.c.method_version == version,
    )
    if at is not None:
        query = query.where(rates.c.bucket_start <= at)
    row = (await conn.execute(query.order_by(rates.c.bucket_start.desc()).limit(1))).one_or_none()
    if row is None:
        return None
    inputs = await conn.execute(
        select(*(rate_inputs.c[f] for f in _INPUT_FIELDS))
        .where(
            rate_inputs.c.asset_id == asset_id,
            rate_inputs.c.interval == interval,
            rate_inputs.c.method_version == version,
            rate_inputs.c.bucket_start == row.bucket_start,
        )
        .order_by(rate_inputs.c.partition, rate_inputs.c.source, rate_inputs.c.market)
    )
    out = _rate(row, interval)
    out["inputs"] = [dict(i._mapping) for i in inputs]
    return out


@dataclass(frozen=True, slots=True)
class RatePage:
    items: list[dict[str, Any]]
    next: Position | None


async def rates_page(
    conn: AsyncConnection,
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
    one asset or every asset."""
    query = select(rates).where(rates.c.interval == interval, rates.c.method_version == version)
    if asset_id is not None:
        query = query.where(rates.c.asset_id == asset_id)
    if since is not None:
        query = query.where(rates.c.bucket_start >= since)
    if until is not None:
        query = query.where(rates.c.bucket_start < until)
    params: dict[str, Any] = {}
    if after is not None:
        query = query.where(keyset.after(SORT_KEY, descending, False))
        params = {keyset.CURSOR_VALUE: after.value, keyset.CURSOR_ID: after.id}
    query = query.order_by(*keyset.order_by(SORT_KEY, descending)).limit(limit + 1)
    rows = (await conn.execute(query, params)).all()
    items = [_rate(r, interval) for r in rows[:limit]]
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = Position(last.bucket_start, last.asset_id)
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
