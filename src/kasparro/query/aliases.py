"""Merged assets: an asset merged into another by a relink keeps its id, which resolves (and
the API redirects) to the asset that took its coins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.query.sqltext import timestamp_out
from kasparro.store.identity_schema import asset_events
from kasparro.store.schema import asset_mappings, assets


async def resolve_aliases(conn: AsyncConnection, asset_ids: tuple[int, ...]) -> tuple[int, ...]:
    """``asset_ids`` with merged assets replaced by the asset they were merged into."""
    a = assets.c
    rows = await conn.execute(
        select(a.id, a.alias_of).where(a.id.in_(asset_ids), a.alias_of.is_not(None))
    )
    moved = dict(rows.all())
    return tuple(dict.fromkeys(moved.get(i, i) for i in asset_ids))


async def listing_sources(
    conn: AsyncConnection, asset_ids: Sequence[int]
) -> dict[int, frozenset[str]]:
    """Each of ``asset_ids`` that names an asset, with the sources whose coins it holds (a
    merged asset's id: those of the asset it was merged into); an id that names no asset is
    left out. Unlike ``resolve_aliases``, which passes such an id through (a filter that
    matches nothing), this tells it apart: a backfill of it is the caller's mistake."""
    a, m = assets.c, asset_mappings.c
    rows = await conn.execute(
        select(a.id, m.source)
        .select_from(
            assets.outerjoin(asset_mappings, m.asset_id == func.coalesce(a.alias_of, a.id))
        )
        .where(a.id.in_(list(dict.fromkeys(asset_ids))))
    )
    found: dict[int, set[str]] = {}
    for asset_id, source in rows:
        sources = found.setdefault(int(asset_id), set())
        if source is not None:
            sources.add(source)
    return {i: frozenset(s) for i, s in found.items()}


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
