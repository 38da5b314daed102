"""A closed month's indexes are rebuilt packed full, one per pass, never the open month's,
and a rebuild killed half way is cleaned up and retried (PostgreSQL; SQLite: nothing)."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.store import partitions
from kasparro.store.compaction import compact_next
from tests.fixtures.api import rec, seed_run

# Months of 2015: no other test writes them. February is still within the grace after its
# end, January is closed.
NOW = datetime(2015, 3, 1, 12, tzinfo=UTC)
JANUARY, FEBRUARY = "observations_p201501", "observations_p201502"


async def _indexes(engine: AsyncEngine, table: str) -> dict[str, tuple[bool, bool]]:
    """Unique B-tree index -> (valid, packed) of one partition."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT ic.relname, x.indisvalid,"
                " coalesce(ic.reloptions @> ARRAY['fillfactor=100'], false)"
                " FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid"
                " JOIN pg_am am ON am.oid = ic.relam"
                " WHERE x.indrelid = to_regclass(:t) AND am.amname = 'btree' AND x.indisunique"
            ),
            {"t": table},
        )
        return {name: (valid, packed) for name, valid, packed in rows}


async def _until_done(engine: AsyncEngine) -> list[str]:
    rebuilt = []
    for _ in range(1000):  # other tests' months are closed too: each gets its turn
        done = await compact_next(engine, NOW)
        assert done is not None
        if done.index is None:
            return rebuilt
        rebuilt.append(done.index)
    raise AssertionError("compaction never finished")


async def test_closed_months_are_packed_one_index_per_pass(
    engine: AsyncEngine, dialect: str
) -> None:
    january = [rec(f"c{n}", at=datetime(2015, 1, 10, n, tzinfo=UTC)) for n in range(20)]
    february = [rec(f"c{n}", at=datetime(2015, 2, 27, n, tzinfo=UTC)) for n in range(20)]
    await seed_run(engine, "coingecko", january + february)
    if dialect == "sqlite":
        assert await compact_next(engine, NOW) is None  # one table, no partitions
        return
    async with engine.begin() as conn:
        await partitions.maintain(conn, NOW)
    before = await _indexes(engine, JANUARY)
    assert len(before) == 2 and not any(packed for _, packed in before.values())

    first = await compact_next(engine, NOW)
    assert first is not None and first.index is not None
    rebuilt = [first.index, *await _until_done(engine)]
    assert set(before) <= set(rebuilt)
    assert len(rebuilt) == len(set(rebuilt))  # each index once
    assert all(v == (True, True) for v in (await _indexes(engine, JANUARY)).values())
    # The open month (within a day of its end) is left to fill.
    assert not any(packed for _, packed in (await _indexes(engine, FEBRUARY)).values())
    async with engine.connect() as conn:
        n = await conn.execute(text(f"SELECT count(*) FROM {JANUARY} WHERE listing_id > 0"))
        assert n.scalar_one() == 20

    # A rebuild killed half way leaves an invalid "<index>_ccnew": dropped, and its index
    # rebuilt again.
    key = next(name for name in before if name.endswith("_key"))
    async with engine.begin() as conn:
        await conn.execute(
            text(f"CREATE UNIQUE INDEX {key}_ccnew ON {JANUARY} (listing_id, observed_at)")
        )
        await conn.execute(
            text(
                "UPDATE pg_index SET indisvalid = false"
                f" WHERE indexrelid = to_regclass('{key}_ccnew')"
            )
        )
    done = await compact_next(engine, NOW)
    assert done is not None and done.leftovers_dropped == [f"{key}_ccnew"]
    assert done.index == key
    assert set(await _indexes(engine, JANUARY)) == set(before)
    assert await _until_done(engine) == []


async def test_a_busy_table_defers_the_rebuild_and_leaves_nothing_marked(
    engine: AsyncEngine, dialect: str, db_url: str
) -> None:
    if dialect == "sqlite":
        return
    await seed_run(engine, "coingecko", [rec("c0", at=datetime(2013, 5, 2, tzinfo=UTC))])
    async with engine.begin() as conn:
        await partitions.maintain(conn, NOW)
    packed_before = await _packed(engine)
    blocker = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE observations IN SHARE UPDATE EXCLUSIVE MODE")
        with pytest.raises(DBAPIError) as raised:
            await compact_next(engine, NOW)
        assert getattr(raised.value.orig, "sqlstate", None) == "55P03"  # lock_not_available
        await tx.rollback()
    finally:
        await blocker.close()
    # The index it had picked is not marked packed; the next pass does it.
    assert await _packed(engine) == packed_before
    done = await compact_next(engine, NOW)
    assert done is not None and done.index is not None


async def _packed(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT relname FROM pg_class WHERE relkind = 'i'"
                " AND reloptions @> ARRAY['fillfactor=100']"
            )
        )
        return {name for (name,) in rows}
