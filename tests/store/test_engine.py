"""Engine roles: PostgreSQL plan caching for writers and readers, and why writers may cache."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text

from kasparro.load.assets import resolve_assets
from kasparro.models import MarketRecord
from kasparro.runs import repository as repo
from kasparro.store.engine import create_engine


async def test_readers_force_custom_plans_and_writers_keep_the_default(pg_url: str) -> None:
    for reader, expected in ((True, "force_custom_plan"), (False, "auto")):
        engine = create_engine(pg_url, pool_size=1, reader=reader)
        try:
            async with engine.connect() as conn:
                mode = (await conn.execute(text("SHOW plan_cache_mode"))).scalar()
        finally:
            await engine.dispose()
        assert mode == expected, reader


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(_literal(v) for v in value) + "]::text[]"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def test_identity_lookups_stay_index_probes_under_a_generic_plan(pg_url: str) -> None:
    """Writers let PostgreSQL cache generic plans, which are made without the parameters and
    may be made while the tables are still empty (a first load). The identity lookups must
    then still probe the indexes key by key: the plans PostgreSQL would cache for the exact
    statements ``resolve_assets`` sends, forced generic on empty tables, use no sequential
    scan of assets or asset_mappings."""
    engine = create_engine(pg_url, pool_size=1)
    statements: list[tuple[str, Any]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def capture(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT") and "unnest" in sql:
            statements.append((sql, params))

    records = [
        MarketRecord(
            source="coingecko",
            source_asset_id=f"coin-{i}",
            symbol=f"c{i}",
            name=f"Coin {i}",
            observed_at=datetime(2026, 11, 1, tzinfo=UTC),
            price_usd=None,
        )
        for i in range(3)
    ]
    try:
        async with engine.begin() as conn:
            run_id = await repo.create_run(
                conn,
                source="coingecko",
                trigger="cli",
                owner="t:0:x",
                resumed_from=None,
                start_page=1,
            )
            await resolve_assets(conn, "coingecko", records, run_id)
        assert len(statements) >= 2  # the mappings lookup and the held-keys lookup
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE asset_mappings, assets CASCADE"))
            await conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
            for i, (sql, params) in enumerate(statements):
                await conn.exec_driver_sql(f"PREPARE lookup_{i} AS {sql}")
                args = ", ".join(_literal(p) for p in params)
                plan = "\n".join(
                    str(row[0])
                    for row in await conn.exec_driver_sql(f"EXPLAIN EXECUTE lookup_{i}({args})")
                )
                assert "Index" in plan, plan
                assert "Seq Scan" not in plan, plan
    finally:
        await engine.dispose()
