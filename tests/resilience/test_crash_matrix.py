"""Crash recovery: SIGKILL the real ETL process at many points, run it again, and the store
must be exactly what a run that was never interrupted produces.

The ETL runs as ``python -m kasparro etl run --source coingecko --source coinpaprika`` (both
sources concurrently, as in production) against an emulator served from this test process.
Kill points:

* deterministic: ``KASPARRO_CRASH_AT=phase:source:page`` makes the process SIGKILL itself at
  a named point of the pipeline, including inside the page transaction (after the raw
  payload, after identity resolution, after the observations, just before COMMIT) and just
  after a commit or before the run's finish;
* random: the test SIGKILLs the process at a seeded random moment while a run is in flight
  (the emulator answers slowly so runs last about a second).

After the rerun: same observations and values, same identity mappings, same quarantine, no
duplicates, latest_observations consistent, checkpoints final and pointing at the last run,
every run row terminal, the killed ones ``crashed`` (found and marked by the rerun, whose
lease recovery did not wait for the lease to expire), and run counters that add up to the
store's contents (they are committed with their pages, so they survive the kill exactly).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import kasparro
from kasparro.emulator import EmulatorConfig, EmulatorServer
from tests.fixtures.emulator import EmulatorFactory
from tests.resilience.conftest import ReferenceStore
from tests.resilience.helpers import (
    all_runs,
    assert_latest_consistent,
    checkpoint,
    emu_settings,
    mapping_values,
    observation_values,
    quarantine_rows,
    run_logged,
    source_totals,
)

pytestmark = pytest.mark.slow

COINS = 400  # CoinGecko: 384 coins in 4 pages of 100; CoinPaprika: one page
PER_PAGE = 100
COINGECKO_PAGES = 4
SOURCES = ("coingecko", "coinpaprika")
CLI_TIMEOUT = 60.0

# Every phase, inside and outside the page transaction, on first, middle and last pages.
# CoinGecko's run with one page per transaction (load_batch_rows = PER_PAGE), so each point
# is its own case whatever the timing; GROUPED_CRASH_POINTS below let pages that are ready
# together share a transaction (the default), and kill inside such a group. CoinPaprika's
# single page keeps the default too: its 368 items are one transaction.
CRASH_POINTS = [
    "after_run_created:coingecko:0",
    "after_raw:coingecko:1",
    "after_assets:coingecko:2",
    "after_observations:coingecko:3",
    "before_commit:coingecko:2",
    "before_commit:coingecko:4",
    "after_commit:coingecko:2",
    "after_commit:coingecko:4",
    "before_finish:coingecko:0",
    "after_assets:coinpaprika:1",
    "before_commit:coinpaprika:1",
    "after_commit:coinpaprika:1",
]
# With the default load_batch_rows CoinGecko's pages 2-4 are usually ready together while
# page 1 commits (the local emulator answers at once), so these kill inside a multi-page
# transaction: none of pages 2-4 may survive a kill before its COMMIT.
GROUPED_CRASH_POINTS = [
    "after_raw:coingecko:3",
    "before_commit:coingecko:3",
    "after_commit:coingecko:3",
]
RANDOM_KILL_SEEDS = [7, 2024]


def cli_env(db_url: str, emu: EmulatorServer, **extra: str) -> dict[str, str]:
    # The child must import the same kasparro as this test, whatever the venv points at, and
    # must not inherit KASPARRO_* settings (a developer's FAIL_AT, say) from this process.
    src = str(Path(kasparro.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASPARRO_")}
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
        KASPARRO_DATABASE_URL=db_url,
        KASPARRO_COINGECKO_BASE_URL=emu.coingecko_base_url,
        KASPARRO_COINPAPRIKA_BASE_URL=emu.coinpaprika_base_url,
        KASPARRO_COINGECKO_PER_PAGE=str(PER_PAGE),
        KASPARRO_COINGECKO_MAX_COINS="all",
        KASPARRO_COINGECKO_REQUESTS_PER_MINUTE="60000",
        KASPARRO_COINPAPRIKA_REQUESTS_PER_MINUTE="60000",
        KASPARRO_HTTP_MAX_ATTEMPTS="3",
        KASPARRO_HTTP_BACKOFF_INITIAL_SECONDS="0.01",
        KASPARRO_HTTP_BACKOFF_MAX_SECONDS="0.05",
        # Long enough that only dead-owner detection (not expiry) can explain a fast recovery.
        KASPARRO_LEASE_TTL_SECONDS="300",
        KASPARRO_LOG_JSON="true",
    )
    env.update(extra)
    return env


async def start_cli(env: Mapping[str, str], cwd: Path, name: str) -> asyncio.subprocess.Process:
    with (cwd / f"{name}.out").open("wb") as out, (cwd / f"{name}.err").open("wb") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kasparro",
            "etl",
            "run",
            *(arg for s in SOURCES for arg in ("--source", s)),
            "--no-migrate",
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=err,
        )


async def wait_exit(proc: asyncio.subprocess.Process, cwd: Path, name: str) -> int:
    try:
        return await asyncio.wait_for(proc.wait(), CLI_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        tail = (cwd / f"{name}.err").read_text(errors="replace")[-2000:]
        raise AssertionError(
            f"{name}: ETL process still running after {CLI_TIMEOUT} s\n{tail}"
        ) from None


async def run_cli(env: Mapping[str, str], cwd: Path, name: str) -> int:
    return await wait_exit(await start_cli(env, cwd, name), cwd, name)


# (coins, tick) -> reference snapshot; the universe is deterministic, so one uninterrupted
# run per worker serves every case.
_REFERENCE: dict[tuple[int, int], dict[str, Any]] = {}


async def snapshot(engine: AsyncEngine) -> dict[str, Any]:
    return {
        "observations": await observation_values(engine),
        "mappings": await mapping_values(engine),
        "quarantine": await quarantine_rows(engine),
    }


async def reference(reference_store: ReferenceStore, emu: EmulatorServer) -> dict[str, Any]:
    """The store an uninterrupted run of both sources produces (in-process, fresh store)."""
    key = (COINS, emu.state.current_tick)
    if key not in _REFERENCE:
        twin = EmulatorServer(EmulatorConfig(coins=COINS)).start()
        try:
            twin.state.tick(emu.state.current_tick)
            ref = await reference_store()
            settings = emu_settings("sqlite+aiosqlite://", twin, coingecko_per_page=PER_PAGE)
            results = await run_logged(ref, settings, *SOURCES)
            assert {r.status for r in results.values()} == {"success"}
            _REFERENCE[key] = await snapshot(ref)
        finally:
            twin.stop()
    return _REFERENCE[key]


async def assert_recovered(
    engine: AsyncEngine,
    expected: dict[str, Any],
    killed_runs: list[dict[str, Any]],
) -> None:
    """The store after kill + rerun equals the uninterrupted reference, and the books agree."""
    got = await snapshot(engine)
    assert got["observations"] == expected["observations"]
    assert got["mappings"] == expected["mappings"]
    assert got["quarantine"] == expected["quarantine"]
    await assert_latest_consistent(engine)

    runs_now = {r["id"]: r for r in await all_runs(engine)}
    assert all(r["status"] != "running" for r in runs_now.values()), runs_now
    interrupted = [r for r in killed_runs if r["status"] == "running"]
    assert interrupted, "the kill should have interrupted at least one run"
    for r in interrupted:
        now = runs_now[r["id"]]
        assert now["status"] == "crashed", now
        assert "process died mid-run" in (now["error"] or "")
        # Counters are committed with their pages: the kill cannot have changed them.
        assert (now["pages"], now["loaded"]) == (r["pages"], r["loaded"])
    for row in runs_now.values():
        assert row["fetched"] == row["loaded"] + row["unchanged"] + row["rejected"], row

    for source in SOURCES:
        latest = max((r for r in runs_now.values() if r["source"] == source), key=lambda r: r["id"])
        assert latest["status"] == "success", latest
        state = await checkpoint(engine, source)
        assert state is not None
        assert state["in_progress"] is False and state["next_page"] == 1
        assert state["run_id"] == state["_run_id"] == latest["id"]
        # A CoinGecko run killed after committing some but not all of its pages is resumed
        # at the next page; anything else starts from page 1.
        dead = [r for r in interrupted if r["source"] == source]
        if dead and source == "coingecko" and 1 <= dead[-1]["pages"] < COINGECKO_PAGES:
            assert latest["resumed_from_run_id"] == dead[-1]["id"], latest
            assert latest["start_page"] == dead[-1]["pages"] + 1, latest
        else:
            assert latest["resumed_from_run_id"] is None, latest
            assert latest["start_page"] == 1, latest
        totals = await source_totals(engine, source)
        # Every stored observation was counted as loaded by exactly one committed page, and
        # every committed page kept its raw payload.
        assert totals["loaded"] == totals["stored"], (source, totals)
        # A page loaded in several transactions is archived by the first: a run killed after
        # that one but before the last kept the archive without completing the page, and the
        # rerun archives the page again (CoinPaprika's page under load_batch_rows=100).
        cut_pages = sum(
            1 for r in interrupted if r["source"] == source and r["pages"] == 0 and r["fetched"]
        )
        assert totals["raw_pages"] == totals["pages"] + cut_pages, (source, totals, cut_pages)


@pytest.mark.parametrize(
    ("crash_at", "batch_rows"),
    [pytest.param(p, PER_PAGE if ":coingecko:" in p else None, id=p) for p in CRASH_POINTS]
    + [pytest.param(p, None, id=f"grouped-{p}") for p in GROUPED_CRASH_POINTS],
)
async def test_sigkill_at_a_pipeline_point_then_rerun_equals_an_uninterrupted_run(
    engine: AsyncEngine,
    db_url: str,
    tmp_path: Path,
    emulator_factory: EmulatorFactory,
    reference_store: ReferenceStore,
    crash_at: str,
    batch_rows: int | None,
) -> None:
    emu = emulator_factory(coins=COINS)
    expected = await reference(reference_store, emu)

    batch = {} if batch_rows is None else {"KASPARRO_LOAD_BATCH_ROWS": str(batch_rows)}
    env = cli_env(db_url, emu, KASPARRO_CRASH_AT=crash_at, **batch)
    code = await run_cli(env, tmp_path, "killed")
    assert code == -signal.SIGKILL, (tmp_path / "killed.err").read_text()[-2000:]
    killed_runs = await all_runs(engine)
    source = crash_at.split(":")[1]
    mine = [r for r in killed_runs if r["source"] == source]
    assert mine and mine[-1]["status"] == "running"  # the process really died in that run

    # Run again, here in-process (another process than the dead one, as after a restart;
    # the random-kill cases rerun through the CLI).
    batch_setting = {} if batch_rows is None else {"load_batch_rows": batch_rows}
    settings = emu_settings(
        db_url, emu, coingecko_per_page=PER_PAGE, lease_ttl_seconds=300, **batch_setting
    )
    results = await run_logged(engine, settings, *SOURCES)
    for res in results.values():
        assert res.status == "success", res.error
    crashed = sorted(i for res in results.values() for i in res.crashed_runs)
    assert crashed == sorted(r["id"] for r in killed_runs if r["status"] == "running")
    await assert_recovered(engine, expected, killed_runs)


@pytest.mark.parametrize("seed", RANDOM_KILL_SEEDS)
async def test_sigkill_from_outside_at_a_random_moment_then_rerun_recovers(
    engine: AsyncEngine,
    db_url: str,
    tmp_path: Path,
    emulator_factory: EmulatorFactory,
    reference_store: ReferenceStore,
    seed: int,
) -> None:
    # Each request takes 0.3 s: CoinGecko's 4 pages keep its run in flight for >= 1.2 s, so
    # a kill up to 0.7 s after its run row appears always lands inside it.
    emu = emulator_factory(coins=COINS, latency_seconds=0.3)
    expected = await reference(reference_store, emu)
    delay = random.Random(seed).uniform(0.0, 0.7)

    proc = await start_cli(cli_env(db_url, emu), tmp_path, "killed")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLI_TIMEOUT
    while not [r for r in await all_runs(engine) if r["status"] == "running"]:
        assert proc.returncode is None, (tmp_path / "killed.err").read_text()[-2000:]
        assert loop.time() < deadline, "no run started"
        await asyncio.sleep(0.01)
    await asyncio.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    assert await proc.wait() == -signal.SIGKILL
    killed_runs = await all_runs(engine)

    code = await run_cli(cli_env(db_url, emu), tmp_path, "rerun")
    assert code == 0, (tmp_path / "rerun.err").read_text()[-3000:]
    await assert_recovered(engine, expected, killed_runs)


async def test_sigkill_between_the_batches_of_a_big_page_then_rerun_equals_uninterrupted(
    engine: AsyncEngine,
    db_url: str,
    tmp_path: Path,
    emulator_factory: EmulatorFactory,
    reference_store: ReferenceStore,
) -> None:
    """CoinPaprika's single page loaded in batches of 50: killed after the first batch's
    commit, the rows of that batch are durable but the checkpoint has not moved; the rerun
    re-reads the page, finds that batch unchanged and loads the rest."""
    emu = emulator_factory(coins=COINS)
    batch = 50
    ref = await reference_store()
    settings = emu_settings("sqlite+aiosqlite://", emu, load_batch_rows=batch)
    uninterrupted = await run_logged(ref, settings, "coinpaprika")
    assert uninterrupted["coinpaprika"].status == "success"
    expected = await snapshot(ref)

    env = cli_env(
        db_url,
        emu,
        KASPARRO_LOAD_BATCH_ROWS=str(batch),
        KASPARRO_CRASH_AT="after_commit:coinpaprika:1",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "kasparro", "etl", "run", "--source", "coinpaprika", "--no-migrate"),
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    (killed,) = await all_runs(engine)
    assert killed["status"] == "running"
    # Only the first batch is in: its rows and counters, but not the page nor the checkpoint.
    assert (killed["pages"], killed["fetched"], killed["loaded"]) == (0, batch, batch)
    assert await checkpoint(engine, "coinpaprika") is None

    rerun_settings = emu_settings(db_url, emu, load_batch_rows=batch, lease_ttl_seconds=300)
    rerun = (await run_logged(engine, rerun_settings, "coinpaprika"))["coinpaprika"]
    assert rerun.status == "success", rerun.error
    assert rerun.crashed_runs == [killed["id"]]
    assert rerun.unchanged == batch  # the committed batch, found again
    assert rerun.loaded == uninterrupted["coinpaprika"].loaded - batch

    got = await snapshot(engine)
    assert got["observations"] == expected["observations"]
    assert got["mappings"] == expected["mappings"]
    await assert_latest_consistent(engine)
    state = await checkpoint(engine, "coinpaprika")
    assert state is not None and state["in_progress"] is False
