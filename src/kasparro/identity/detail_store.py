"""Identity's per-coin detail in the store (``coin_details``): which coins' pages a relink
wants, and the links fetched for them.

A relink writes the coins of its ``detail_wanted`` pairs that have no detail yet, best pair
first (:func:`save_wanted`); a reference source's run fetches the first few of its namespace
(:func:`wanted_ids`, read by the pipeline and handed in) and the loader stores what their
pages list (:func:`store_details`); the next relink reads them back (:func:`read_details`)
and weighs them. A coin's detail is fetched once: a fetched row is never wanted again.
Functions take a connection and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.identity.detail import Detail
from kasparro.identity.model import CoinRef
from kasparro.load.bulk import insert_rows
from kasparro.models import ReferenceDetail
from kasparro.store.identity_schema import coin_details

__all__ = ["read_details", "save_wanted", "store_details", "wanted_ids"]


def _dumps(urls: Sequence[str]) -> str:
    return orjson.dumps(list(urls)).decode()


def _urls(text: str | None) -> tuple[str, ...]:
    value = orjson.loads(text) if text else []
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


async def save_wanted(conn: AsyncConnection, wanted: Sequence[CoinRef], now: datetime) -> int:
    """Replace the wanted coins with ``wanted`` (best first; coins already fetched are left
    as they are). Returns how many are wanted and not fetched."""
    d = coin_details.c
    await conn.execute(delete(coin_details).where(d.fetched_at.is_(None)))
    await conn.execute(
        update(coin_details).where(d.wanted_rank.is_not(None)).values(wanted_rank=None)
    )
    order: dict[CoinRef, int] = {}
    for ref in wanted:
        order.setdefault(ref, len(order))
    if not order:
        return 0
    fetched = {
        (s, sid)
        for s, sid in await conn.execute(
            select(d.source, d.source_asset_id).where(d.fetched_at.is_not(None))
        )
    }
    rows: list[dict[str, Any]] = [
        {"source": s, "source_asset_id": sid, "wanted_rank": rank, "wanted_at": now}
        for (s, sid), rank in order.items()
        if (s, sid) not in fetched
    ]
    await insert_rows(conn, coin_details, rows, conflict=("source", "source_asset_id"))
    return len(rows)


async def wanted_ids(conn: AsyncConnection, source: str, limit: int) -> list[str]:
    """The first ``limit`` coins of ``source`` whose pages are wanted, best first."""
    if limit <= 0:
        return []
    d = coin_details.c
    rows = await conn.execute(
        select(d.source_asset_id)
        .where(d.source == source, d.fetched_at.is_(None), d.wanted_rank.is_not(None))
        .order_by(d.wanted_rank, d.source_asset_id)
        .limit(limit)
    )
    return [sid for (sid,) in rows]


async def store_details(
    conn: AsyncConnection, records: Sequence[ReferenceDetail], raw_id: int, now: datetime
) -> tuple[int, int]:
    """Upsert fetched pages' links; returns (new or changed, unchanged)."""
    if not records:
        return 0, 0
    d = coin_details.c
    keys = [(r.source, r.source_asset_id) for r in records]
    stored = {
        (s, sid): (_urls(h), _urls(e))
        for s, sid, h, e in await conn.execute(
            select(d.source, d.source_asset_id, d.homepages, d.explorers).where(
                and_(d.fetched_at.is_not(None), tuple_(d.source, d.source_asset_id).in_(keys))
            )
        )
    }
    changed = sum(
        stored.get((r.source, r.source_asset_id)) != (r.homepages, r.explorers) for r in records
    )
    rows: list[dict[str, Any]] = [
        {
            "source": r.source,
            "source_asset_id": r.source_asset_id,
            "wanted_rank": None,
            "homepages": _dumps(r.homepages),
            "explorers": _dumps(r.explorers),
            "fetched_at": now,
            "raw_id": raw_id,
        }
        for r in records
    ]
    await insert_rows(
        conn,
        coin_details,
        rows,
        conflict=("source", "source_asset_id"),
        update=("wanted_rank", "homepages", "explorers", "fetched_at", "raw_id"),
    )
    return changed, len(records) - changed


async def read_details(conn: AsyncConnection) -> dict[CoinRef, Detail]:
    """Every fetched coin page's links."""
    d = coin_details.c
    rows = await conn.execute(
        select(d.source, d.source_asset_id, d.homepages, d.explorers).where(
            d.fetched_at.is_not(None)
        )
    )
    return {(s, sid): Detail(_urls(h), _urls(e)) for s, sid, h, e in rows}
