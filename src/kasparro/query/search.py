"""Asset search by prefix: symbols, names and every source's id, symbol and name.

``bitcoin`` finds Bitcoin by its name and by CoinGecko's id, ``btc-bit`` by CoinPaprika's,
``us`` every coin whose symbol or name starts with "us". Exact matches (the whole symbol,
name or id, or the canonical numeric id) come first, then symbol prefixes, then the other
prefixes; within each, the most traded asset first (largest 24 h volume among its latest
quotes: a junk listing with a huge reported cap and no trading does not come first).
ASCII case-insensitive (``lower()`` on both dialects); ``%`` and ``_`` match themselves.

A prefix ``LIKE`` over ``lower(column)`` reads the assets and mappings tables (no index can
serve it on both dialects): tens of thousands of rows, a few milliseconds; the API caches
results per data version.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import case, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.query.sqltext import decimal_sort
from kasparro.store.schema import (
    LATEST_ROW,
    asset_mappings,
    assets,
    latest_observations,
    observations,
)

MATCHES: Final = ("exact", "symbol_prefix", "prefix")
MAX_ID: Final = 2**63 - 1

a = assets.c
m = asset_mappings.c
lo = latest_observations.c
o = observations.c


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_assets(conn: AsyncConnection, text: str, limit: int) -> list[dict[str, Any]]:
    needle = text.strip().lower()
    if not needle:
        return []
    prefix = _escape(needle) + "%"

    def starts(col: Any) -> Any:
        return func.lower(col).like(prefix, escape="\\")

    def equals(*cols: Any) -> Any:
        return or_(*(func.lower(c) == needle for c in cols))

    asset_exact = equals(a.symbol, a.name)
    if needle.isdigit() and int(needle) <= MAX_ID:
        asset_exact = or_(asset_exact, a.id == int(needle))
    by_asset = select(
        a.id.label("asset_id"),
        case((asset_exact, 0), (starts(a.symbol), 1), else_=2).label("cls"),
    ).where(or_(asset_exact, starts(a.symbol), starts(a.name)))
    mapping_exact = equals(m.source_asset_id, m.source_symbol, m.source_name)
    by_mapping = select(
        m.asset_id.label("asset_id"),
        case((mapping_exact, 0), (starts(m.source_symbol), 1), else_=2).label("cls"),
    ).where(or_(starts(m.source_asset_id), starts(m.source_symbol), starts(m.source_name)))
    hits = union_all(by_asset, by_mapping).subquery()
    best = (
        select(hits.c.asset_id, func.min(hits.c.cls).label("cls"))
        .group_by(hits.c.asset_id)
        .subquery()
    )
    dialect = conn.dialect.name
    volume = (
        select(func.max(decimal_sort(o.volume_24h_usd, dialect)))
        .select_from(latest_observations.join(observations, LATEST_ROW))
        .where(lo.asset_id == best.c.asset_id)
        .scalar_subquery()
    )
    rows = (
        await conn.execute(
            select(a.id, a.symbol, a.name, best.c.cls)
            .join(best, a.id == best.c.asset_id)
            .where(a.alias_of.is_(None))  # a merged asset's mappings moved to the survivor
            .order_by(best.c.cls, volume.desc().nulls_last(), a.id)
            .limit(limit)
        )
    ).all()
    ids = [r[0] for r in rows]
    markets: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        quoted = await conn.execute(
            select(lo.asset_id, lo.source)
            .where(lo.asset_id.in_(ids))
            .order_by(lo.asset_id, lo.source)
        )
        for asset_id, source in quoted:
            markets[asset_id].append(source)
    return [
        {
            "id": asset_id,
            "symbol": symbol,
            "name": name,
            "match": MATCHES[cls],
            # The sources that quote it (latest observations): markets, never the
            # history or reference feeds that only helped identify it.
            "markets": markets[asset_id],
        }
        for asset_id, symbol, name, cls in rows
    ]


__all__ = ["MATCHES", "search_assets"]
