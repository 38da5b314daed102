"""The background loop on the real clock: cadence, heartbeat, and graceful shutdown."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.runs.repository import utcnow
from kasparro.scheduler import Scheduler, state
from kasparro.scheduler.core import BUSY_POLL_SECONDS, SHUTDOWN_REASON
from kasparro.sources.http import Limiters
from kasparro.store.engine import create_engine
from kasparro.store.schema import leases, observations, runs
from tests.fixtures.settings import catalog_for
from tests.scheduler.helpers import all_runs, csv_settings, state_row, write_csv


@pytest.fixture
async def reader(db_url: str) -> AsyncIterator[AsyncEngine]:
    """Polls progress like the API does: plain BEGIN, so on SQLite it never queues for the
    write lock behind a run committing page after page (it would starve)."""
    eng = create_engine(db_url, pool_size=2, reader=True)
    try:
        yield eng
    finally:
        await eng.dispose()


async def wait_until(predicate: Callable[[], object], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await _eval(predicate):
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def _eval(predicate: Callable[[], object]) -> bool:
    value = predicate()
    if asyncio.iscoroutine(value):
        value = await value
    return bool(value)


async def pages_committed(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(func.coalesce(func.max(runs.c.pages), 0)))).scalar_one()
        )


async def pages_at_least(engine: AsyncEngine, minimum: int) -> bool:
    return await pages_committed(engine) >= minimum


async def observation_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(observations))).scalar_one()
        )


async def test_loop_runs_on_the_interval_and_heartbeats(
    engine: AsyncEngine,
    db_url: str,
    tmp_path: Path,
    http: httpx.AsyncClient,
    limiters: Limiters,
) -> None:
    interval = 0.4
    settings = csv_settings(db_url, write_csv(tmp_path / "m.csv", 2), schedule_csv_seconds=interval)
    sched = Scheduler(
        engine, catalog_for(settings), http=http, limiters=limiters, heartbeat_seconds=0.2
    )
    await sched.start()
    # Conditions, not a fixed sleep: on a loaded machine a run can outlast its slot (the
    # next slot is then skipped, not replayed), so "N runs in 1.7 s" was a guess. The hang
    # guard below only bounds a broken scheduler.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    beats: set[datetime] = set()
    while len(await all_runs(engine)) < 4 or len(beats) < 3:
        assert loop.time() < deadline, "the scheduler stopped running or heartbeating"
        beats.add((await state_row(engine))["heartbeat_at"])  # beaten periodically
        await asyncio.sleep(0.05)
    stopping = utcnow()
    await sched.stop(timeout=5)

    done = await all_runs(engine)
    assert all(r["status"] == "success" for r in done)
    for prev, nxt in itertools.pairwise(done):
        assert prev["finished_at"] <= nxt["started_at"], "runs of one source overlapped"
    # Never more often than the interval: each claim consumed its own slot of the grid.
    slots = math.floor((stopping - done[0]["started_at"]).total_seconds() / interval) + 1
    assert len(done) <= slots + 1, [r["started_at"] for r in done]
    row = await state_row(engine)
    status = sched.status()["csv"]
    assert status["heartbeat_at"] == row["heartbeat_at"]
    assert status["running"] is False
    # Stopped means stopped: no claims after stop() returned.
    await asyncio.sleep(interval * 1.5)
    assert len(await all_runs(engine)) == len(done)
    assert await sched.tick() == []


async def test_stop_lets_a_running_run_finish_within_the_timeout(
    engine: AsyncEngine,
    db_url: str,
    tmp_path: Path,
    http: httpx.AsyncClient,
    limiters: Limiters,
) -> None:
    rows = 100
    settings = csv_settings(
        db_url,
        write_csv(tmp_path / "m.csv", rows),
        csv_batch_rows=1,
        load_batch_rows=1,  # one transaction per page, not pages ready together in one
        schedule_csv_seconds=0.05,
    )
    sched = Scheduler(engine, catalog_for(settings), http=http, limiters=limiters)
    await sched.start()
    await wait_until(lambda: sched.status()["csv"]["running_here"])
    # No await between this check and stop(): the run is certainly still going.
    assert sched.status()["csv"]["running_here"], "run finished before stop(): nothing tested"
    await sched.stop(timeout=30)

    [run] = await all_runs(engine)  # the 0.05 s interval elapsed many times: still one run
    assert (run["status"], run["pages"], run["loaded"]) == ("success", rows + 1, rows)
    assert await observation_count(engine) == rows
    assert sched.status()["csv"]["running"] is False


async def test_stop_aborts_a_run_past_the_timeout_at_a_page_boundary(
    engine: AsyncEngine,
    reader: AsyncEngine,
    db_url: str,
    tmp_path: Path,
    http: httpx.AsyncClient,
    limiters: Limiters,
) -> None:
    rows = 600  # one page per row: far longer than the test waits (0.2 s)
    settings = csv_settings(
        db_url,
        write_csv(tmp_path / "m.csv", rows),
        csv_batch_rows=1,
        load_batch_rows=1,  # one transaction per page, not pages ready together in one
        schedule_csv_seconds=0.05,
    )
    sched = Scheduler(engine, catalog_for(settings), http=http, limiters=limiters)
    await sched.start()
    await wait_until(lambda: pages_at_least(reader, 3))
    stop_called = utcnow()
    await sched.stop(timeout=0.2)
    assert utcnow() - stop_called < timedelta(seconds=5), "abort did not take effect"

    [run] = await all_runs(engine)
    assert run["status"] == "failed"
    assert run["error"] == SHUTDOWN_REASON
    # Every committed page is fully there, the page in flight is fully absent.
    assert 3 <= run["pages"] < rows
    assert await observation_count(engine) == run["loaded"] == run["pages"]
    await assert_released_and_due_again(engine, stop_called)

    # The next scheduler resumes right after the last committed page.
    settings_fast = settings.model_copy(update={"csv_batch_rows": 1000, "load_batch_rows": 1000})
    nxt = Scheduler(engine, catalog_for(settings_fast), http=http, limiters=limiters)
    [resumed] = await nxt.tick()
    assert (resumed.status, resumed.resumed_from) == ("success", run["id"])
    assert await observation_count(engine) == rows


async def assert_released_and_due_again(
    engine: AsyncEngine, stop_called: datetime, source: str = "csv"
) -> None:
    async with engine.connect() as conn:
        lease = await conn.execute(
            select(leases.c.owner).where(leases.c.name == f"source:{source}")
        )
        assert lease.scalar_one() is None, "lease not released"
    row = await state_row(engine, source)
    assert row["consecutive_failures"] == 0, "shutdown counted as a source failure"
    assert stop_called <= row["next_run_at"] <= utcnow(), "an aborted source must be due at once"


async def test_stop_cancels_a_run_waiting_on_its_upstream_at_once(
    engine: AsyncEngine,
    db_url: str,
    tmp_path: Path,
    http: httpx.AsyncClient,
    limiters: Limiters,
) -> None:
    requested = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        requested.set()
        await asyncio.sleep(3600)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = csv_settings(
        db_url,
        tmp_path / "unused.csv",
        schedule_enabled_sources=["coinpaprika"],
        coinpaprika_base_url=f"http://127.0.0.1:{port}/v1",
        http_timeout_seconds=60,
    )
    sched = Scheduler(engine, catalog_for(settings), http=http, limiters=limiters)
    try:
        await sched.start()
        await asyncio.wait_for(requested.wait(), 10)
        stop_called = utcnow()
        await sched.stop(timeout=0.1)
        assert utcnow() - stop_called < timedelta(seconds=5), "stop waited for the upstream"
    finally:
        server.close()

    [run] = await all_runs(engine)
    assert (run["source"], run["status"], run["pages"]) == ("coinpaprika", "failed", 0)
    assert run["error"].startswith("cancelled")
    assert await observation_count(engine) == 0
    await assert_released_and_due_again(engine, stop_called, "coinpaprika")


async def hold_lease_elsewhere(engine: AsyncEngine) -> None:
    """Another replica (on another host: only expiry or release frees it) runs csv now."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(leases).values(
                name="source:csv",
                owner="another-host:4242:cafebabe",
                acquired_at=utcnow(),
                expires_at=utcnow() + timedelta(seconds=60),
            )
        )


async def release_lease(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(leases).values(owner=None, expires_at=None))


async def run_count(engine: AsyncEngine) -> int:
    return len(await all_runs(engine))


async def test_replica_wakes_for_the_next_slot_while_another_replica_runs_the_source(
    engine: AsyncEngine,
    reader: AsyncEngine,
    db_url: str,
    tmp_path: Path,
    http: httpx.AsyncClient,
    limiters: Limiters,
) -> None:
    settings = csv_settings(db_url, write_csv(tmp_path / "m.csv", 1), schedule_csv_seconds=60)
    async with engine.begin() as conn:  # the other replica claimed the slot now running
        await state.ensure_rows(conn, ["csv"], utcnow() + timedelta(seconds=0.5))
    await hold_lease_elsewhere(engine)
    sched = Scheduler(
        engine, catalog_for(settings), http=http, limiters=limiters
    )  # heartbeat: 10 s
    await sched.start()
    try:
        # The first pass (a transaction: not instant on a loaded machine) sees the lease.
        await wait_until(lambda: sched.status()["csv"]["running"])
        await release_lease(engine)
        # Runs at its slot (0.5 s), not at the next heartbeat-cadence pass (10 s).
        await wait_until(lambda: run_count(reader), within=3)
    finally:
        await sched.stop()


async def test_due_source_busy_elsewhere_is_rechecked_until_that_run_ends(
    engine: AsyncEngine,
    reader: AsyncEngine,
    db_url: str,
    tmp_path: Path,
    http: httpx.AsyncClient,
    limiters: Limiters,
) -> None:
    settings = csv_settings(db_url, write_csv(tmp_path / "m.csv", 1), schedule_csv_seconds=60)
    await hold_lease_elsewhere(engine)
    sched = Scheduler(engine, catalog_for(settings), http=http, limiters=limiters)
    await sched.start()
    try:
        await wait_until(lambda: sched.status()["csv"]["running"])  # a pass saw the lease
        assert await run_count(engine) == 0
        assert (await state_row(engine))["last_tick_at"] is None, "busy tick was consumed"
        await release_lease(engine)
        await wait_until(lambda: run_count(reader), within=BUSY_POLL_SECONDS + 2)
    finally:
        await sched.stop()
