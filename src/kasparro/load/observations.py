"""Bulk, idempotent loading of normalized observations (set-based, never a query per row)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.load import rollups
from kasparro.load.bulk import (
    driver_connection,
    insert_rows,
    quote,
    recordset_select,
    rows_json,
)
from kasparro.load.listings import resolve_listings
from kasparro.models import MarketRecord, display_name
from kasparro.store.dialect import insert_for
from kasparro.store.schema import latest_observations, observations


@dataclass(slots=True)
class LoadResult:
    loaded: int
    unchanged: int


def observation_row(
    rec: MarketRecord, asset_id: int, run_id: int, ingested_at: datetime
) -> dict[str, object]:
    """An observation as the loader takes it: with its source's strings, which
    :func:`insert_observations` turns into a ``listing_id``."""
    return {
        "asset_id": asset_id,
        "source": rec.source,
        "source_asset_id": rec.source_asset_id,
        "observed_at": rec.observed_at,
        "symbol": rec.symbol,
        "name": display_name(rec),
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


async def insert_observations(
    conn: AsyncConnection, rows: list[dict[str, object]], *, advance_latest: bool = True
) -> LoadResult:
    """INSERT ... ON CONFLICT DO NOTHING; rows that already exist count as unchanged.

    A key repeated in ``rows`` (the same coin on two pages committed together; the pipeline
    dedupes within a page first) is inserted once and its repeat counts as unchanged, as it
    would if the pages were committed one after the other.

    ``advance_latest`` False (history backfills): the rows are history and leave
    ``latest_observations`` to market snapshots, which carry rank and supplies a chart
    point lacks (a chart's last point is as recent as the snapshot, or more); nor do they
    rename a listing (they only create the listings of ids never seen).
    """
    if not rows:
        return LoadResult(0, 0)
    ids = await resolve_listings(conn, rows, rename=advance_latest)
    rows = [_narrow(row, ids) for row in rows]
    if conn.dialect.name == "postgresql":
        columns = tuple(rows[0])
        driver = await driver_connection(conn)
        sql = _insert_sql(columns, advance_latest)
        inserted = int(await driver.fetchval(sql, rows_json(rows)))
        return LoadResult(loaded=inserted, unchanged=len(rows) - inserted)
    returned = await insert_rows(
        conn,
        observations,
        rows,
        conflict=("listing_id", "observed_at"),
        returning=rollups.FOLDED,
    )
    if advance_latest:
        await _advance_latest(conn, [row[:4] for row in returned])
    await rollups.apply_returned(conn, returned)
    return LoadResult(loaded=len(returned), unchanged=len(rows) - len(returned))


_LISTED: Final = frozenset({"source_asset_id", "symbol", "name"})


def _narrow(row: dict[str, object], ids: dict[tuple[str, str], int]) -> dict[str, object]:
    """The stored row: the listing's strings replaced by its id (``source`` is kept)."""
    out = {k: v for k, v in row.items() if k not in _LISTED}
    out["listing_id"] = ids[(str(row["source"]), str(row["source_asset_id"]))]
    return out


@cache
def _insert_sql(columns: tuple[str, ...], advance_latest: bool) -> str:
    """Observations, rollups and (for snapshots) the latest pointers in ONE statement and
    one round trip: the inserted rows never leave the server (the SQLite path fetches them
    back). The newest inserted observation per (asset, source) moves the latest pointer
    forward, never back (an older observation arriving late leaves it alone)."""
    cols = ", ".join(map(quote, columns))
    latest = """, newest AS (
    SELECT DISTINCT ON (asset_id, source) asset_id, source, id, observed_at
    FROM ins ORDER BY asset_id, source, observed_at DESC, id DESC
), advanced AS (
    INSERT INTO latest_observations (asset_id, source, observation_id, observed_at)
    SELECT asset_id, source, id, observed_at FROM newest
    ON CONFLICT (asset_id, source) DO UPDATE
    SET observation_id = excluded.observation_id, observed_at = excluded.observed_at
    WHERE excluded.observed_at >= latest_observations.observed_at
)"""
    return f"""
WITH ins AS (
    INSERT INTO observations ({cols}) {recordset_select(observations, columns)}
    ON CONFLICT (listing_id, observed_at) DO NOTHING
    RETURNING id, asset_id, source, observed_at, price_usd, market_cap_usd, volume_24h_usd
){latest if advance_latest else ""}, {rollups.pg_rollup_ctes("ins")}
SELECT count(*) FROM ins"""


async def _advance_latest(conn: AsyncConnection, inserted: Sequence[Any]) -> None:
    """Keep latest_observations pointing at the newest observation per (asset, source)
    (SQLite; PostgreSQL does it inside the insert statement)."""
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
