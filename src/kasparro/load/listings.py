"""Listings: one row per (source, source_asset_id), the strings observations reference.

Resolved set-based per batch (one statement on PostgreSQL, one upsert and one lookup on
SQLite) in the caller's transaction: new source ids get a listing, a rename (a newer
symbol or name for a known id) updates it, and every id of the batch comes back with its
listing id. Listings are never deleted, so an id resolved once stays valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.load.bulk import driver_connection, recordset_select, rows_json
from kasparro.store.dialect import insert_for, key_table
from kasparro.store.schema import listings

ListingKey = tuple[str, str]  # (source, source_asset_id)
l = listings.c  # noqa: E741

_COLUMNS: Final = ("source", "source_asset_id", "symbol", "name", "named_at")

# One row per key (:func:`newest_names`), in key order (a consistent lock order for loads
# of one source id committing at once). A listing is rewritten only when the row is newer
# than what named it and says something else: an unchanged batch writes nothing (no dead
# tuples per batch). The CTE's RETURNING has the rows it wrote; the others are read from
# the statement's snapshot (UNION: an updated row is in both).
_PG_UPSERT: Final = f"""
WITH r AS ({recordset_select(listings, _COLUMNS)}), up AS (
    INSERT INTO listings (source, source_asset_id, symbol, name, named_at)
    SELECT source, source_asset_id, symbol, name, named_at FROM r
    ORDER BY source, source_asset_id
    ON CONFLICT (source, source_asset_id) DO {{conflict}}
    RETURNING id, source, source_asset_id
)
SELECT id, source, source_asset_id FROM up
UNION
SELECT l.id, l.source, l.source_asset_id FROM listings AS l
JOIN r ON l.source = r.source AND l.source_asset_id = r.source_asset_id"""
_PG_RENAME: Final = _PG_UPSERT.format(
    conflict="""UPDATE
    SET symbol = excluded.symbol, name = excluded.name, named_at = excluded.named_at
    WHERE excluded.named_at >= listings.named_at
      AND (listings.symbol, listings.name) IS DISTINCT FROM (excluded.symbol, excluded.name)"""
)
_PG_CREATE: Final = _PG_UPSERT.format(conflict="NOTHING")


def newest_names(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per key from observation-shaped rows (``source``, ``source_asset_id``,
    ``symbol``, ``name``, ``observed_at``): the newest observation's symbol and name."""
    newest: dict[ListingKey, dict[str, Any]] = {}
    for row in rows:
        key = (row["source"], row["source_asset_id"])
        cur = newest.get(key)
        if cur is None or row["observed_at"] >= cur["named_at"]:
            newest[key] = {
                "source": key[0],
                "source_asset_id": key[1],
                "symbol": row["symbol"],
                "name": row["name"],
                "named_at": row["observed_at"],
            }
    return [newest[k] for k in sorted(newest)]


async def resolve_listings(
    conn: AsyncConnection, rows: Sequence[Mapping[str, Any]], *, rename: bool = True
) -> dict[ListingKey, int]:
    """The listing id of every key of ``rows`` (see :func:`newest_names`), creating
    listings as needed, and with ``rename`` (market snapshots: current data) updating the
    symbol and name of a listing whose coin was renamed. History points never rename: they
    are the past, whatever their timestamp says about the last snapshot."""
    named = newest_names(rows)
    if not named:
        return {}
    if conn.dialect.name == "postgresql":
        driver = await driver_connection(conn)
        sql = _PG_RENAME if rename else _PG_CREATE
        found = {
            (r["source"], r["source_asset_id"]): int(r["id"])
            for r in await driver.fetch(sql, rows_json(named))
        }
        # A listing another transaction created while this statement waited on it is in
        # neither half (not written here, not in the snapshot): read it now it is committed.
        missing = [(r["source"], r["source_asset_id"]) for r in named]
        missing = [k for k in missing if k not in found]
        if missing:
            found.update(await listing_ids(conn, missing))
        return found
    ins = insert_for(conn, listings)
    if not rename:
        await conn.execute(
            ins.on_conflict_do_nothing(index_elements=["source", "source_asset_id"]), named
        )
        return await listing_ids(conn, [(r["source"], r["source_asset_id"]) for r in named])
    stmt = ins.on_conflict_do_update(
        index_elements=["source", "source_asset_id"],
        set_={
            "symbol": ins.excluded.symbol,
            "name": ins.excluded.name,
            "named_at": ins.excluded.named_at,
        },
        where=(ins.excluded.named_at >= l.named_at)
        & ((l.symbol != ins.excluded.symbol) | (l.name != ins.excluded.name)),
    )
    await conn.execute(stmt, named)
    return await listing_ids(conn, [(r["source"], r["source_asset_id"]) for r in named])


async def listing_ids(conn: AsyncConnection, keys: Sequence[ListingKey]) -> dict[ListingKey, int]:
    """Existing listings of ``keys`` (absent keys have none): one indexed probe per key."""
    out: dict[ListingKey, int] = {}
    for source in sorted({s for s, _ in keys}):
        table = key_table(conn, sorted({i for s, i in keys if s == source}))
        probe = (
            select(l.id)
            .where(l.source == source, l.source_asset_id == table.c.value)
            .scalar_subquery()
        )
        for sid, lid in await conn.execute(select(table.c.value, probe)):
            if lid is not None:
                out[(source, sid)] = int(lid)
    return out
