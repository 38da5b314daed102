"""Read load on the API while ETL runs write: throughput, latency and errors.

Starts, on loopback only, the upstream emulator (``kasparro emulator``, market data ticking
every few seconds) and one ``kasparro up`` server (API + scheduler) on a temporary SQLite
file or the PostgreSQL database given with ``--database-url``. After one full ETL round has
loaded data, it reads a rotation of GET endpoints at ``--connections`` concurrent
connections for ``--duration`` seconds (wrk with a Lua script, or an asyncio httpx client
when wrk is absent) while a background thread triggers ETL runs through the authenticated
``POST /api/v1/runs`` every ``--trigger-every`` seconds.

Reports total requests, req/s, p50/p99 latency and errors (non-2xx responses and transport
errors) of the reads, what the triggers got back and what the runs wrote. Exits 1 when any
read failed, a trigger got an unexpected answer, or the server logged an unhandled error.
Every child process is started here and stopped here, by its own pid.

    python scripts/loadtest.py --duration 20
    python scripts/loadtest.py --duration 20 \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/kasparro_load
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"  # loopback only: nothing here may send traffic anywhere else
PYTHON = sys.executable
# Emulator upstreams are unlimited; the ETL must not throttle itself against them either.
UNLIMITED_RPM = "1000000"
# Unhandled exceptions and rejected SQL are API bugs, whatever the load (see api.errors).
SERVER_BUG_EVENTS = ("unhandled_error", "database_statement_failed")

WRK_LUA = r"""
-- Rotate over the paths; count non-2xx per thread (by status, with the first bodies, which
-- carry the error code and message); one JSON report line at the end.
local paths = PATHS
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  bad_statuses = ""
  bad_bodies = ""
  counter = id or 0
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    bad_statuses = bad_statuses .. status .. " "
    if non2xx <= 3 then
      bad_bodies = bad_bodies .. string.sub(body or "", 1, 300) .. "\n"
    end
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,' ..
    '"transport":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, bad,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  for _, thread in ipairs(threads) do
    io.write("WRK_BAD_STATUSES " .. thread:get("bad_statuses") .. "\n")
    for line in string.gmatch(thread:get("bad_bodies"), "[^\n]+") do
      io.write("WRK_BAD_BODY " .. line .. "\n")
    end
  end
end
"""


@dataclass(slots=True)
class LoadResult:
    tool: str
    requests: int
    seconds: float
    non_2xx: int
    transport_errors: int
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)  # non-2xx only for wrk
    error_samples: list[str] = field(default_factory=list)  # bodies of failed requests

    @property
    def errors(self) -> int:
        return self.non_2xx + self.transport_errors

    @property
    def req_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass(slots=True)
class TriggerTally:
    statuses: Counter[int] = field(default_factory=Counter)
    runs_started: int = 0
    unexpected: list[str] = field(default_factory=list)
    transport_errors: int = 0


def log(message: str) -> None:
    """Progress on stderr: stdout carries only the JSON report."""
    print(f"[loadtest] {message}", file=sys.stderr, flush=True)


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Child:
    """A child process with its output in a log file; stopped by its own pid."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        # Fixed argv (this interpreter and the kasparro CLI), no shell.
        self.proc = subprocess.Popen(  # noqa: S603
            args, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive():
            self.proc.terminate()  # SIGTERM: graceful shutdown of uvicorn and running runs
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def wait_http(url: str, child: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited early:\n{child.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{child.name} did not answer {url} within {timeout} s")


def server_env(database_url: str, token: str, emulator_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASPARRO_")}
    upstream = f"http://{HOST}:{emulator_port}"
    env.update(
        {
            "KASPARRO_DATABASE_URL": database_url,
            "KASPARRO_API_TOKEN": token,
            "KASPARRO_COINGECKO_BASE_URL": f"{upstream}/api/v3",
            "KASPARRO_COINPAPRIKA_BASE_URL": f"{upstream}/v1",
            "KASPARRO_COINGECKO_MAX_COINS": "all",
            "KASPARRO_COINGECKO_REQUESTS_PER_MINUTE": UNLIMITED_RPM,
            "KASPARRO_COINPAPRIKA_REQUESTS_PER_MINUTE": UNLIMITED_RPM,
            # The trigger loop is the writer under test: do not rate limit it away.
            "KASPARRO_API_TRIGGER_RATE_PER_MINUTE": "6000",
            "KASPARRO_API_TRIGGER_BURST": "100",
            "KASPARRO_LOG_LEVEL": "WARNING",
            "KASPARRO_LOG_JSON": "true",
        }
    )
    return env


# --- the API as a client --------------------------------------------------------------------


def wait_for_data(base: str, token: str, timeout: float) -> int:
    """Trigger a full round and wait until it has loaded data; the newest run id."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, timeout=10) as client:
        resp = client.post("/api/v1/runs", json={"source": "all"}, headers=headers)
        if resp.status_code not in (202, 409):  # 409: the scheduler got there first
            raise RuntimeError(f"initial trigger: {resp.status_code} {resp.text[:300]}")
        while time.monotonic() < deadline:
            running = client.get("/api/v1/runs", params={"status": "running"}).json()["data"]
            rows = client.get("/api/v1/data", params={"limit": 1}).json()["data"]
            if rows and not running:
                runs = client.get("/api/v1/runs", params={"limit": 1}).json()["data"]
                return int(runs[0]["id"])
            time.sleep(0.5)
    raise TimeoutError(f"no data loaded within {timeout} s")


def read_paths(base: str) -> list[str]:
    """The GET rotation: every read endpoint, with ids that exist."""
    assets = httpx.get(f"{base}/api/v1/assets", params={"limit": 1}, timeout=10).json()["data"]
    asset_id = assets[0]["id"]
    return [
        "/api/v1/data?limit=100",
        "/api/v1/data?latest=true&source=coingecko&limit=100",
        "/api/v1/data?symbol=BTC",
        f"/api/v1/assets/{asset_id}",
        f"/api/v1/assets/{asset_id}/history?limit=100",
        "/api/v1/assets?limit=50",
        "/api/v1/runs?limit=20",
        "/api/v1/stats",
        "/api/v1/drift",
        "/api/v1/quarantine",
        "/health",
    ]


def check_paths(base: str, paths: list[str]) -> None:
    for path in paths:
        resp = httpx.get(base + path, timeout=10)
        if resp.status_code != 200:
            raise RuntimeError(f"GET {path} -> {resp.status_code}: {resp.text[:300]}")


def trigger_loop(
    base: str, token: str, every: float, stop: threading.Event, tally: TriggerTally
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=10, headers=headers) as client:
        while not stop.wait(every):
            try:
                resp = client.post("/api/v1/runs", json={"source": "all"})
            except httpx.HTTPError as exc:
                tally.transport_errors += 1
                tally.unexpected.append(f"transport: {exc!r}")
                continue
            tally.statuses[resp.status_code] += 1
            if resp.status_code == 202:
                runs = resp.json()["data"]["runs"]
                tally.runs_started += sum(r["status"] == "started" for r in runs)
            elif resp.status_code not in (409, 429):  # 409 busy and 429 are documented
                tally.unexpected.append(f"{resp.status_code}: {resp.text[:200]}")


def runs_since(base: str, after_id: int) -> dict[str, Any]:
    """What the runs that started during the load did."""
    runs: list[dict[str, Any]] = []
    cursor = None
    with httpx.Client(base_url=base, timeout=10) as client:
        while True:
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/api/v1/runs", params=params).json()
            runs += [r for r in page["data"] if r["id"] > after_id]
            cursor = page["meta"]["next_cursor"]
            if not cursor or page["data"][-1]["id"] <= after_id:
                break
    return {
        "runs": len(runs),
        "by_status": dict(Counter(r["status"] for r in runs)),
        "loaded": sum(r["loaded"] for r in runs),
        "unchanged": sum(r["unchanged"] for r in runs),
    }


# --- load generators ------------------------------------------------------------------------


def run_wrk(
    base: str, paths: list[str], *, duration: int, connections: int, threads: int, workdir: Path
) -> LoadResult:
    script = workdir / "rotate.lua"
    lua_paths = "{" + ", ".join(json.dumps(p) for p in paths) + "}"
    script.write_text(WRK_LUA.replace("PATHS", lua_paths), encoding="utf-8")
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        base,
    ]
    proc = subprocess.run(  # noqa: S603 - fixed argv, loopback URL
        cmd, capture_output=True, timeout=duration + 60, check=False
    )
    out = proc.stdout.decode(errors="replace")
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no report (exit {proc.returncode}): {out[-2000:]}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    statuses: Counter[str] = Counter()
    samples: list[str] = []
    for ln in out.splitlines():
        if ln.startswith("WRK_BAD_STATUSES "):
            statuses.update(ln.removeprefix("WRK_BAD_STATUSES ").split())
        elif ln.startswith("WRK_BAD_BODY "):
            samples.append(ln.removeprefix("WRK_BAD_BODY "))
    return LoadResult(
        tool="wrk",
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        non_2xx=data["non2xx"],
        transport_errors=sum(data["transport"].values()),
        p50_ms=data["latency_us"]["p50"] / 1000,
        p99_ms=data["latency_us"]["p99"] / 1000,
        statuses=dict(statuses),
        error_samples=samples,
    )


async def _httpx_load(
    base: str, paths: list[str], *, duration: int, connections: int
) -> LoadResult:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    samples: list[str] = []
    transport = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, timeout=5, limits=limits) as client:
        start = time.perf_counter()
        deadline = start + duration

        async def worker(offset: int) -> None:
            nonlocal transport
            i = offset
            while time.perf_counter() < deadline:
                path = paths[i % len(paths)]
                i += 1
                t0 = time.perf_counter()
                try:
                    resp = await client.get(path)
                except httpx.HTTPError:
                    transport += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                statuses[str(resp.status_code)] += 1
                if not resp.is_success and len(samples) < 5:
                    samples.append(f"{resp.status_code} GET {path}: {resp.text[:300]}")

        await asyncio.gather(*(worker(n) for n in range(connections)))
        elapsed = time.perf_counter() - start
    ok = sum(n for s, n in statuses.items() if s.startswith("2"))
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    return LoadResult(
        tool="httpx",
        requests=len(latencies) + transport,
        seconds=elapsed,
        non_2xx=len(latencies) - ok,
        transport_errors=transport,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        statuses=dict(statuses),
        error_samples=samples,
    )


def run_load(base: str, paths: list[str], args: argparse.Namespace, workdir: Path) -> LoadResult:
    use_wrk = args.tool == "wrk" or (args.tool == "auto" and shutil.which("wrk"))
    if use_wrk:
        return run_wrk(
            base,
            paths,
            duration=args.duration,
            connections=args.connections,
            threads=args.threads,
            workdir=workdir,
        )
    return asyncio.run(
        _httpx_load(base, paths, duration=args.duration, connections=args.connections)
    )


# --- orchestration --------------------------------------------------------------------------


def bug_events(log_path: Path) -> list[str]:
    found = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if any(f'"{event}"' in line for event in SERVER_BUG_EVENTS):
            found.append(line[:300])
    return found


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kasparro-loadtest-"))
    try:
        yield path
    finally:
        if keep:
            print(f"logs kept in {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def report(
    args: argparse.Namespace,
    database_url: str,
    load: LoadResult,
    tally: TriggerTally,
    writes: dict[str, Any],
    bugs: list[str],
) -> dict[str, Any]:
    dialect = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    return {
        "database": dialect,
        "tool": load.tool,
        "duration_s": round(load.seconds, 2),
        "connections": args.connections,
        "requests": load.requests,
        "req_per_s": round(load.req_per_s, 1),
        "p50_ms": round(load.p50_ms, 2),
        "p99_ms": round(load.p99_ms, 2),
        "errors": load.errors,
        "non_2xx": load.non_2xx,
        "transport_errors": load.transport_errors,
        "read_statuses": load.statuses or None,
        "read_error_samples": load.error_samples[:5],
        "triggers": {str(k): v for k, v in sorted(tally.statuses.items())},
        "trigger_unexpected": tally.unexpected[:10],
        "runs_started_by_triggers": tally.runs_started,
        "runs_during_load": writes,
        "server_bug_events": bugs[:10],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    token = secrets.token_urlsafe(24)
    with workspace(args.keep_logs) as workdir:
        database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'kasparro.db'}"
        emulator_port, api_port = free_port(), free_port()
        emulator = Child(
            "emulator",
            [
                PYTHON,
                "-m",
                "kasparro",
                "emulator",
                "--host",
                HOST,
                "--port",
                str(emulator_port),
                "--coins",
                str(args.coins),
                "--tick-every",
                str(args.tick_every),
            ],
            {**os.environ},
            workdir,
        )
        server: Child | None = None
        try:
            wait_http(f"http://{HOST}:{emulator_port}/_emulator/health", emulator, 60)
            server = Child(
                "server",
                [PYTHON, "-m", "kasparro", "up", "--host", HOST, "--port", str(api_port)],
                server_env(database_url, token, emulator_port),
                workdir,
            )
            base = f"http://{HOST}:{api_port}"
            wait_http(f"{base}/health", server, 90)
            log(f"loading initial data into {database_url.split('://')[0]} ...")
            baseline = wait_for_data(base, token, args.setup_timeout)
            paths = read_paths(base)
            check_paths(base, paths)
            stop = threading.Event()
            tally = TriggerTally()
            writer = threading.Thread(
                target=trigger_loop, args=(base, token, args.trigger_every, stop, tally)
            )
            writer.start()
            log(
                f"{args.duration} s of reads over {len(paths)} endpoints at "
                f"{args.connections} connections, runs triggered every {args.trigger_every} s"
            )
            try:
                load = run_load(base, paths, args, workdir)
            finally:
                stop.set()
                writer.join()
            writes = runs_since(base, baseline)
        finally:
            if server is not None:
                server.stop()
            emulator.stop()
        assert server is not None  # reached only when the server started
        bugs = bug_events(server.log_path)
        result = report(args, database_url, load, tally, writes, bugs)
        print(json.dumps(result, indent=2))
        failed = load.errors > 0 or bool(tally.unexpected) or bool(bugs)
        log("FAILED" if failed else "OK")
        if failed:
            print(f"--- server log tail ---\n{server.tail()}", file=sys.stderr)
        return 1 if failed else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="Seconds of load (1-600).")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads.")
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL of the store (migrated on start); default: a temporary SQLite.",
    )
    parser.add_argument("--coins", type=int, default=3000, help="Emulator universe size.")
    parser.add_argument("--tick-every", type=float, default=2.0, help="Emulator tick, seconds.")
    parser.add_argument(
        "--trigger-every", type=float, default=1.0, help="Seconds between run triggers."
    )
    parser.add_argument("--setup-timeout", type=float, default=180.0)
    parser.add_argument("--tool", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--keep-logs", action="store_true", help="Keep the temporary directory.")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 600:
        parser.error("--duration must be 1-600 seconds (the load is bounded)")
    if args.connections < 1 or args.threads < 1 or args.threads > args.connections:
        parser.error("need 1 <= --threads <= --connections")
    return args


if __name__ == "__main__":
    sys.exit(main())
