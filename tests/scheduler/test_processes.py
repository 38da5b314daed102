"""Two real scheduler processes against one database: no tick runs twice.

Each process is ``python -m kasparro.scheduler`` (the standalone entry point), stopped with
SIGTERM, so this also covers signal handling and a clean exit.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

import kasparro
from kasparro.store.schema import observations
from tests.scheduler.helpers import all_runs, write_csv

INTERVAL = 1.0
RUNS = 3  # finished runs while both processes run side by side


def spawn(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "kasparro.scheduler"],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def events(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_bytes().splitlines():
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue  # stdlib logging lines from third parties
    return out


def logged_by_all(logs: list[Path], name: str) -> bool:
    return all(any(e.get("event") == name for e in events(p)) for p in logs)


async def wait_for_event(logs: list[Path], name: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not logged_by_all(logs, name):
        assert time.monotonic() < deadline, f"{name} not logged by every process"
        await asyncio.sleep(0.05)


def claims(log: Path) -> list[str]:
    return [e["slot"] for e in events(log) if e.get("event") == "scheduled_run_claimed"]


def scheduler_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    # The children must import the same kasparro as this test, whatever the venv points at.
    src = str(Path(kasparro.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    return {
        **os.environ,
        "PYTHONPATH": path,
        "KASPARRO_DATABASE_URL": db_url,
        "KASPARRO_CSV_PATHS": str(write_csv(tmp_path / "m.csv", 3)),
        "KASPARRO_SCHEDULE_ENABLED_SOURCES": "csv",
        "KASPARRO_CSV_SCHEDULE_SECONDS": str(INTERVAL),
        "KASPARRO_LOG_JSON": "true",
        "KASPARRO_LOG_LEVEL": "DEBUG",
    }


def assert_at_most_one_run_per_slot(
    runs: list[dict[str, Any]], claimed: list[str], stop_at: datetime
) -> None:
    for prev, nxt in itertools.pairwise(runs):
        assert prev["finished_at"] <= nxt["started_at"], f"overlap: {prev} / {nxt}"
    # Never more runs than elapsed slots (slots are on a fixed grid), give or take one: the
    # first run may start a little after its slot, and a slot due just before stop_at may
    # still start after it. Fewer is allowed: a slot that comes while the previous run still
    # goes, or while a loaded machine pauses both processes, is coalesced into the next one
    # by design (``timing.next_slot``), so how many are missed depends on the machine, not
    # on the exclusivity tested here.
    slots = math.floor((stop_at - runs[0]["started_at"]).total_seconds() / INTERVAL) + 1
    assert len(runs) <= slots + 1, (len(runs), slots)
    # Every claimed slot is on the grid of the first one.
    first, *rest = sorted(datetime.fromisoformat(s) for s in claimed)
    for slot in rest:
        steps = (slot - first).total_seconds() / INTERVAL
        assert abs(steps - round(steps)) < 1e-3, (first, slot)


async def test_two_scheduler_processes_never_run_a_tick_twice(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    env = scheduler_env(db_url, tmp_path)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    # cwd=tmp_path: no developer .env is read by the children.
    procs = [spawn(env, tmp_path, log) for log in logs]
    try:
        await wait_for_event(logs, "scheduler_started")
        # Side by side for at least RUNS finished runs (a condition, not a sleep: on a loaded
        # machine they take longer).
        await wait_for_finished_runs(engine, RUNS)
        stop_at = datetime.now(UTC)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(p.wait, 30) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert codes == [0, 0], [p.read_text()[-2000:] for p in logs]
    assert logged_by_all(logs, "scheduler_stopped")

    runs = await all_runs(engine)
    owners = {e["owner"] for p in logs for e in events(p) if e.get("event") == "scheduler_started"}
    assert len(owners) == 2
    assert {r["owner"] for r in runs} <= owners
    assert all(r["status"] == "success" for r in runs), runs  # none left 'running'
    # No slot was claimed twice, by either process, and every claim produced exactly one run,
    # or lost the pipeline's lease to the other process's run (the last guard, when a loaded
    # machine delays a run past the next slot: "skipped", never a second concurrent run).
    claimed = claims(logs[0]) + claims(logs[1])
    skipped = [e for p in logs for e in events(p) if e.get("event") == "scheduled_run_skipped"]
    assert len(claimed) == len(set(claimed)) == len(runs) + len(skipped)
    assert len(runs) >= RUNS
    assert_at_most_one_run_per_slot(runs, claimed, stop_at)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # the multi-replica setup
async def test_replica_killed_mid_run_is_recovered_by_the_survivor(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    rows = 200
    env = {
        **scheduler_env(db_url, tmp_path),
        "KASPARRO_CSV_PATHS": str(write_csv(tmp_path / "big.csv", rows)),
        # One page per row, one transaction per page: the first run outlasts the kill.
        "KASPARRO_CSV_BATCH_ROWS": "1",
        "KASPARRO_LOAD_BATCH_ROWS": "1",
    }
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [spawn(env, tmp_path, log) for log in logs]
    try:
        await wait_for_event(logs, "scheduler_started")
        owners = [owner_of(log) for log in logs]
        victim_run = await wait_for_run_with_pages(engine, 3)
        victim = owners.index(victim_run["owner"])
        survivor = 1 - victim
        procs[victim].kill()  # SIGKILL: no cleanup, its lease and 'running' row stay behind
        await asyncio.to_thread(procs[victim].wait, 30)
        await wait_for_observations(engine, rows)
        # The survivor keeps the cadence on its own: a run after the resumed one finishes.
        await wait_for_finished_runs(engine, 3)
        procs[survivor].send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(procs[survivor].wait, 30) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    runs = await all_runs(engine)
    crashed, resumed, *later = runs
    assert (crashed["id"], crashed["status"], crashed["owner"]) == (
        victim_run["id"],
        "crashed",
        owners[victim],
    )
    assert (resumed["status"], resumed["owner"]) == ("success", owners[survivor])
    assert resumed["resumed_from_run_id"] == crashed["id"]
    # Exactly the file's rows: the victim's committed pages plus the survivor's, no duplicates
    # and nothing from the page in flight when it died.
    assert crashed["loaded"] + resumed["loaded"] == rows
    assert await observation_count(engine) == rows
    assert later and all(r["status"] == "success" and r["owner"] == owners[survivor] for r in later)
    for prev, nxt in itertools.pairwise(runs):
        assert prev["finished_at"] <= nxt["started_at"], f"overlap: {prev} / {nxt}"
    claimed = claims(logs[0]) + claims(logs[1])
    assert len(claimed) == len(set(claimed))


def owner_of(log: Path) -> str:
    return next(e["owner"] for e in events(log) if e.get("event") == "scheduler_started")


async def wait_for_run_with_pages(engine: AsyncEngine, pages: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        found = [r for r in await all_runs(engine) if r["pages"] >= pages]
        if found:
            return found[0]
        assert time.monotonic() < deadline, "no run made progress"
        await asyncio.sleep(0.02)


async def observation_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.execute(select(func.count()).select_from(observations))
        return int(count.scalar_one())


async def wait_for_observations(engine: AsyncEngine, expected: int) -> None:
    deadline = time.monotonic() + 30
    while await observation_count(engine) < expected:
        assert time.monotonic() < deadline, "the survivor did not finish the work"
        await asyncio.sleep(0.05)


async def wait_for_finished_runs(engine: AsyncEngine, count: int) -> None:
    deadline = time.monotonic() + 30
    while sum(r["finished_at"] is not None for r in await all_runs(engine)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} runs finished"
        await asyncio.sleep(0.05)
