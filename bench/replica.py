"""Benchmark 9: API reads from a streaming replica against reads from the primary, same run.
Also runnable alone: ``python -m bench.replica --quick``.

A private primary cluster and a hot standby made from it by ``pg_basebackup -R`` (both on
this machine, free ports, temporary directories, removed at the end; the server binaries
run as the ``postgres`` OS user when the suite runs as root). N synthetic observations
(``bench.lake``'s generator) are written to the primary and replayed by the standby. Two
``kasparro serve`` processes on the same database: one reads from the primary, the other
has ``KASPARRO_READ_DATABASE_URL`` set to the standby. wrk (``-t2 -c32``) measures
``/api/v1/data?limit=100`` and ``/api/v1/assets/{id}/history`` on each, interleaved round by
round (primary, replica, primary, replica...), with the page cache off (every request runs
its query on the database it reads from) and on.

On one machine the standby shares the CPU with the primary, so this measures what reading
from a replica costs (routing, the standby's snapshots), not the capacity a second machine
adds: docs/scaling.md extrapolates that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import free_port, log, migrate, ratio, summarize, workdir

ENDPOINTS = {"data": "/api/v1/data?limit=100", "history": "/api/v1/assets/1/history?limit=100"}


def _bindir() -> Path:
    on_path = shutil.which("pg_ctl")
    if on_path:
        found = Path(on_path).resolve().parent
        if (found / "pg_basebackup").is_file():
            return found
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "pg_basebackup").is_file():
            return Path(candidate)
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found")


class Pair:
    """A primary and its hot standby, each a private cluster."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="kasparro-replica-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.root, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.ports = {"primary": free_port(), "standby": free_port()}

    def _run(self, binary: str, *args: str) -> None:
        cmd = [*self.as_user, str(self.bindir / binary), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {proc.stdout}{proc.stderr}")

    def _start(self, name: str) -> None:
        options = (
            f"-p {self.ports[name]} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c wal_level=replica -c max_wal_senders=5 -c hot_standby=on -c fsync=off "
            "-c max_connections=100"
        )
        data, log_file = str(self.root / name), str(self.root / f"{name}.log")
        self._run("pg_ctl", "-D", data, "-o", options, "-l", log_file, "-w", "start")

    def create(self) -> None:
        self._run("initdb", "-D", str(self.root / "primary"), "-U", "postgres", "--auth=trust")
        self._start("primary")
        self._run(
            "pg_basebackup",
            *("-D", str(self.root / "standby"), "-h", "127.0.0.1"),
            *("-p", str(self.ports["primary"]), "-U", "postgres", "-R", "-X", "stream"),
            "--checkpoint=fast",
        )
        self._start("standby")

    def dsn(self, name: str, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports[name]}/{db}"

    def destroy(self) -> None:
        for name in ("standby", "primary"):
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "-D", str(self.root / name), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def pair() -> Iterator[Pair]:
    p = Pair()
    try:
        p.create()
        yield p
    finally:
        p.destroy()


async def _wait_replayed(primary: str, standby: str) -> None:
    conn = await asyncpg.connect(primary)
    try:
        target = await conn.fetchval("SELECT pg_current_wal_lsn()")
    finally:
        await conn.close()
    conn = await asyncpg.connect(standby)
    try:
        for _ in range(1200):  # a server's state: polled, at most 60 s
            if not await conn.fetchval("SELECT pg_last_wal_replay_lsn() < $1::pg_lsn", target):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("the standby did not catch up within 60 s")
    finally:
        await conn.close()


def bench_replica(wd: Path, *, rows: int, duration: int, rounds: int) -> dict[str, Any]:
    from bench.api import ApiServer, run_wrk, wrk_available
    from bench.lake import synth_pg

    if not wrk_available():
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    with pair() as p:

        async def create() -> None:
            conn = await asyncpg.connect(p.dsn("primary", "postgres"))
            try:
                await conn.execute("CREATE DATABASE kasparro")
            finally:
                await conn.close()

        asyncio.run(create())
        primary = p.dsn("primary", "kasparro")
        migrate(primary)
        log(f"replica: {rows:,} synthetic observations on the primary")
        fill = synth_pg(primary, 2500, rows)
        asyncio.run(_wait_replayed(p.dsn("primary", "postgres"), p.dsn("standby", "postgres")))
        replica_env = {"KASPARRO_READ_DATABASE_URL": p.dsn("standby", "kasparro")}
        results: dict[str, Any] = {"rows": fill["rows"], "configs": {}}
        for cache in (False, True):
            servers = {
                "primary": ApiServer(primary, wd, constant_bytes=4096, page_cache=cache),
                "replica": ApiServer(
                    primary, wd, constant_bytes=4096, page_cache=cache, extra_env=replica_env
                ),
            }
            samples: dict[str, dict[str, list[dict[str, Any]]]] = {
                s: {e: [] for e in ENDPOINTS} for s in servers
            }
            try:
                reads_from = {
                    name: httpx.get(server.url("/health"), timeout=10).json()["reads"]["from"]
                    for name, server in servers.items()
                }
                if reads_from != {"primary": "primary", "replica": "replica 1"}:
                    raise RuntimeError(f"reads not where they should be: {reads_from}")
                results["reads_from"] = reads_from
                for server in servers.values():  # warm-up
                    for path in ENDPOINTS.values():
                        run_wrk(server.url(path), duration=1, threads=2, connections=32)
                for _ in range(rounds):
                    for endpoint, path in ENDPOINTS.items():
                        for name, server in servers.items():
                            samples[name][endpoint].append(
                                run_wrk(
                                    server.url(path), duration=duration, threads=2, connections=32
                                )
                            )
            finally:
                for server in servers.values():
                    server.stop()
            config = "page_cache_on" if cache else "page_cache_off"
            results["configs"][config] = {
                endpoint: {
                    name: {
                        "req_per_s": summarize([r["req_per_s"] for r in samples[name][endpoint]]),
                        "p50_ms": summarize([r["p50_ms"] for r in samples[name][endpoint]]),
                        "p99_ms": summarize([r["p99_ms"] for r in samples[name][endpoint]]),
                        "non_2xx": sum(r["non_2xx"] for r in samples[name][endpoint]),
                    }
                    for name in servers
                }
                | {
                    "replica_over_primary": ratio(
                        summarize([r["req_per_s"] for r in samples["replica"][endpoint]])["median"],
                        summarize([r["req_per_s"] for r in samples["primary"][endpoint]])["median"],
                    )
                }
                for endpoint in ENDPOINTS
            }
        return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replica", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 s runs, one round")
    args = parser.parse_args()
    started = time.perf_counter()
    with workdir() as wd:
        res = bench_replica(
            wd,
            rows=100_000,
            duration=2 if args.quick else 10,
            rounds=1 if args.quick else 3,
        )
    res["seconds"] = time.perf_counter() - started
    print(json.dumps(res, indent=2, default=str))


if __name__ == "__main__":
    main()


def replica_tables(res: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    from bench.common import fmt_num, fmt_ratio, fmt_spread

    rows = []
    for config, endpoints in res["configs"].items():
        for endpoint, r in endpoints.items():
            rows.append(
                [
                    config.replace("_", " "),
                    endpoint,
                    fmt_spread(r["primary"]["req_per_s"]),
                    fmt_spread(r["replica"]["req_per_s"]),
                    fmt_ratio(r["replica_over_primary"]),
                    fmt_num(r["primary"]["p99_ms"]["median"], 1)
                    + " / "
                    + fmt_num(r["replica"]["p99_ms"]["median"], 1),
                    r["primary"]["non_2xx"] + r["replica"]["non_2xx"],
                ]
            )
    return [
        (
            f"9. Reads from a hot standby — {res['rows']:,} observations, wrk -t2 -c32, "
            "the same machine (the standby shares its 2 cores with the primary)",
            [
                "config",
                "endpoint",
                "req/s reads on primary",
                "req/s reads on standby",
                "standby ÷ primary",
                "p99 ms primary / standby",
                "non-2xx",
            ],
            rows,
        )
    ]
