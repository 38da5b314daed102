"""One scheduling pass at a time, on a hand-moved clock, against real databases."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.runs.repository import utcnow
from kasparro.scheduler import Scheduler, state
from kasparro.settings import Settings
from kasparro.sources.http import Limiters
from kasparro.store.engine import create_engine
from kasparro.store.schema import leases, observations
from tests.fixtures.settings import catalog_for
from tests.scheduler.helpers import ManualClock, all_runs, csv_settings, state_row, write_csv

INTERVAL = 60.0


def scheduler_for(
    engine: AsyncEngine,
    settings: Settings,
    http: httpx.AsyncClient,
    limiters: Limiters,
    clock: ManualClock,
    **kwargs: Any,
) -> Scheduler:
    return Scheduler(
        engine, catalog_for(settings), http=http, limiters=limiters, clock=clock, **kwargs
    )


async def test_due_source_runs_once_per_tick_and_next_run_advances_by_interval(
    engine: AsyncEngine, db_url: str, tmp_path: Path, http: httpx.AsyncClient, limiters: Limiters
) -> None:
    settings = csv_settings(db_url, write_csv(tmp_path / "m.csv", 3), schedule_csv_seconds=INTERVAL)
    clock = ManualClock()
    t0 = clock.now
    sched = scheduler_for(engine, settings, http, limiters, clock)

    first = await sched.tick()
    assert [(r.source, r.status, r.loaded) for r in first] == [("csv", "success", 3)]
    row = await state_row(engine)
    assert row["next_run_at"] == t0 + timedelta(seconds=INTERVAL)
    assert row["last_tick_at"] == t0
    assert row["owner"] == sched.owner
    assert row["consecutive_failures"] == 0

    assert await sched.tick() == []  # same instant: already claimed
    clock.at(INTERVAL / 2, t0)
    assert await sched.tick() == []  # not yet due
    assert (await state_row(engine))["next_run_at"] == t0 + timedelta(seconds=INTERVAL)

    clock.at(INTERVAL, t0)
    second = await sched.tick()
    assert [r.status for r in second] == ["success"]
    assert (await state_row(engine))["next_run_at"] == t0 + timedelta(seconds=2 * INTERVAL)

    runs = await all_runs(engine)
    assert [(r["trigger"], r["status"], r["owner"]) for r in runs] == [
        ("schedule", "success", sched.owner)
    ] * 2
    status = sched.status()["csv"]
    assert status["interval_s"] == INTERVAL
    assert status["next_run_at"] == t0 + timedelta(seconds=2 * INTERVAL)
    assert status["running"] is False


async def test_scheduler_down_for_many_intervals_runs_once_then_returns_to_the_grid(
    engine: AsyncEngine, db_url: str, tmp_path: Path, http: httpx.AsyncClient, limiters: Limiters
) -> None:
    settings = csv_settings(db_url, write_csv(tmp_path / "m.csv", 1), schedule_csv_seconds=INTERVAL)
    clock = ManualClock()
    t0 = clock.now
    sched = scheduler_for(engine, settings, http, limiters, clock)
    await sched.tick()

    clock.at(5.5 * INTERVAL, t0)
    assert len(await sched.tick()) == 1
    assert await sched.tick() == []
    assert (await state_row(engine))["next_run_at"] == t0 + timedelta(seconds=6 * INTERVAL)
    assert len(await all_runs(engine)) == 2


async def test_failed_run_backs_off_exponentially_then_success_resets(
    engine: AsyncEngine, db_url: str, tmp_path: Path, http: httpx.AsyncClient, limiters: Limiters
) -> None:
    path = tmp_path / "not-yet.csv"
    settings = csv_settings(db_url, path, schedule_csv_seconds=10.0)
    clock = ManualClock()
    sched = scheduler_for(engine, settings, http, limiters, clock, retry_base_seconds=1.0)

    # Delays after failure 1..6: 1, 2, 4, 8, then capped at the 10 s interval.
    for failures, delay in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (6, 10)]:
        failed_at = clock.now
        [result] = await sched.tick()
        assert result.status == "failed"
        assert "file not found" in (result.error or "")
        row = await state_row(engine)
        assert row["consecutive_failures"] == failures
        assert row["next_run_at"] == failed_at + timedelta(seconds=delay)
        clock.now = failed_at + timedelta(seconds=delay * 0.9)
        assert await sched.tick() == [], "retried before its backoff elapsed"
        clock.now = row["next_run_at"]

    write_csv(path, 2)
    recovered_at = clock.now
    [result] = await sched.tick()
    assert (result.status, result.loaded) == ("success", 2)
    row = await state_row(engine)
    assert row["consecutive_failures"] == 0
    assert row["next_run_at"] == recovered_at + timedelta(seconds=10.0)

    runs = await all_runs(engine)
    assert [r["status"] for r in runs] == ["failed"] * 6 + ["success"]
    assert all("file not found" in r["error"] for r in runs[:6])


async def test_two_schedulers_racing_run_each_tick_exactly_once(
    db_url: str, tmp_path: Path, http: httpx.AsyncClient, limiters: Limiters
) -> None:
    # Separate engines (separate connection pools), distinct owners: two replicas in one loop.
    settings = csv_settings(db_url, write_csv(tmp_path / "m.csv", 2), schedule_csv_seconds=INTERVAL)
    clock = ManualClock()
    t0 = clock.now
    engines = [create_engine(db_url, pool_size=3) for _ in range(2)]
    try:
        a, b = (scheduler_for(e, settings, http, limiters, clock) for e in engines)
        for k in range(5):
            clock.at(k * INTERVAL, t0)
            results = await asyncio.gather(a.tick(), b.tick(), a.tick(), b.tick())
            ran = [r for rs in results for r in rs]
            assert [r.status for r in ran] == ["success"], f"tick {k}: {ran}"
        runs = await all_runs(engines[0])
        assert len(runs) == 5
        assert {r["owner"] for r in runs} <= {a.owner, b.owner}
    finally:
        for e in engines:
            await e.dispose()


async def test_source_running_elsewhere_is_left_due_until_its_lease_ends(
    engine: AsyncEngine, db_url: str, tmp_path: Path, http: httpx.AsyncClient, limiters: Limiters
) -> None:
    settings = csv_settings(db_url, write_csv(tmp_path / "m.csv", 1))
    clock = ManualClock()
    sched = scheduler_for(engine, settings, http, limiters, clock)
    other = "another-host:4242:cafebabe"  # not this host: only its lease expiry frees it
    async with engine.begin() as conn:
        await conn.execute(
            insert(leases).values(
                name="source:csv",
                owner=other,
                acquired_at=utcnow(),
                expires_at=utcnow() + timedelta(seconds=60),
            )
        )

    assert await sched.tick() == []
    row = await state_row(engine)
    assert row["next_run_at"] == clock.now and row["last_tick_at"] is None, "tick was consumed"
    assert sched.status()["csv"]["running"] is True
    assert sched.status()["csv"]["running_here"] is False

    async with engine.begin() as conn:  # that run ended: its lease has expired
        await conn.execute(
            leases.update()
            .where(leases.c.name == "source:csv")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    [result] = await sched.tick()
    assert result.status == "success"
    async with engine.connect() as conn:
        assert (await conn.execute(select(observations.c.id))).all() != []


async def test_shortened_interval_pulls_a_persisted_next_run_closer(
    engine: AsyncEngine, db_url: str, tmp_path: Path, http: httpx.AsyncClient, limiters: Limiters
) -> None:
    path = write_csv(tmp_path / "m.csv", 1)
    clock = ManualClock()
    t0 = clock.now
    slow = csv_settings(db_url, path, schedule_csv_seconds=3600.0)
    await scheduler_for(engine, slow, http, limiters, clock).tick()
    assert (await state_row(engine))["next_run_at"] == t0 + timedelta(hours=1)

    clock.at(10, t0)
    fast = csv_settings(db_url, path, schedule_csv_seconds=60.0)
    restarted = scheduler_for(engine, fast, http, limiters, clock)
    assert await restarted.tick() == []
    # No later than now + the new interval (t0 + 70 s), and moved by whole intervals from the
    # persisted slot (t0 + 3600 s - 59 x 60 s): replicas keep sharing one slot grid.
    assert (await state_row(engine))["next_run_at"] == t0 + timedelta(seconds=60)


async def test_a_replica_whose_clock_lags_never_reopens_the_slot_just_claimed(
    engine: AsyncEngine, db_url: str, tmp_path: Path, http: httpx.AsyncClient, limiters: Limiters
) -> None:
    # Two schedulers starting together: A claims the first slot (t0) and moves the next run
    # to t0 + 60 s; B read its clock a moment before, so t0 + 60 s looks further than one
    # interval away. Capping it must not move it back onto t0, which B would then run again.
    settings = csv_settings(db_url, write_csv(tmp_path / "m.csv", 1), schedule_csv_seconds=60.0)
    clock_a, clock_b = ManualClock(), ManualClock()
    t0 = clock_a.now
    [first] = await scheduler_for(engine, settings, http, limiters, clock_a).tick()
    assert first.status == "success"

    clock_b.at(-0.5, t0)
    late = scheduler_for(engine, settings, http, limiters, clock_b)
    assert await late.tick() == []
    assert (await state_row(engine))["next_run_at"] == t0 + timedelta(seconds=60)
    clock_b.at(1, t0)
    assert await late.tick() == []  # t0 stays consumed
    assert [r["status"] for r in await all_runs(engine)] == ["success"]


def test_enabled_sources_are_validated(tmp_path: Path) -> None:
    base = csv_settings("sqlite+aiosqlite:///unused.db", tmp_path / "x.csv")

    def scheduled(enabled: list[str] | None) -> dict[str, float]:
        return catalog_for(
            base.model_copy(update={"schedule_enabled_sources": enabled})
        ).scheduled()

    with pytest.raises(ValueError, match="unknown source"):
        scheduled(["nope"])
    assert scheduled([]) == {}
    # Unset: every source that declares a schedule, at its provider's interval.
    every = scheduled(None)
    assert every == {
        "coingecko": 600.0,
        "coinpaprika": 600.0,
        "csv": 60.0,
        "coingecko_reference": 3600.0,
        "coinpaprika_reference": 3600.0,
        **{v: 120.0 for v in ("binance", "coinbase", "kraken", "okx")},
        **{f"{v}_markets": 3600.0 for v in ("binance", "coinbase", "kraken", "okx")},
    }


async def test_claim_is_a_compare_and_set_that_exactly_one_transaction_wins(
    engine: AsyncEngine,
) -> None:
    due = ManualClock().now
    later = due + timedelta(seconds=INTERVAL)
    async with engine.begin() as conn:
        await state.ensure_rows(conn, ["csv"], due)

    async def claim_in_new_transaction(owner: str, now: datetime = due) -> bool:
        async with engine.begin() as conn:
            return await state.claim(conn, "csv", seen=due, next_run_at=later, now=now, owner=owner)

    async with engine.connect() as first:
        await first.begin()
        assert await state.claim(first, "csv", seen=due, next_run_at=later, now=due, owner="a")
        # The rival read the same due row; its UPDATE must wait for us, then match nothing.
        rival = asyncio.create_task(claim_in_new_transaction("b"))
        await asyncio.sleep(0.3)
        assert not rival.done(), "the rival's claim did not wait for the row"
        await first.commit()
    assert await rival is False
    row = await state_row(engine)
    assert (row["owner"], row["next_run_at"]) == ("a", later)
    # A stale reader (it saw `due`) cannot claim the moved row even when `later` is reached.
    assert await claim_in_new_transaction("c", now=later) is False


async def test_a_fresh_stores_first_tick_loads_a_venues_market_list_before_its_tickers(
    engine: AsyncEngine,
    db_url: str,
    http: httpx.AsyncClient,
    limiters: Limiters,
    emulator_factory: Any,
) -> None:
    # Both due at once on an empty store: the tickers need the market list, so the
    # scheduler runs the list first instead of failing the tickers' first run.
    from kasparro.emulator import EmulatorConfig
    from tests.fixtures.etl import make_settings, venue_urls

    emu = emulator_factory(EmulatorConfig(coins=300))
    settings = make_settings(
        db_url, **venue_urls(emu), schedule_enabled_sources=["kraken", "kraken_markets"]
    )
    sched = scheduler_for(engine, settings, http, limiters, ManualClock())
    results = {r.source: r for r in await sched.tick()}
    assert {n: (r.status, r.error) for n, r in results.items()} == {
        "kraken": ("success", None),
        "kraken_markets": ("success", None),
    }
    assert results["kraken"].loaded == results["kraken_markets"].loaded > 50
