"""Does the store hold emulated data? The ``data_mode`` row of ``store_metadata``.

The mark lives in the database, not in the serving process: ``kasparro demo`` writes it
before its first ETL run, and any process that serves that database afterwards (``kasparro
serve`` or ``up`` included) reports ``"mode": "demo"``. A database without it is ``live``.
The mark is never removed by a live run: once emulated rows are in, the store is mixed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.store.dialect import insert_for
from kasparro.store.engine import create_engine
from kasparro.store.schema import store_metadata

DataMode = Literal["demo", "live"]
KEY: Final = "data_mode"
t = store_metadata.c


async def mark_emulated(conn: AsyncConnection, detail: dict[str, Any]) -> None:
    """Record that emulated data goes into this store (``detail``: where it came from)."""
    value = orjson.dumps({"mode": "demo", **detail}).decode()
    now = datetime.now(UTC)
    stmt = insert_for(conn, store_metadata).values(key=KEY, value=value, updated_at=now)
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=[t.key], set_={"value": value, "updated_at": now})
    )


async def data_mode(conn: AsyncConnection) -> DataMode:
    """``demo`` when the store was marked as holding emulated data, else ``live``."""
    found = (await conn.execute(select(t.key).where(t.key == KEY))).first()
    return "demo" if found is not None else "live"


async def mark_database_emulated(url: str, detail: dict[str, Any]) -> None:
    """:func:`mark_emulated` on the database at ``url``, in a transaction of its own."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await mark_emulated(conn, detail)
    finally:
        await engine.dispose()
