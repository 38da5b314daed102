"""Backfill's store side: which coins to backfill and how far their history already goes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.sources.history import Target
from kasparro.store.dialect import decimal_sort, insert_for
from kasparro.store.schema import (
    LATEST_ROW,
    asset_mappings,
    assets,
    backfill_watermarks,
    latest_observations,
    listings,
    observations,
)


async def targets(
    conn: AsyncConnection,
    source: str,
    interval: str,
    *,
    asset_ids: Sequence[int] = (),
    top: int | None = None,
) -> list[Target]:
    """The source ids to backfill: those of ``asset_ids`` (merged ids followed), else the
    ``top`` coins by the rank of their latest observation from ``source``."""
    m, a, lo, o, li = (
        asset_mappings.c,
        assets.c,
        latest_observations.c,
        observations.c,
        listings.c,
    )
    stmt: Any
    if asset_ids:
        resolved = select(func.coalesce(a.alias_of, a.id)).where(a.id.in_(list(asset_ids)))
        stmt = (
            select(m.source_asset_id, m.source_symbol, m.source_name)
            .where(m.source == source, m.asset_id.in_(resolved))
            .order_by(m.source_asset_id)
        )
    else:
        # By market cap of the latest market snapshot (ranks can be junk: QUIRKS.md).
        cap = decimal_sort(o.market_cap_usd, conn.dialect.name)
        stmt = (
            select(li.source_asset_id, li.symbol, li.name)
            .select_from(
                latest_observations.join(observations, LATEST_ROW).join(
                    listings, li.id == o.listing_id
                )
            )
            .where(lo.source == source, o.market_cap_usd.is_not(None))
            .order_by(cap.desc(), li.source_asset_id)
            .limit(top or 100)
        )
    found = [(sid, symbol or sid, name or sid) for sid, symbol, name in await conn.execute(stmt)]
    covered = await watermarks(conn, source, interval, [sid for sid, _, _ in found])
    return [Target(sid, symbol, name, covered.get(sid)) for sid, symbol, name in found]


async def watermarks(
    conn: AsyncConnection, source: str, interval: str, source_ids: list[str]
) -> dict[str, tuple[datetime, datetime]]:
    w = backfill_watermarks.c
    if not source_ids:
        return {}
    rows = await conn.execute(
        select(w.source_asset_id, w.covered_from, w.covered_to).where(
            w.source == source, w.interval == interval, w.source_asset_id.in_(source_ids)
        )
    )
    return {sid: (lo, hi) for sid, lo, hi in rows}


async def extend_watermarks(
    conn: AsyncConnection,
    source: str,
    covered: Sequence[tuple[str, str, datetime, datetime]],
    run_id: int,
    now: datetime,
) -> None:
    """Widen each (source id, interval) range to include what was just committed (the
    planner only ever asks for ranges that touch the covered one, so it stays one range)."""
    merged: dict[tuple[str, str], list[datetime]] = {}
    for sid, interval, start, end in covered:
        span = merged.setdefault((sid, interval), [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    if not merged:
        return
    rows = [
        {
            "source": source,
            "source_asset_id": sid,
            "interval": interval,
            "covered_from": lo,
            "covered_to": hi,
            "run_id": run_id,
            "updated_at": now,
        }
        for (sid, interval), (lo, hi) in sorted(merged.items())
    ]
    # One statement keeping the widest range: LEAST/GREATEST on PostgreSQL; on SQLite the
    # scalar min()/max() of two values (its fixed-width timestamp text sorts in time order).
    pg = conn.dialect.name == "postgresql"
    lower, upper = (func.least, func.greatest) if pg else (func.min, func.max)
    stmt = insert_for(conn, backfill_watermarks)
    w = backfill_watermarks.c
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "source_asset_id", "interval"],
        set_={
            "covered_from": lower(w.covered_from, stmt.excluded.covered_from),
            "covered_to": upper(w.covered_to, stmt.excluded.covered_to),
            "run_id": stmt.excluded.run_id,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await conn.execute(stmt, rows)
