"""PostgreSQL stopped mid-run: the run fails with a clear reason in bounded time, nothing
crashes, and once the database is back the next run succeeds without manual steps.

The shared server other tests use is never touched: each worker creates a throwaway cluster
(``initdb`` + ``pg_ctl``, on a free port, socket and data in a temporary directory) and stops
it with ``pg_ctl stop -m immediate`` (an abrupt stop: backends are killed, no shutdown
checkpoint, like a crash or a lost server). PostgreSQL refuses to run as root, so when the
tests run as root the server binaries run as the ``postgres`` OS user (``runuser``).

Skipped only when the PostgreSQL server binaries are not installed; any other problem
(no ``postgres`` user when running as root, initdb failing...) fails loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

import kasparro
from kasparro.api.app import create_app
from kasparro.api.config import ApiConfig
from kasparro.emulator import EmulatorConfig, EmulatorServer
from kasparro.runs.leases import LeaseLedger
from kasparro.settings import Settings
from kasparro.store.engine import create_engine
from kasparro.store.migrate import upgrade
from kasparro.store.schema import leases
from tests.fixtures.emulator import EmulatorFactory
from tests.fixtures.settings import runtime_for
from tests.resilience.conftest import ReferenceStore
from tests.resilience.helpers import (
    all_runs,
    assert_latest_consistent,
    checkpoint,
    emu_settings,
    mapping_values,
    observation_values,
    run_logged,
    source_totals,
)


def find_pg_bindir() -> Path | None:
    """Directory holding initdb and pg_ctl: $KASPARRO_TEST_PG_BINDIR, PATH, or the Debian
    layout /usr/lib/postgresql/<major>/bin (newest major)."""
    candidates: list[str] = []
    if os.environ.get("KASPARRO_TEST_PG_BINDIR"):
        candidates.append(os.environ["KASPARRO_TEST_PG_BINDIR"])
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for c in candidates:
        if all((Path(c) / b).is_file() for b in ("initdb", "pg_ctl", "postgres")):
            return Path(c)
    return None


PG_BINDIR = find_pg_bindir()

pytestmark = [
    pytest.mark.skipif(
        PG_BINDIR is None,
        reason="PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH, in "
        "/usr/lib/postgresql/*/bin or $KASPARRO_TEST_PG_BINDIR: cannot create a throwaway "
        "cluster to stop mid-run",
    ),
    pytest.mark.slow,
]

RUN_BOUND_S = 30.0  # a run must end this soon after the database goes away
HEALTH_BOUND_S = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayCluster:
    """A private PostgreSQL cluster: ``start()``, ``stop()``, ``url(db)``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Short path: the unix socket lives here too (sun_path is limited to ~107 bytes).
        self.root = Path(tempfile.mkdtemp(prefix="kasparro-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self.as_user: list[str] = []

    def create(self) -> None:
        """initdb and a first start on a free port."""
        if os.geteuid() == 0:  # postgres refuses to run as root: use the postgres OS user
            import pwd

            try:
                pg = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root and there is no 'postgres' OS user to run initdb as")
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.fail("running as root and runuser(1) is missing: cannot drop privileges")
            os.chown(self.root, pg.pw_uid, pg.pw_gid)
            self.as_user = [runuser, "-u", "postgres", "--"]
        initdb = ["-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        self._run("initdb", *initdb)
        for attempt in range(3):  # the free port may be taken between probe and bind
            self.port = free_port()
            if self._pg_ctl_start(check=attempt == 2):
                return

    def _run(self, binary: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*self.as_user, str(self.bindir / binary), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0 and check:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(
                f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}{tail}"
            )
        return proc

    def _pg_ctl_start(self, *, check: bool = True) -> bool:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=50 -c max_prepared_transactions=4"
        )
        log = str(self.root / "log")
        args = ["-D", str(self.data), "-o", options, "-l", log, "-w", "-t", "30", "start"]
        proc = self._run("pg_ctl", *args, check=check)
        return proc.returncode == 0

    def start(self) -> None:
        """(Re)start on the same port: clients reconnect to the same URL."""
        self._pg_ctl_start()

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def running(self) -> bool:
        cmd = [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"]
        return subprocess.run(cmd, capture_output=True, check=False).returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        url = self.url(name)
        upgrade(url)
        return url

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if self.data.exists() and self.running():
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayCluster]:
    assert PG_BINDIR is not None
    c = ThrowawayCluster(PG_BINDIR)
    try:
        c.create()
        yield c
    finally:
        c.destroy()


@pytest.fixture
def outage_db(cluster: ThrowawayCluster) -> str:
    """A fresh, migrated database in the throwaway cluster (started if a test stopped it)."""
    if not cluster.running():
        cluster.start()
    return cluster.create_database(f"outage_{uuid.uuid4().hex[:12]}")


async def pg_ctl(cluster: ThrowawayCluster, action: str) -> None:
    """Start/stop without blocking the event loop (the ETL keeps running meanwhile)."""
    await asyncio.to_thread(cluster.start if action == "start" else cluster.stop)


async def wait_for_pages(engine: AsyncEngine, source: str, pages: int, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        done = [r for r in await all_runs(engine) if r["source"] == source]
        if done and done[-1]["pages"] >= pages:
            return
        assert time.monotonic() < deadline, f"{source} did not commit {pages} pages in time"
        await asyncio.sleep(0.02)


def outage_settings(db_url: str, emu: EmulatorServer, **extra: Any) -> Settings:
    return emu_settings(db_url, emu, coingecko_per_page=25, **extra)


async def reference(reference_store: ReferenceStore, coins: int) -> dict[str, Any]:
    twin = EmulatorServer(EmulatorConfig(coins=coins)).start()
    try:
        ref = await reference_store()
        results = await run_logged(ref, outage_settings("sqlite+aiosqlite://", twin), "coingecko")
        assert results["coingecko"].status == "success"
        return {"obs": await observation_values(ref), "maps": await mapping_values(ref)}
    finally:
        twin.stop()


LOCK_XACT = "kasparro_outage_test_lock"


async def block_inside_page_transaction(cluster: ThrowawayCluster, db: str, run_id: int) -> None:
    """Make the pipeline's next page transaction wait inside the database, deterministically.

    A *prepared* transaction locks the run's row: it holds the lock without any session, so
    stopping the server cannot release it before the pipeline's own backend dies (a lock
    held by an ordinary session was released when that session died first, letting the
    page commit in the race). The pipeline blocks at its run-counter UPDATE, after its raw,
    identity and observation inserts. ``release_test_lock`` rolls it back after the restart:
    it is this test's lock, not something the ETL left behind."""
    import asyncpg

    dsn = f"postgresql://postgres@127.0.0.1:{cluster.port}/{db}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("BEGIN")
        await conn.execute("SELECT id FROM runs WHERE id = $1 FOR UPDATE", run_id)
        await conn.execute(f"PREPARE TRANSACTION '{LOCK_XACT}'")
        deadline = time.monotonic() + 30
        sql = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = $1 AND wait_event_type = 'Lock' AND state = 'active'"
        )
        while not await conn.fetchval(sql, db):
            assert time.monotonic() < deadline, "the pipeline never blocked on the locked row"
            await asyncio.sleep(0.02)
    finally:
        await conn.close()


async def release_test_lock(cluster: ThrowawayCluster, db: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.port}/{db}")
    try:
        await conn.execute(f"ROLLBACK PREPARED '{LOCK_XACT}'")
    finally:
        await conn.close()


@pytest.mark.parametrize("where", ["between_pages", "inside_page_transaction"])
async def test_database_stopped_mid_run_fails_cleanly_and_the_next_run_recovers(
    cluster: ThrowawayCluster,
    outage_db: str,
    emulator_factory: EmulatorFactory,
    reference_store: ReferenceStore,
    where: str,
) -> None:
    coins = 600  # CoinGecko lists 564: 23 pages of 25 at 0.15 s each, a run of >= 3.5 s
    emu = emulator_factory(coins=coins, latency_seconds=0.15)
    settings = outage_settings(outage_db, emu)
    expected = await reference(reference_store, coins)
    engine = create_engine(outage_db, pool_size=2)
    app = create_app(runtime_for(settings), config=ApiConfig(health_timeout_seconds=1.0))
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                base_url="http://kasparro.test",
            ) as api,
        ):
            assert (await api.get("/health")).status_code == 200

            # One ledger, as in one long-lived process (the composition root's).
            ledger = LeaseLedger()
            run = asyncio.create_task(run_logged(engine, settings, "coingecko", ledger=ledger))
            await wait_for_pages(engine, "coingecko", 3, within=30)
            db = outage_db.rsplit("/", 1)[1]
            committed = 0
            if where == "inside_page_transaction":
                run_id = (await all_runs(engine))[-1]["id"]
                await block_inside_page_transaction(cluster, db, run_id)
                # The page transaction now waiting on the lock is the one that must vanish:
                # pages committed before it (3 or more: under load, one more may commit
                # between seeing page 3 and taking the lock) are what the run keeps.
                committed = (await all_runs(engine))[-1]["pages"]
            await pg_ctl(cluster, "stop")
            stopped_at = time.monotonic()

            # The run ends by itself, failed, with a clear one-line reason; nothing raised.
            results = await asyncio.wait_for(run, RUN_BOUND_S)
            assert time.monotonic() - stopped_at < RUN_BOUND_S
            failed = results["coingecko"]
            assert failed.status == "failed"
            error = failed.error or ""
            assert error and "\n" not in error and len(error) <= 300, error
            assert 3 <= failed.pages < 23
            if where == "inside_page_transaction":
                # Died in its next page's transaction: that page was rolled back, not kept.
                assert failed.pages == committed >= 3
                assert "connection was closed in the middle of operation" in error, error
            failed_by = datetime.now(UTC)

            # While it is down: /health says so, fast.
            t0 = time.monotonic()
            down = await api.get("/health")
            assert time.monotonic() - t0 < HEALTH_BOUND_S
            assert down.status_code == 503, down.text
            assert down.json()["database"]["status"] == "error"

            # The database comes back: /health recovers without a restart of the app.
            await pg_ctl(cluster, "start")
            if where == "inside_page_transaction":
                await release_test_lock(cluster, db)
            deadline = time.monotonic() + 15
            while (await api.get("/health")).status_code != 200:
                assert time.monotonic() < deadline, "/health did not recover"
                await asyncio.sleep(0.2)

            # The next run in this same process succeeds at once: no waiting for the dead
            # run's lease to expire, the dead run is marked, the work resumes.
            t0 = time.monotonic()
            results = await run_logged(engine, settings, "coingecko", ledger=ledger)
            rerun = results["coingecko"]
            assert rerun.status == "success", rerun.error
            assert time.monotonic() - t0 < settings.lease_ttl_seconds / 2
            assert rerun.resumed_from == failed.run_id
            # This process knew how the run ended: recorded now, not guessed as "crashed".
            assert rerun.crashed_runs == []
    finally:
        await engine.dispose()

    engine = create_engine(outage_db, pool_size=2)
    try:
        runs = {r["id"]: r for r in await all_runs(engine)}
        dead = runs[failed.run_id]
        assert (dead["status"], dead["error"]) == ("failed", failed.error)
        assert dead["finished_at"] <= failed_by  # when it really ended, not when recorded
        assert dead["pages"] == failed.pages  # the pages it committed are kept and counted
        assert runs[rerun.run_id]["status"] == "success"
        assert await observation_values(engine) == expected["obs"]
        assert await mapping_values(engine) == expected["maps"]
        await assert_latest_consistent(engine)
        totals = await source_totals(engine, "coingecko")
        assert totals["loaded"] == totals["stored"] and totals["raw_pages"] == totals["pages"]
        state = await checkpoint(engine, "coingecko")
        assert state is not None and state["in_progress"] is False
        async with engine.connect() as conn:
            owner = (await conn.execute(select(leases.c.owner))).scalars().all()
        assert owner == [None]  # released
    finally:
        await engine.dispose()


def cli_env(db_url: str, emu: EmulatorServer) -> dict[str, str]:
    src = str(Path(kasparro.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASPARRO_")}
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
        KASPARRO_DATABASE_URL=db_url,
        KASPARRO_COINGECKO_BASE_URL=emu.coingecko_base_url,
        KASPARRO_COINPAPRIKA_BASE_URL=emu.coinpaprika_base_url,
        KASPARRO_COINGECKO_PER_PAGE="25",
        KASPARRO_COINGECKO_MAX_COINS="all",
        KASPARRO_COINGECKO_REQUESTS_PER_MINUTE="60000",
        KASPARRO_LEASE_TTL_SECONDS="300",
        KASPARRO_LOG_JSON="true",
    )
    return env


async def cli(env: dict[str, str], cwd: Path, name: str) -> asyncio.subprocess.Process:
    args = ["-m", "kasparro", "etl", "run", "--source", "coingecko", "--no-migrate"]
    with (cwd / f"{name}.out").open("wb") as out, (cwd / f"{name}.err").open("wb") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable, *args, env=env, cwd=cwd, stdout=out, stderr=err
        )


async def test_cli_process_survives_a_database_outage_and_the_next_process_recovers(
    cluster: ThrowawayCluster,
    outage_db: str,
    tmp_path: Path,
    emulator_factory: EmulatorFactory,
    reference_store: ReferenceStore,
) -> None:
    """The same outage under ``kasparro etl run``: the process reports the failure and exits
    1 (no crash, no hang); after the restart a new process finds the dead run, takes over
    its lease at once and completes the work."""
    coins = 600
    emu = emulator_factory(coins=coins, latency_seconds=0.15)
    expected = await reference(reference_store, coins)
    engine = create_engine(outage_db, pool_size=2)
    try:
        proc = await cli(cli_env(outage_db, emu), tmp_path, "first")
        await wait_for_pages(engine, "coingecko", 3, within=60)
        await engine.dispose()
        await pg_ctl(cluster, "stop")
        code = await asyncio.wait_for(proc.wait(), RUN_BOUND_S)
        out = (tmp_path / "first.out").read_text()
        err = (tmp_path / "first.err").read_text()
        assert code == 1, err[-3000:]
        assert "Kasparro ETL summary" in out and "failed" in out
        reasons = [line for line in err.splitlines() if line.startswith("coingecko failed: ")]
        assert len(reasons) == 1, err[-3000:]
        assert "Connect call failed" in reasons[0] or "connection" in reasons[0], reasons

        await pg_ctl(cluster, "start")
        t0 = time.monotonic()
        code = await asyncio.wait_for(
            (await cli(cli_env(outage_db, emu), tmp_path, "second")).wait(), 120
        )
        assert code == 0, (tmp_path / "second.err").read_text()[-3000:]
        assert time.monotonic() - t0 < 60  # well under the 300 s lease TTL

        runs = await all_runs(engine)
        first, second = runs[0], runs[-1]
        assert first["status"] == "crashed"  # its process could not record the end
        assert "process died mid-run" in first["error"]
        assert second["status"] == "success"
        assert second["resumed_from_run_id"] == first["id"]
        assert second["start_page"] == first["pages"] + 1
        assert await observation_values(engine) == expected["obs"]
        assert await mapping_values(engine) == expected["maps"]
        await assert_latest_consistent(engine)
    finally:
        await engine.dispose()
