"""Canonical assets with their per-source mappings and latest observation per source.

A page is three indexed queries: the assets page (primary key or ``ix_assets_symbol_ci``
order), their mappings (``ix_asset_mappings_asset``) and their latest observations
(``latest_observations`` primary key, then ``observations`` by primary key).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import BigInteger, Integer, Select, String, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from kasparro.query import keyset
from kasparro.query.cursor import Position
from kasparro.query.fastread import Prepared, Reader, dialect_for, prepare
from kasparro.query.keyset import SortKey
from kasparro.query.sqltext import decimal_out, timestamp_out
from kasparro.store.schema import (
    LATEST_ROW,
    asset_mappings,
    assets,
    latest_observations,
    listings,
    observations,
)

SORT_FIELDS: tuple[str, ...] = ("id", "symbol")

a = assets.c
m = asset_mappings.c
lo = latest_observations.c
o = observations.c

ASSET_FIELDS = ("id", "symbol", "name", "identity_key", "created_at")
MAPPING_FIELDS = (
    "source",
    "source_asset_id",
    "method",
    "confidence",
    "note",
    "source_symbol",
    "source_name",
    "decided_at",
    "evidence",
)
LATEST_FIELDS = (
    "observation_id",
    "source",
    "source_asset_id",
    "observed_at",
    "price_usd",
    "market_cap_usd",
    "volume_24h_usd",
    "change_24h_pct",
    "market_cap_rank",
    "run_id",
)


@dataclass(frozen=True, slots=True)
class AssetPage:
    assets: list[dict[str, Any]]
    next: Position | None


def sort_key(name: str) -> SortKey:
    if name == "id":
        return SortKey(name, a.id, a.id, False, "int", Integer())
    if name == "symbol":
        # Ignoring case, as the symbol filter matches (ix_assets_symbol_ci).
        return SortKey(name, func.lower(a.symbol), a.id, False, "str", String())
    raise ValueError(f"unknown sort field {name!r}")


@lru_cache(maxsize=64)
def _page_statement(
    dialect: str, sort: str, descending: bool, symbols: bool, sources: bool, cursor: bool
) -> Select[Any]:
    key = sort_key(sort)
    stmt = select(
        a.id,
        a.symbol,
        a.name,
        a.identity_key,
        timestamp_out(a.created_at, dialect),
        key.expr.label("_sort"),
    ).where(a.alias_of.is_(None))  # a merged asset answers only as a redirect
    if symbols:
        wanted: BindParameter[Any] = bindparam("symbols", expanding=True)
        by_mapping = select(m.asset_id).where(func.upper(m.source_symbol).in_(wanted))
        stmt = stmt.where((func.upper(a.symbol).in_(wanted)) | a.id.in_(by_mapping))
    if sources:
        stmt = stmt.where(
            a.id.in_(select(m.asset_id).where(m.source.in_(bindparam("sources", expanding=True))))
        )
    if cursor:
        stmt = stmt.where(keyset.after(key, descending, value_is_null=False))
    return stmt.order_by(*keyset.order_by(key, descending)).limit(bindparam("lim", type_=Integer()))


async def list_assets(
    conn: AsyncConnection,
    *,
    symbols: tuple[str, ...],
    sources: tuple[str, ...],
    sort: str,
    descending: bool,
    limit: int,
    after: Position | None,
) -> AssetPage:
    stmt = _page_statement(
        conn.dialect.name, sort, descending, bool(symbols), bool(sources), after is not None
    )
    params: dict[str, Any] = {"lim": limit + 1}
    if symbols:
        params["symbols"] = [s.upper() for s in symbols]
    if sources:
        params["sources"] = list(sources)
    if after is not None:
        params[keyset.CURSOR_VALUE] = after.value
        params[keyset.CURSOR_ID] = after.id
    rows = (await conn.execute(stmt, params)).all()
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = Position(rows[-1][-1], rows[-1][0])
    items = [dict(zip(ASSET_FIELDS, r, strict=False)) for r in rows]
    await _attach_details(conn, items)
    return AssetPage(items, nxt)


async def get_asset(conn: AsyncConnection, asset_id: int) -> dict[str, Any] | None:
    """The asset with its details; ``alias_of`` set (and no details) for a merged one."""
    dialect = conn.dialect.name
    row = (
        await conn.execute(
            select(
                a.id,
                a.symbol,
                a.name,
                a.identity_key,
                timestamp_out(a.created_at, dialect),
                a.alias_of,
            ).where(a.id == asset_id)
        )
    ).first()
    if row is None:
        return None
    item = dict(zip((*ASSET_FIELDS, "alias_of"), row, strict=True))
    if item["alias_of"] is None:
        await _attach_details(conn, [item])
    return item


@lru_cache(maxsize=4)
def _status_statement(dialect: str) -> Prepared:
    stmt = select(a.id, a.alias_of).where(a.id == bindparam("asset_id", type_=BigInteger()))
    return prepare(stmt, dialect_for(dialect))


async def asset_status(reader: Reader, asset_id: int) -> tuple[bool, int | None]:
    """(exists, the asset it was merged into): one primary-key probe on the fast reader."""
    rows = await reader.fetch(_status_statement(reader.dialect), {"asset_id": asset_id})
    if not rows:
        return False, None
    return True, rows[0][1]


async def _attach_details(conn: AsyncConnection, items: list[dict[str, Any]]) -> None:
    """Add ``mappings`` (how each source id was matched) and ``latest`` (per source)."""
    if not items:
        return
    dialect = conn.dialect.name
    ids = [item["id"] for item in items]
    mappings: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = await conn.execute(
        select(
            m.asset_id,
            m.source,
            m.source_asset_id,
            m.method,
            decimal_out(m.confidence, dialect),
            m.note,
            m.source_symbol,
            m.source_name,
            timestamp_out(m.decided_at, dialect),
            m.evidence,
        )
        .where(m.asset_id.in_(ids))
        .order_by(m.asset_id, m.source, m.source_asset_id)
    )
    for r in rows:
        mapping = dict(zip(MAPPING_FIELDS, r[1:], strict=True))
        mapping["evidence"] = orjson.loads(mapping["evidence"]) if mapping["evidence"] else None
        mappings[r[0]].append(mapping)
    latest: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    rows = await conn.execute(
        select(
            lo.asset_id,
            o.id,
            o.source,
            listings.c.source_asset_id,
            timestamp_out(o.observed_at, dialect),
            decimal_out(o.price_usd, dialect),
            decimal_out(o.market_cap_usd, dialect),
            decimal_out(o.volume_24h_usd, dialect),
            decimal_out(o.change_24h_pct, dialect),
            o.market_cap_rank,
            o.run_id,
        )
        .select_from(
            latest_observations.join(observations, LATEST_ROW).join(
                listings, listings.c.id == o.listing_id
            )
        )
        .where(lo.asset_id.in_(ids))
        .order_by(lo.asset_id, lo.source)
    )
    for r in rows:
        latest[r[0]][r[2]] = dict(zip(LATEST_FIELDS, r[1:], strict=True))
    for item in items:
        item["mappings"] = mappings.get(item["id"], [])
        item["latest"] = latest.get(item["id"], {})
