"""The store's upkeep after a run (``runs.maintenance``): a run's rows end in their month's
partition on PostgreSQL, and upkeep that cannot get its lock gives up without failing the
run (retried after the next one)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.store import partitions
from kasparro.store.engine import create_engine
from tests.fixtures.db import _asyncpg_dsn
from tests.fixtures.etl import CSV_HEADER, make_settings, rows, run_etl

LINE = "bitcoin,BTC,Bitcoin,{at},60612.34,1193599413599,31250448211,-4.12,1,19692350,,"


def write_csv(path: Path, days: list[str]) -> Path:
    path.write_text(CSV_HEADER + "".join(LINE.format(at=d) + "\n" for d in days))
    return path


async def test_a_runs_rows_end_in_their_months_partition(
    engine: AsyncEngine, db_url: str, dialect: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "m.csv", ["2019-07-01T00:00:00Z", "2019-08-01T00:00:00Z"])
    res = (await run_etl(engine, make_settings(db_url, csv_paths=[path]), "csv"))["csv"]
    assert (res.status, res.loaded) == ("success", 2)
    if dialect == "sqlite":
        return
    # Loaded into the default partition (no DDL in the loader), moved out right after.
    found = await rows(
        engine, "SELECT tableoid::regclass::text, count(*) FROM observations GROUP BY 1 ORDER BY 1"
    )
    assert [tuple(r) for r in found] == [("observations_p201907", 1), ("observations_p201908", 1)]


async def test_maintenance_that_cannot_get_its_lock_gives_up_and_the_run_succeeds(
    pg_url: str, tmp_path: Path
) -> None:
    engine = create_engine(pg_url)
    try:
        await _gives_up(engine, pg_url, tmp_path)
    finally:
        await engine.dispose()


async def _gives_up(engine: AsyncEngine, pg_url: str, tmp_path: Path) -> None:
    # A month no other test creates: partitions outlive the per-test TRUNCATE.
    path = write_csv(tmp_path / "m.csv", ["2018-03-01T00:00:00Z"])
    settings = make_settings(pg_url, csv_paths=[path])
    blocker = await asyncpg.connect(_asyncpg_dsn(pg_url))
    try:
        # Compatible with the loader's inserts, not with attaching a partition.
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE observations IN SHARE UPDATE EXCLUSIVE MODE")
        res = (await run_etl(engine, settings, "csv"))["csv"]
        assert (res.status, res.loaded) == ("success", 1)
        await tx.rollback()
    finally:
        await blocker.close()
    # Given up after lock_timeout: the row waits in the default partition, readable.
    assert await rows(engine, "SELECT tableoid::regclass::text FROM observations") == [
        ("observations_default",)
    ]
    async with engine.begin() as conn:  # what the next run's upkeep does
        made = await partitions.maintain(conn, datetime.now(UTC))
    assert date(2018, 3, 1) in made.created
    assert await rows(engine, "SELECT tableoid::regclass::text FROM observations") == [
        ("observations_p201803",)
    ]
