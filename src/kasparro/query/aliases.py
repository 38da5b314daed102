"""Merged assets: an asset merged into another by a relink keeps its id, which resolves (and
the API redirects) to the asset that took its coins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.query.sqltext import timestamp_out
from kasparro.store.identity_schema import asset_events
from kasparro.store.schema import assets


async def resolve_aliases(conn: AsyncConnection, asset_ids: tuple[int, ...]) -> tuple[int, ...]:
    """``asset_ids`` with merged assets replaced by the asset they were merged into."""
    a = assets.c
    rows = await conn.execute(
        select(a.id, a.alias_of).where(a.id.in_(asset_ids), a.alias_of.is_not(None))
    )
    moved = dict(rows.all())
    return tuple(dict.fromkeys(moved.get(i, i) for i in asset_ids))


async def merged_into(conn: AsyncConnection, asset_id: int) -> list[dict[str, Any]]:
    """The assets merged into ``asset_id`` (their ids now redirect here), oldest first."""
    e, a = asset_events.c, assets.c
    rows = await conn.execute(
        select(e.from_asset_id, timestamp_out(e.at, conn.dialect.name), e.relink_id)
        .join(assets, a.id == e.from_asset_id)
        .where(e.asset_id == asset_id, e.kind == "merge", a.alias_of == asset_id)
        .order_by(e.id)
    )
    return [{"asset_id": aid, "at": at, "relink_id": rid} for aid, at, rid in rows]
