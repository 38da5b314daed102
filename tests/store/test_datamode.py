"""The demo mark: migration 0009 (both ways) and the repository functions, on both dialects."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import inspect

from kasparro.store.datamode import data_mode, mark_database_emulated
from kasparro.store.engine import create_engine
from kasparro.store.migrate import alembic_config, upgrade


async def _mode(url: str) -> str:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await data_mode(conn)
    finally:
        await engine.dispose()


async def _tables(url: str) -> set[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


def test_a_database_is_live_until_the_demo_marks_it(db_url: str) -> None:
    assert asyncio.run(_mode(db_url)) == "live"
    asyncio.run(mark_database_emulated(db_url, {"emulator": "http://127.0.0.1:1"}))
    assert asyncio.run(_mode(db_url)) == "demo"
    # Marking twice (a second demo on the same file) is not an error.
    asyncio.run(mark_database_emulated(db_url, {"emulator": "http://127.0.0.1:2"}))
    assert asyncio.run(_mode(db_url)) == "demo"


def test_migration_0009_upgrades_and_downgrades(db_url: str) -> None:
    cfg = alembic_config(db_url)
    try:
        command.downgrade(cfg, "0008")
        assert "store_metadata" not in asyncio.run(_tables(db_url))
        assert "backfill_watermarks" in asyncio.run(_tables(db_url))
        command.upgrade(cfg, "0009")
        assert "store_metadata" in asyncio.run(_tables(db_url))
        asyncio.run(mark_database_emulated(db_url, {}))
        assert asyncio.run(_mode(db_url)) == "demo"
    finally:
        upgrade(db_url)  # the PostgreSQL database is shared by this worker's later tests
