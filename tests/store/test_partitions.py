"""Monthly partitions of ``observations`` (PostgreSQL) and the same behaviour unpartitioned
(SQLite): rows always find a home, months are created ahead and split out of the default
partition, retention drops whole exported months and trims the rest row by row."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.lake.export import export
from kasparro.lake.retention import retire, retire_months
from kasparro.load.rollups import retired_before
from kasparro.store import partitions
from kasparro.store.engine import create_engine
from kasparro.store.migrate import alembic_config, upgrade
from kasparro.store.schema import listings, observations
from tests.fixtures.api import rec, seed_run

NOW = datetime(2024, 4, 20, 12, tzinfo=UTC)


def at(month: int, day: int) -> datetime:
    return datetime(2024, month, day, 12, tzinfo=UTC)


async def homes(engine: AsyncEngine) -> dict[str, int]:
    """Rows per physical table (the parent itself on SQLite)."""
    async with engine.connect() as conn:
        if not await partitions.is_partitioned(conn):
            n = (await conn.execute(select(func.count()).select_from(observations))).scalar_one()
            return {"observations": int(n)} if n else {}
        rows = await conn.execute(
            text("SELECT tableoid::regclass::text, count(*) FROM observations GROUP BY 1")
        )
        return {name: int(n) for name, n in rows}


async def test_months_are_created_ahead_and_rows_leave_the_default_partition(
    engine: AsyncEngine, dialect: str
) -> None:
    # Months of 2016: no other test creates them (partitions outlive the per-test TRUNCATE
    # of the session's database).
    march, january = datetime(2016, 3, 5, tzinfo=UTC), datetime(2016, 1, 9, tzinfo=UTC)
    await seed_run(engine, "coingecko", [rec("c0", at=march), rec("c1", at=march)])
    async with engine.begin() as conn:
        made = await partitions.maintain(conn, NOW)
        have = await partitions.months(conn)
    if dialect == "sqlite":  # one table, nothing to maintain, the same rows
        assert made == partitions.Maintained([], 0)
        assert await homes(engine) == {"observations": 2}
        return
    # March waited in the default partition (seed_run loads around the pipeline, which would
    # have created the month first) and moved out.
    assert date(2016, 3, 1) in made.created and made.moved_from_default == 2
    assert {date(2024, m, 1) for m in (4, 5, 6)} <= set(have)  # now's month + 2 ahead
    assert await homes(engine) == {"observations_p201603": 2}

    # Re-ingesting the same keys is still a no-op across partitions (the idempotency key
    # holds the partition key), and a new month's row parks in the default partition.
    again = await seed_run(engine, "coingecko", [rec("c0", at=march), rec("c0", at=january)])
    assert again.loaded == 1
    assert await homes(engine) == {"observations_p201603": 2, "observations_default": 1}
    async with engine.begin() as conn:
        second = await partitions.maintain(conn, NOW)
    assert second.created == [date(2016, 1, 1)] and second.moved_from_default == 1
    async with engine.begin() as conn:
        assert (await partitions.maintain(conn, NOW)).created == []  # a fixpoint


async def test_retention_drops_whole_exported_months_and_trims_the_rest(
    engine: AsyncEngine, dialect: str, tmp_path: Path
) -> None:
    # c0 twice a month from January to April; c1 only in January (its latest pins January).
    for month in (1, 2, 3, 4):
        coins = ["c0", "c1"] if month == 1 else ["c0"]
        await seed_run(
            engine, "coingecko", [rec(c, at=at(month, d)) for c in coins for d in (1, 15)]
        )
    async with engine.begin() as conn:
        await partitions.maintain(conn, NOW)
    await export(engine, tmp_path / "lake")
    await seed_run(engine, "coingecko", [rec("late", at=at(2, 20))])  # not in the lake yet

    async with engine.begin() as conn:  # cutoff: April 10th (10 days before NOW)
        months = await retire_months(conn, observation_days=10, now=NOW)
    if dialect == "postgres":
        # March goes whole; January holds c1's latest row, February a row the lake lacks;
        # April is partly inside the window.
        # (Older, empty months other tests left in this database go too: nothing to keep.)
        assert date(2024, 3, 1) in months.months and months.rows == 2
        assert not {date(2024, 1, 1), date(2024, 2, 1), date(2024, 4, 1)} & set(months.months)
        assert months.kept == [date(2024, 1, 1), date(2024, 2, 1)]
        found = await homes(engine)
        assert "observations_p202403" not in found
        async with engine.connect() as conn:
            assert date(2024, 3, 1) not in await partitions.months(conn)
            assert await retired_before(conn) == datetime(2024, 4, 1, tzinfo=UTC)
    else:
        assert months == partitions.Dropped([], 0, [])

    async with engine.begin() as conn:
        done = await retire(conn, observation_days=10, hourly_rollup_days=0, now=NOW)
    # Row by row, the rest: both dialects end with the same rows.
    assert done.observations == (6 if dialect == "postgres" else 8)
    async with engine.connect() as conn:
        left = (
            await conn.execute(
                select(listings.c.source_asset_id, observations.c.observed_at)
                .join(listings, listings.c.id == observations.c.listing_id)
                .order_by(observations.c.observed_at)
            )
        ).all()
        assert await retired_before(conn) == datetime(2024, 4, 10, tzinfo=UTC)
    assert [(s, t.date()) for s, t in left] == [
        ("c1", date(2024, 1, 15)),  # a latest pointer's row
        ("late", date(2024, 2, 20)),  # not exported
        ("c0", date(2024, 4, 15)),  # inside the window
    ]


async def test_nothing_is_dropped_before_any_export(engine: AsyncEngine) -> None:
    await seed_run(engine, "coingecko", [rec("c0", at=at(1, d)) for d in (1, 2)])
    await seed_run(engine, "coingecko", [rec("c0", at=at(4, 15))])
    async with engine.begin() as conn:
        await partitions.maintain(conn, NOW)
        assert await retire_months(conn, observation_days=10, now=NOW) == partitions.Dropped(
            [], 0, []
        )
    assert sum((await homes(engine)).values()) == 3


async def _layout(url: str) -> tuple[str, list[str], list[tuple[int, str]]]:
    eng = create_engine(url)
    try:
        async with eng.connect() as conn:
            kind = (
                await conn.execute(
                    text("SELECT relkind::text FROM pg_class WHERE oid = 'observations'::regclass")
                )
            ).scalar_one()
            pk = (
                await conn.execute(
                    text(
                        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                        " WHERE conrelid = 'observations'::regclass AND contype = 'p'"
                    )
                )
            ).scalar_one()
            # Raw SQL: the table is the wide one before migration 0018 (the model is narrow).
            rows = await conn.execute(
                text("SELECT id, source_asset_id FROM observations ORDER BY id")
            )
            return kind, [pk], [(int(i), s) for i, s in rows]
    finally:
        await eng.dispose()


async def _insert_wide(url: str, rows: list[tuple[str, datetime]]) -> None:
    """Observations as the loader stored them before the narrow row (migration 0018)."""
    eng = create_engine(url)
    try:
        async with eng.begin() as conn:
            for sid, when in rows:
                await conn.execute(
                    text(
                        "INSERT INTO assets (identity_key, symbol, name, created_at)"
                        " VALUES (:k, :s, :s, :at) ON CONFLICT DO NOTHING"
                    ),
                    {"k": f"k:{sid}", "s": sid, "at": when},
                )
                await conn.execute(
                    text(
                        "INSERT INTO observations (asset_id, source, source_asset_id,"
                        " observed_at, symbol, name, run_id, ingested_at)"
                        " SELECT id, 'coingecko', :s, :at, :s, :s, 1, :at FROM assets"
                        " WHERE identity_key = :k"
                    ),
                    {"k": f"k:{sid}", "s": sid, "at": when},
                )
    finally:
        await eng.dispose()


async def test_migration_0017_converts_a_populated_table_and_back(pg_url: str) -> None:
    cfg = alembic_config(pg_url)
    try:
        await asyncio.to_thread(command.downgrade, cfg, "0016")
        await _insert_wide(pg_url, [("c0", at(1, 1)), ("c1", at(2, 1))])
        kind, pk, before = await _layout(pg_url)
        assert (kind, pk) == ("r", ["PRIMARY KEY (id)"])

        await asyncio.to_thread(command.upgrade, cfg, "0017")
        kind, pk, after = await _layout(pg_url)
        assert (kind, pk, after) == ("p", ["PRIMARY KEY (id, observed_at)"], before)
        eng = create_engine(pg_url)
        try:
            async with eng.connect() as conn:
                have = await partitions.months(conn)
            # From the oldest row's month through two months ahead of today, no gap.
            assert have[0] == date(2024, 1, 1)
            assert all(partitions.next_month(a) == b for a, b in itertools.pairwise(have))
            assert have[-1] >= partitions.month_of(datetime.now(UTC) + timedelta(days=59))
            assert await homes(eng) == {"observations_p202401": 1, "observations_p202402": 1}
        finally:
            await eng.dispose()
        # The id sequence carried over: a new row's id comes after the copied ones.
        await _insert_wide(pg_url, [("c2", at(2, 2))])
        _, _, grown = await _layout(pg_url)
        assert grown[-1][0] > before[-1][0]

        await asyncio.to_thread(command.downgrade, cfg, "0016")
        kind, pk, back = await _layout(pg_url)
        assert (kind, pk, back) == ("r", ["PRIMARY KEY (id)"], grown)
    finally:
        await asyncio.to_thread(upgrade, pg_url)


async def test_no_month_is_dropped_while_its_exported_files_are_gone(
    engine: AsyncEngine, dialect: str, tmp_path: Path
) -> None:
    """The export's watermark covers March, but its files are not in the lake any more (a
    lake under /tmp after a reboot): the month stays, on both dialects."""
    for month in (1, 2, 3, 4):
        await seed_run(engine, "coingecko", [rec("c0", at=at(month, d)) for d in (1, 15)])
    async with engine.begin() as conn:
        await partitions.maintain(conn, NOW)
    lake = tmp_path / "lake"
    await export(engine, lake)
    shutil.rmtree(lake / "observations")
    async with engine.begin() as conn:
        assert await retire_months(conn, observation_days=10, now=NOW) == partitions.Dropped(
            [], 0, []
        )
    async with engine.begin() as conn:
        done = await retire(conn, observation_days=10, hourly_rollup_days=0, now=NOW)
    assert done.observations == 0 and done.lake is not None and len(done.lake.missing) == 7
    assert sum((await homes(engine)).values()) == 8
    if dialect == "postgres":
        async with engine.connect() as conn:
            assert {date(2024, m, 1) for m in (1, 2, 3)} <= set(await partitions.months(conn))
