"""Shared machinery of the benchmark suite: processes, databases, statistics, tables.

Everything here talks to loopback only: the emulator and the API run as child processes on
127.0.0.1 ports chosen at run time, PostgreSQL is the local server. Every child process is
started and stopped by this module (by its own pid, never by name).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.machine import git_commit, load_average, machine_facts, src_fingerprint, tool_version  # noqa: F401 (re-exported)
from bench.paths import BENCH_DIR, RESULTS_DIR, ROOT  # noqa: F401 (re-exported)
from bench.report import (  # noqa: F401 (re-exported)
    fmt_num,
    fmt_ratio,
    fmt_spread,
    print_table,
    ratio,
    summarize,
    verdict,
)

PYTHON = sys.executable

PG_ADMIN_DSN = os.environ.get(
    "KASPARRO_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)

# Settings every benchmark ETL run shares: budgets far above anything the emulator needs
# (the emulator runs without a rate limit, except in benchmark 6), quiet logs.
UNLIMITED_RPM = "1000000"


def log(message: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- statistics --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ChildProcess:
    """A child process with its output in a log file; stopped by pid (SIGTERM, then SIGKILL)."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def spawn(name: str, args: list[str], env: dict[str, str], workdir: Path) -> ChildProcess:
    log_path = workdir / f"{name}-{uuid.uuid4().hex[:6]}.log"
    fh = log_path.open("wb")
    proc = subprocess.Popen(args, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=str(ROOT))
    fh.close()
    return ChildProcess(name, proc, log_path)


def wait_http(url: str, child: ChildProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited early:\n{child.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    child.stop()
    raise TimeoutError(f"{child.name} not ready after {timeout:.0f} s:\n{child.tail()}")


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASPARRO_")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Emulator:
    """``python -m kasparro.emulator`` in its own process (its CPU and memory are not the
    ETL's), zero latency, no rate limit unless asked for."""

    def __init__(
        self,
        coins: int,
        workdir: Path,
        *,
        seed: int = 1,
        cg_rate_limit: float | None = None,
        ready_timeout: float = 240.0,
    ) -> None:
        self.coins = coins
        self.port = free_port()
        args = [
            PYTHON,
            "-m",
            "kasparro.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--coins",
            str(coins),
            "--seed",
            str(seed),
            "--latency",
            "0",
            "--cg-rate-limit",
            "none" if cg_rate_limit is None else str(cg_rate_limit),
            "--cp-rate-limit",
            "none",
            "--log-level",
            "warning",
        ]
        started = time.perf_counter()
        self.child = spawn(f"emulator-{coins}", args, base_env(), workdir)
        wait_http(self.control_url + "/health", self.child, ready_timeout)
        self.startup_s = time.perf_counter() - started
        self.http = httpx.Client(timeout=120)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def coingecko_url(self) -> str:
        return self.base_url + "/api/v3"

    @property
    def coinpaprika_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def control_url(self) -> str:
        return self.base_url + "/_emulator"

    def tick(self, n: int = 1) -> int:
        return int(self.http.post(self.control_url + "/tick", params={"n": n}).json()["tick"])

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get(self.control_url + "/stats").json())

    def reset_stats(self) -> None:
        self.http.delete(self.control_url + "/stats").raise_for_status()

    def fetch_all(self, per_page: int = 250) -> tuple[list[bytes], bytes]:
        """Every CoinGecko page (the exact requests Kasparro sends) and the CoinPaprika
        tickers of the current tick. Also warms the emulator's response cache for this tick
        so lazy data generation is never inside a timed ETL run."""
        pages: list[bytes] = []
        page = 1
        while True:
            resp = self.http.get(
                self.coingecko_url + "/coins/markets",
                params={
                    "vs_currency": "usd",
                    "order": "market_cap_desc",
                    "per_page": per_page,
                    "page": page,
                    "sparkline": "false",
                },
            )
            resp.raise_for_status()
            pages.append(resp.content)
            count = len(json.loads(resp.content))
            if count < per_page:
                break
            page += 1
        tickers = self.http.get(self.coinpaprika_url + "/tickers", params={"quotes": "USD"})
        tickers.raise_for_status()
        return pages, tickers.content

    def warm(self, per_page: int = 250) -> None:
        self.fetch_all(per_page)
        self.reset_stats()

    def close(self) -> None:
        self.http.close()
        self.child.stop()


# --- databases ----------------------------------------------------------------------------


def pg_dsn(dbname: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


async def _pg_admin(*statements: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        for stmt in statements:
            await conn.execute(stmt)
    finally:
        await conn.close()


async def pg_fetchval(dsn: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def pg_scalar(dsn: str, sql: str, *args: Any) -> Any:
    return asyncio.run(pg_fetchval(dsn, sql, *args))


def pg_version() -> str | None:
    try:
        return str(pg_scalar(PG_ADMIN_DSN, "SHOW server_version"))
    except (OSError, asyncpg.PostgresError) as exc:
        return f"unreachable ({exc})"


def migrate(url: str) -> None:
    from kasparro.store.migrate import upgrade

    upgrade(url)


class Databases:
    """Fresh, migrated databases for one suite run: a migrated template per dialect, copied
    for every fresh database (``CREATE DATABASE ... TEMPLATE`` / a file copy), all dropped
    at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.tag = f"kbench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._pg_template: str | None = None
        self._sqlite_template: Path | None = None
        self._created: list[str] = []
        self._n = 0

    # PostgreSQL
    def fresh_pg(self) -> str:
        """A new, migrated PostgreSQL database; returns its plain ``postgresql://`` URL."""
        if self._pg_template is None:
            name = f"{self.tag}_template"
            asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
            self._created.append(name)
            migrate(pg_dsn(name))
            self._pg_template = name
        self._n += 1
        name = f"{self.tag}_{self._n}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self._pg_template}"'))
        self._created.append(name)
        return pg_dsn(name)

    def drop_pg(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self._created:
            self._created.remove(name)

    # SQLite
    def fresh_sqlite(self) -> Path:
        if self._sqlite_template is None:
            path = self.workdir / "template.db"
            migrate(f"sqlite+aiosqlite:///{path}")
            with contextlib.closing(sqlite3.connect(path)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._sqlite_template = path
        self._n += 1
        path = self.workdir / f"kasparro-{self._n}.db"
        shutil.copyfile(self._sqlite_template, path)
        return path

    @staticmethod
    def drop_sqlite(path: Path) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                Path(str(path) + suffix).unlink()

    def close(self) -> None:
        for name in list(self._created):
            with contextlib.suppress(Exception):
                asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._created.clear()


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


# --- the ETL in a child process -----------------------------------------------------------


@dataclass
class EtlRun:
    elapsed_s: float
    max_rss_bytes: int
    cpu_s: float
    results: list[dict[str, Any]]
    process_wall_s: float
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def loaded(self) -> int:
        return sum(int(r["loaded"]) for r in self.results)

    @property
    def fetched(self) -> int:
        return sum(int(r["fetched"]) for r in self.results)

    @property
    def unchanged(self) -> int:
        return sum(int(r["unchanged"]) for r in self.results)

    @property
    def rejected(self) -> int:
        return sum(int(r["rejected"]) for r in self.results)


class EtlFailed(RuntimeError):
    """The ETL child failed: ``run`` holds its results when it got as far as reporting."""

    def __init__(self, summary: str, detail: str, run: EtlRun | None = None) -> None:
        super().__init__(f"{summary}\n{detail}")
        self.summary = summary
        self.run = run


def etl_env(database_url: str, emulator: Emulator, **overrides: Any) -> dict[str, str]:
    env = base_env()
    env.update(
        {
            "KASPARRO_DATABASE_URL": database_url,
            "KASPARRO_COINGECKO_BASE_URL": emulator.coingecko_url,
            "KASPARRO_COINPAPRIKA_BASE_URL": emulator.coinpaprika_url,
            "KASPARRO_COINGECKO_MAX_COINS": "all",
            "KASPARRO_COINGECKO_PER_PAGE": "250",
            "KASPARRO_COINGECKO_REQUESTS_PER_MINUTE": UNLIMITED_RPM,
            "KASPARRO_COINPAPRIKA_REQUESTS_PER_MINUTE": UNLIMITED_RPM,
            "KASPARRO_LOG_LEVEL": "WARNING",
            "KASPARRO_LOG_JSON": "true",
            "KASPARRO_HTTP_TIMEOUT_SECONDS": "120",
            "KASPARRO_LEASE_TTL_SECONDS": "600",
        }
    )
    env.update({f"KASPARRO_{k.upper()}": str(v) for k, v in overrides.items()})
    return env


def run_etl(
    env: dict[str, str],
    sources: Sequence[str] = ("coingecko", "coinpaprika"),
    *,
    profile: Path | None = None,
    timeout: float = 3600,
) -> EtlRun:
    args = [PYTHON, "-m", "bench.etl_child"]
    for s in sources:
        args += ["--source", s]
    if profile is not None:
        args += ["--profile", str(profile)]
    started = time.perf_counter()
    proc = subprocess.run(
        args, env=env, cwd=str(ROOT), capture_output=True, timeout=timeout, check=False
    )
    wall = time.perf_counter() - started
    line = next(
        (ln for ln in reversed(proc.stdout.decode().splitlines()) if ln.startswith("{")), None
    )
    stderr_tail = proc.stderr.decode(errors="replace")[-3000:]
    if line is None:
        raise EtlFailed(f"ETL child exited {proc.returncode} without a report", stderr_tail)
    data = json.loads(line)
    run = EtlRun(
        elapsed_s=float(data["elapsed_s"]),
        max_rss_bytes=int(data["max_rss_bytes"]),
        cpu_s=float(data["cpu_user_s"]) + float(data["cpu_sys_s"]),
        results=data["results"],
        process_wall_s=wall,
        raw=data,
    )
    bad = [r for r in run.results if r["status"] not in ("success", "partial")]
    if bad:
        summary = "; ".join(
            f"{r['source']} {r['status']} after {r['pages']} page(s), "
            f"{r['duration_s']:.1f} s: {r['error']}"
            for r in bad
        )
        raise EtlFailed(summary, stderr_tail, run)
    # A failed rate computation never fails the run that triggered it (it is logged and
    # redone by the next run), so it would go unseen here: a benchmark measured one on
    # PostgreSQL for weeks (the hourly bucket of a large universe) without noticing.
    failed_rates = [
        ln for ln in proc.stderr.decode(errors="replace").splitlines() if "rates_failed" in ln
    ]
    if failed_rates:
        raise EtlFailed(f"the reference rate failed: {failed_rates[0][:500]}", stderr_tail, run)
    return run


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kasparro-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
