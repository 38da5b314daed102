"""The PostgreSQL fast reader's connection policy: fair queueing, a connection kept free for
the cache check, no per-query session reset, no JIT."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from kasparro.query.fastread import PostgresReader, Prepared, open_reader


def _pg_reader(url: str, pool_size: int) -> PostgresReader:
    reader = open_reader(url, pool_size=pool_size)
    assert isinstance(reader, PostgresReader)
    return reader


async def test_data_version_never_waits_behind_page_queries(pg_url: str) -> None:
    """Queries block on a lock this test holds (no timing): with 3 - 1 = 2 query
    connections, two wait inside PostgreSQL, the third in the reader's queue, and the cache
    check still answers on the connection kept free for it."""
    reader = _pg_reader(pg_url, pool_size=3)
    key = 424242
    holder = await asyncpg.connect(_dsn(pg_url))
    blocked = Prepared(f"SELECT pg_advisory_xact_lock({key})", (), {})
    try:
        await reader.fetch(Prepared("SELECT 1", (), {}), {})
        await holder.execute(f"SELECT pg_advisory_lock({key})")
        queries = [asyncio.create_task(reader.fetch(blocked, {})) for _ in range(3)]
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE 'SELECT pg_advisory_xact_lock%'"
        )
        deadline = time.monotonic() + 30  # a hang guard, not a timing assertion
        while await holder.fetchval(waiting) < 2:
            assert time.monotonic() < deadline, "the queries never reached the lock"
            await asyncio.sleep(0.02)
        version = await asyncio.wait_for(reader.data_version(), 30)
        assert version is not None
        assert not any(q.done() for q in queries)  # answered while every query waits
        assert await holder.fetchval(waiting) == 2  # two at a time, never three
        await holder.execute(f"SELECT pg_advisory_unlock({key})")
        await asyncio.wait_for(asyncio.gather(*queries), 30)
    finally:
        await holder.close()
        await reader.close()


def _dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def test_queued_queries_are_served_in_arrival_order(pg_url: str) -> None:
    reader = _pg_reader(pg_url, pool_size=2)  # one query connection
    done: list[int] = []

    async def query(n: int) -> None:
        await reader.fetch(Prepared("SELECT pg_sleep(0.02)", (), {}), {})
        done.append(n)

    try:
        tasks = []
        for n in range(6):
            tasks.append(asyncio.create_task(query(n)))
            await asyncio.sleep(0)  # arrive in order
        await asyncio.gather(*tasks)
        assert done == list(range(6))
    finally:
        await reader.close()


async def test_sessions_are_not_reset_between_queries_and_run_without_jit(pg_url: str) -> None:
    reader = _pg_reader(pg_url, pool_size=2)
    try:
        mark = Prepared("SELECT set_config('kasparro.probe', 'kept', false)", (), {})
        show = Prepared(
            "SELECT current_setting('jit'), current_setting('kasparro.probe', true)", (), {}
        )
        await reader.fetch(mark, {})
        # Sequential queries reuse the one connection; no RESET ALL ran on its release.
        for _ in range(3):
            rows = await reader.fetch(show, {})
            assert tuple(rows[0]) == ("off", "kept")
    finally:
        await reader.close()


async def test_page_statements_are_planned_once_not_per_request(pg_url: str) -> None:
    """On a partitioned store a custom plan considers every month's partition and index on
    each run (1-2 ms for a 0.2 ms history page with a year of months); PostgreSQL's default
    plans the first five runs of a statement that way and may go on doing so. The reader's
    statements use one generic plan (partitions pruned at run time) and never a parallel
    one."""
    from kasparro.query.observations import ObservationFilter, prepared_for

    reader = _pg_reader(pg_url, pool_size=2)
    history = prepared_for(
        "postgresql",
        ObservationFilter(asset_ids=(1,)),
        sort="observed_at",
        descending=True,
        after=None,
    )
    try:
        for _ in range(7):
            await reader.fetch(history, {"asset_id": 1, "lim": 9})
        # Sequential queries reuse the one connection (see the test above), so its
        # prepared statements are the ones just run.
        rows = await reader.fetch(
            Prepared(
                "SELECT generic_plans, custom_plans, current_setting("
                "'max_parallel_workers_per_gather') FROM pg_prepared_statements"
                " WHERE statement = $1",
                ("sql",),
                {},
            ),
            {"sql": history.sql},
        )
        assert [tuple(r) for r in rows] == [(7, 0, "0")]
    finally:
        await reader.close()


async def test_shapes_whose_values_decide_the_plan_are_planned_per_request(pg_url: str) -> None:
    """Several assets (``= ANY($n)``): two rare assets are best read asset by asset, two
    common ones by walking the time order; a generic plan picks one for all values (it
    walked a 4M-row store's whole time index for two rare assets: 1 s instead of 2 ms)."""
    from kasparro.query.observations import ObservationFilter, prepared_for

    reader = _pg_reader(pg_url, pool_size=2)
    several = prepared_for(
        "postgresql",
        ObservationFilter(asset_ids=(1, 2)),
        sort="observed_at",
        descending=True,
        after=None,
    )
    assert several.custom_plan
    try:
        for _ in range(7):
            await reader.fetch(several, {"asset_ids": [1, 2], "lim": 9})
        rows = await reader.fetch(
            Prepared(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement = $1",
                ("sql",),
                {},
            ),
            {"sql": several.sql},
        )
        assert [tuple(r) for r in rows] == [(0, 7)]
    finally:
        await reader.close()
