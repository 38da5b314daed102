"""Fast synthetic history for PostgreSQL stores, all server-side SQL.

``inflate_pg`` copies the real observations (those loaded by ETL runs) into older,
non-overlapping time slots (``observed_at - 300 s * g``) until the table holds the target
row count. Synthetic rows carry ``run_id = -slot`` (slot g >= 1: ``observed_at - 300 s * g``),
so later fills start after the last used slot, never collide with earlier ones, and benchmark
runs (positive run ids) can be undone by run id. The copies are made from the real rows,
which must come from one tick (one ETL run per source), as they do in benchmarks 3 and 5.
Every copy is older than the real row it copies, so ``latest_observations`` (newest per asset
and source) stays correct as it is; ``check_latest_pg`` verifies that.

For speed the indexes, the unique constraint and the primary key are dropped during the
INSERT and rebuilt from their own definitions afterwards (a sorted build is much faster than
10M incremental inserts; and since migration 0019 the primary key is time-ordered, which
copies written ever further back in time would leave half empty), FK triggers are skipped
(``session_replication_role = replica``: the asset ids are copied from valid rows), the
rollups are rebuilt from every row (the synthetic rows bypass the loader that maintains
them), then ``VACUUM (ANALYZE)``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from kasparro.load.rollups import PG_BACKFILL
from kasparro.store import partitions
from kasparro.store.engine import create_engine

OBS_COLUMNS = (
    "asset_id, source, listing_id, observed_at, price_usd, market_cap_usd, "
    "volume_24h_usd, change_24h_pct, market_cap_rank, circulating_supply, total_supply, "
    "max_supply, run_id, ingested_at"
)


async def _inflate(dsn: str, target: int) -> dict[str, Any]:
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn, timeout=10, command_timeout=None)
    try:
        total = int(await conn.fetchval("SELECT count(*) FROM observations"))
        need = target - total
        if need <= 0:
            return {"target": target, "rows_before": total, "inserted": 0, "seconds": 0.0}
        base = int(await conn.fetchval("SELECT count(*) FROM observations WHERE run_id > 0"))
        if base == 0:
            raise RuntimeError("no real observations to copy: run the ETL first")
        # Next unused slot (slots may be partly filled: the LIMIT copy below).
        first = int(
            await conn.fetchval(
                "SELECT coalesce(-min(run_id), 0) + 1 FROM observations WHERE run_id < 0"
            )
        )
        full, remaining = divmod(need, base)
        span = await conn.fetchrow(
            "SELECT min(observed_at) AS lo, max(observed_at) AS hi FROM observations"
            " WHERE run_id > 0"
        )
        # Every month the copies reach gets its partition first (as the upkeep after a run
        # would), instead of the copies piling up in the default partition.
        await ensure_months(dsn, span["lo"] - timedelta(seconds=300 * (first + full)), span["hi"])
        await conn.execute(
            "SET maintenance_work_mem = '1GB'; SET synchronous_commit = off; "
            "SET session_replication_role = replica"
        )
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename = 'observations' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = 'observations'::regclass)"
        )
        uniques = await conn.fetch(
            "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
            "WHERE conrelid = 'observations'::regclass AND contype IN ('p', 'u')"
        )
        async with conn.transaction():
            for row in indexes:
                await conn.execute(f'DROP INDEX "{row["indexname"]}"')
            for row in uniques:
                await conn.execute(f'ALTER TABLE observations DROP CONSTRAINT "{row["conname"]}"')
            inserted_at = time.perf_counter()
            select = (
                f"INSERT INTO observations ({OBS_COLUMNS}) "
                "SELECT o.asset_id, o.source, o.listing_id, "
                "o.observed_at - make_interval(secs => 300.0 * g.n), "
                "o.price_usd, o.market_cap_usd, o.volume_24h_usd, o.change_24h_pct, "
                "o.market_cap_rank, o.circulating_supply, o.total_supply, o.max_supply, "
                "-g.n, o.ingested_at "
                "FROM generate_series($1::int, $2::int) AS g(n) "
                "CROSS JOIN (SELECT * FROM observations WHERE run_id > 0) AS o"
            )
            inserted = 0
            # Whole copies, then one partial copy in the next slot: used slots stay
            # contiguous, so the next inflation starts right after them.
            if full:
                status = await conn.execute(select, first, first + full - 1)
                inserted += int(status.split()[-1])
            if remaining:
                status = await conn.execute(
                    select + " LIMIT $3", first + full, first + full, remaining
                )
                inserted += int(status.split()[-1])
            insert_s = time.perf_counter() - inserted_at
            index_at = time.perf_counter()
            for row in uniques:
                await conn.execute(
                    f'ALTER TABLE observations ADD CONSTRAINT "{row["conname"]}" {row["def"]}'
                )
            for row in indexes:
                # A partitioned parent's definition reads "ON ONLY": built on every month.
                await conn.execute(row["indexdef"].replace(" ON ONLY ", " ON "))
            index_s = time.perf_counter() - index_at
        # The synthetic rows bypass the loader, so their rollups are rebuilt as the
        # migration builds them (one set-based statement): /history?interval=1h|1d then
        # reads what the loader would have maintained.
        rollups_at = time.perf_counter()
        async with conn.transaction():
            await conn.execute("TRUNCATE observation_rollups")
            await conn.execute(PG_BACKFILL)
        rollups_s = time.perf_counter() - rollups_at
        vacuum_at = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE) observation_rollups")
        await conn.execute("VACUUM (ANALYZE) observations")
        await conn.execute("VACUUM (ANALYZE) latest_observations")
        vacuum_s = time.perf_counter() - vacuum_at
        after = int(await conn.fetchval("SELECT count(*) FROM observations"))
    finally:
        await conn.close()
    return {
        "target": target,
        "rows_before": total,
        "rows_after": after,
        "inserted": inserted,
        "insert_s": insert_s,
        "index_rebuild_s": index_s,
        "rollups_rebuild_s": rollups_s,
        "vacuum_analyze_s": vacuum_s,
        "seconds": time.perf_counter() - started,
    }


async def ensure_months(dsn: str, oldest: datetime, newest: datetime) -> None:
    months = [partitions.month_of(oldest)]
    while months[-1] < partitions.month_of(newest):
        months.append(partitions.next_month(months[-1]))
    engine = create_engine(dsn, pool_size=1)
    try:
        async with engine.begin() as conn:
            await partitions.ensure(conn, months)
    finally:
        await engine.dispose()


def inflate_pg(dsn: str, target: int) -> dict[str, Any]:
    return asyncio.run(_inflate(dsn, target))


async def _check_latest(dsn: str) -> int:
    conn = await asyncpg.connect(dsn, timeout=10, command_timeout=None)
    try:
        # Pairs whose latest pointer is not the newest observation of that asset and source:
        # each of the asset's listings of the source (its mappings), and each one's newest row
        # by the idempotency key. Since 0020 no PostgreSQL index leads with asset_id: by the
        # column, this walked every row of the source for each pointer (hours at 100 M).
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM latest_observations l WHERE l.observed_at < ("
                "SELECT max((SELECT max(o.observed_at) FROM observations o "
                "WHERE o.listing_id = li.id)) "
                "FROM asset_mappings m JOIN listings li "
                "ON li.source = m.source AND li.source_asset_id = m.source_asset_id "
                "WHERE m.asset_id = l.asset_id AND li.source = l.source)"
            )
        )
    finally:
        await conn.close()


def check_latest_pg(dsn: str) -> int:
    """Number of inconsistent ``latest_observations`` rows (0 when consistent)."""
    return asyncio.run(_check_latest(dsn))


async def _undo_runs(dsn: str, run_ids: list[int]) -> dict[str, Any]:
    """Remove what the given runs loaded and point latest_observations back at the newest
    remaining rows, so the next repetition starts from the same store size."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn, timeout=10, command_timeout=None)
    try:
        async with conn.transaction():
            pairs = await conn.fetch(
                "DELETE FROM latest_observations l USING observations o "
                "WHERE l.observation_id = o.id AND o.run_id = ANY($1::bigint[]) "
                "RETURNING l.asset_id, l.source",
                run_ids,
            )
            since = await conn.fetchval(
                "SELECT date_trunc('day', min(observed_at)) FROM observations "
                "WHERE run_id = ANY($1::bigint[])",
                run_ids,
            )
            deleted = await conn.execute(
                "DELETE FROM observations WHERE run_id = ANY($1::bigint[])", run_ids
            )
            if since is not None:
                # The rollups of the days those rows were in, rebuilt from what remains (as
                # if the runs never happened: the next repetition inserts them, not updates).
                await conn.execute(
                    "DELETE FROM observation_rollups WHERE bucket >= $1",
                    int(since.timestamp()),
                )
                await conn.execute(
                    PG_BACKFILL.replace(
                        "WHERE i.price_usd IS NOT NULL",
                        "WHERE i.price_usd IS NOT NULL AND i.observed_at >= $1",
                    ),
                    since,
                )
            await conn.execute(
                "INSERT INTO latest_observations (asset_id, source, observation_id, observed_at) "
                "SELECT p.asset_id, p.source, x.id, x.observed_at "
                "FROM unnest($1::bigint[], $2::text[]) AS p(asset_id, source) "
                "CROSS JOIN LATERAL (SELECT o.id, o.observed_at FROM observations o "
                "WHERE o.asset_id = p.asset_id AND o.source = p.source "
                "ORDER BY o.observed_at DESC, o.id DESC LIMIT 1) AS x",
                [r["asset_id"] for r in pairs],
                [r["source"] for r in pairs],
            )
        await conn.execute("VACUUM (ANALYZE) observations")
        await conn.execute("VACUUM (ANALYZE) latest_observations")
    finally:
        await conn.close()
    return {"deleted": int(deleted.split()[-1]), "seconds": time.perf_counter() - started}


def undo_runs_pg(dsn: str, run_ids: list[int]) -> dict[str, Any]:
    return asyncio.run(_undo_runs(dsn, run_ids))
