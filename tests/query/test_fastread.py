"""The PostgreSQL fast reader's connection policy: fair queueing, a connection kept free for
the cache check, no per-query session reset, no JIT."""

from __future__ import annotations

import asyncio
import time

from kasparro.query.fastread import PostgresReader, Prepared, open_reader


def _pg_reader(url: str, pool_size: int) -> PostgresReader:
    reader = open_reader(url, pool_size=pool_size)
    assert isinstance(reader, PostgresReader)
    return reader


async def test_data_version_never_waits_behind_page_queries(pg_url: str) -> None:
    reader = _pg_reader(pg_url, pool_size=3)
    sleep = Prepared("SELECT pg_sleep(0.3)", (), {})
    try:
        await reader.fetch(Prepared("SELECT 1", (), {}), {})
        started = time.perf_counter()
        # Four queries on 3 - 1 = 2 query connections: they run two at a time.
        queries = [asyncio.create_task(reader.fetch(sleep, {})) for _ in range(4)]
        await asyncio.sleep(0.05)
        assert await reader.data_version() is not None
        assert time.perf_counter() - started < 0.25  # answered while both queries sleep
        await asyncio.gather(*queries)
        assert time.perf_counter() - started >= 0.55  # two rounds, never three at once
    finally:
        await reader.close()


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
