"""Bulk, idempotent loading of normalized observations (set-based, never a query per row)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.load.bulk import insert_rows
from kasparro.models import MarketRecord
from kasparro.store.dialect import insert_for
from kasparro.store.schema import latest_observations, observations


@dataclass(slots=True)
class LoadResult:
    loaded: int
    unchanged: int


def observation_row(
    rec: MarketRecord, asset_id: int, run_id: int, ingested_at: datetime
) -> dict[str, object]:
    return {
        "asset_id": asset_id,
        "source": rec.source,
        "source_asset_id": rec.source_asset_id,
        "observed_at": rec.observed_at,
        "symbol": rec.symbol,
        "name": rec.name,
        "price_usd": rec.price_usd,
        "market_cap_usd": rec.market_cap_usd,
        "volume_24h_usd": rec.volume_24h_usd,
        "change_24h_pct": rec.change_24h_pct,
        "market_cap_rank": rec.market_cap_rank,
        "circulating_supply": rec.circulating_supply,
        "total_supply": rec.total_supply,
        "max_supply": rec.max_supply,
        "run_id": run_id,
        "ingested_at": ingested_at,
    }


async def insert_observations(conn: AsyncConnection, rows: list[dict[str, object]]) -> LoadResult:
    """INSERT ... ON CONFLICT DO NOTHING; rows that already exist count as unchanged.

    ``rows`` must be free of duplicate keys (the pipeline dedupes a page first), so the
    RETURNING count is exactly the number of new observations.
    """
    if not rows:
        return LoadResult(0, 0)
    inserted = await insert_rows(
        conn,
        observations,
        rows,
        conflict=("source", "source_asset_id", "observed_at"),
        returning=(
            observations.c.id,
            observations.c.asset_id,
            observations.c.source,
            observations.c.observed_at,
        ),
    )
    await _advance_latest(conn, inserted)
    return LoadResult(loaded=len(inserted), unchanged=len(rows) - len(inserted))


async def _advance_latest(conn: AsyncConnection, inserted: Sequence[Any]) -> None:
    """Keep latest_observations pointing at the newest observation per (asset, source)."""
    newest: dict[tuple[int, str], tuple[datetime, int]] = {}
    for obs_id, asset_id, source, observed_at in inserted:
        key = (asset_id, source)
        cur = newest.get(key)
        if cur is None or (observed_at, obs_id) > cur:
            newest[key] = (observed_at, obs_id)
    if not newest:
        return
    rows = [
        {"asset_id": a, "source": s, "observation_id": oid, "observed_at": at}
        for (a, s), (at, oid) in newest.items()
    ]
    ins = insert_for(conn, latest_observations)
    stmt = ins.on_conflict_do_update(
        index_elements=["asset_id", "source"],
        set_={
            "observation_id": ins.excluded.observation_id,
            "observed_at": ins.excluded.observed_at,
        },
        where=ins.excluded.observed_at >= latest_observations.c.observed_at,
    )
    await conn.execute(stmt, rows)
