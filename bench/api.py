"""Benchmarks 4 and 5: API throughput and latency with wrk, against a ceiling endpoint.

One ``kasparro serve`` process (uvicorn, one worker) on a PostgreSQL database; wrk on
loopback only, bounded duration, ``-t2 -c32`` by default. The ceiling is
``GET /api/v1/_bench/constant`` (``KASPARRO_BENCH_ENDPOINTS=1``): pre-serialized constant
bytes through the same app and middleware, sized like the measured ``/data?limit=100``
response. Every endpoint is checked for a 200 before wrk runs; wrk's status error count
(responses >= 400) is the non-2xx figure (the endpoints do not redirect).

Each server configuration is measured twice over: the default configuration (the rendered
page cache on: repeated identical requests are served from memory while the database is
unchanged) and with the page cache off (``KASPARRO_API_PAGE_CACHE_ENTRIES=0``: every request
runs its query), which is what exposes the read path's dependence on table size.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    BENCH_DIR,
    PYTHON,
    ChildProcess,
    base_env,
    free_port,
    log,
    pg_scalar,
    ratio,
    spawn,
    summarize,
    wait_http,
)

LUA = BENCH_DIR / "wrk_report.lua"
CEILING = "ceiling"
ENDPOINTS = ("data", "latest", "history", "candles", "candles_1d")
INSTALL_HINT = "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu), then re-run."


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


class ApiServer:
    def __init__(
        self,
        database_url: str,
        workdir: Path,
        *,
        constant_bytes: int,
        page_cache: bool,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        env = base_env()
        env.update(
            {
                "KASPARRO_DATABASE_URL": database_url,
                "KASPARRO_BENCH_ENDPOINTS": "1",
                "KASPARRO_BENCH_CONSTANT_BYTES": str(constant_bytes),
                "KASPARRO_LOG_LEVEL": "WARNING",
                "KASPARRO_LOG_JSON": "true",
            }
        )
        if not page_cache:
            env["KASPARRO_API_PAGE_CACHE_ENTRIES"] = "0"
        env.update(extra_env or {})
        args = [PYTHON, "-m", "kasparro", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.child: ChildProcess = spawn("api", args, env, workdir)
        wait_http(self.url("/api/v1/_bench/constant"), self.child, 60)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.child.stop()


def run_wrk(url: str, *, duration: int, threads: int, connections: int) -> dict[str, Any]:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, timeout=duration + 60, check=False)
    out = proc.stdout.decode(errors="replace")
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk produced no report (exit {proc.returncode}): {out[-2000:]}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    seconds = data["duration_us"] / 1e6
    errors = data["errors"]
    return {
        "req_per_s": data["requests"] / seconds if seconds else 0.0,
        "requests": data["requests"],
        "p50_ms": data["latency_us"]["p50"] / 1000,
        "p99_ms": data["latency_us"]["p99"] / 1000,
        "p90_ms": data["latency_us"]["p90"] / 1000,
        "max_ms": data["latency_us"]["max"] / 1000,
        "non_2xx": errors["status"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "bytes_per_response": data["bytes"] / data["requests"] if data["requests"] else 0,
        "raw": data,
    }


def history_asset(dsn: str) -> int:
    """An asset observed by both sources (the best ranked one: the lowest id created by the
    first page), so its history mixes sources like real ones do."""
    value = pg_scalar(
        dsn,
        "SELECT asset_id FROM latest_observations GROUP BY asset_id "
        "HAVING count(*) >= 2 ORDER BY asset_id LIMIT 1",
    )
    if value is None:
        value = pg_scalar(dsn, "SELECT min(asset_id) FROM latest_observations")
    return int(value)


def history_rows(dsn: str, asset_id: int) -> int:
    return int(pg_scalar(dsn, "SELECT count(*) FROM observations WHERE asset_id = $1", asset_id))


def history_since(dsn: str, asset_id: int) -> str:
    """The hour of the asset's oldest observation, as a ``since=`` value (on a bucket
    boundary: hourly and daily candles then come from the rollups)."""
    sql = "SELECT date_trunc('hour', min(observed_at)) FROM observations WHERE asset_id = $1"
    value = pg_scalar(dsn, sql, asset_id)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def paths(
    asset_id: int, history_limit: int | None = None, candles_since: str | None = None
) -> dict[str, str]:
    history = f"/api/v1/assets/{asset_id}/history"
    candles = f"{history}?interval=1h&limit=24"
    daily = f"{history}?interval=1d&limit=30"
    if candles_since is not None:
        candles += f"&order=asc&since={candles_since}"
        daily += f"&order=asc&since={candles_since[:10]}T00:00:00Z"
    return {
        "data": "/api/v1/data?limit=100",
        "latest": "/api/v1/data?limit=100&latest=true&source=coingecko",
        "history": history if history_limit is None else f"{history}?limit={history_limit}",
        # A chart's query: a day of hourly OHLC buckets per source (the last one, or the
        # first from ``candles_since``).
        "candles": candles,
        # A month of daily buckets per source (from the rollups).
        "candles_1d": daily,
        CEILING: "/api/v1/_bench/constant",
    }


def _probe(server: ApiServer, path: str) -> int:
    resp = httpx.get(server.url(path), timeout=30)
    if resp.status_code != 200:
        raise RuntimeError(f"GET {path} -> {resp.status_code}: {resp.text[:300]}")
    return len(resp.content)


def _aggregated(server: ApiServer, path: str) -> int:
    """How many observations the candles page aggregates (its cost, beyond the table)."""
    body = httpx.get(server.url(path), timeout=30).json()
    return sum(int(c["observations"]) for c in body["data"])


def measure_api(
    database_url: str,
    workdir: Path,
    *,
    duration: int,
    reps: int,
    threads: int = 2,
    connections: int = 32,
    label: str = "",
    configs: tuple[str, ...] = ("page_cache_on", "page_cache_off"),
    constant_bytes: int | None = None,
    bracket: bool = True,
    history_limit: int | None = None,
    candles_since: str | None = None,
) -> dict[str, Any]:
    """Every endpoint under each configuration (``page_cache_on`` = the default, and
    ``page_cache_off``); per configuration one server and ``reps`` rounds of ceiling, data,
    latest, history, candles (and the ceiling again when ``bracket``, so it surrounds each round).
    ``constant_bytes``: the ceiling body size; None measures ``/data?limit=100`` first.
    ``history_limit``: the history page size (default: the API's, 100).
    ``candles_since``: the first hour of the candles page (default: the last day)."""
    asset_id = history_asset(database_url)
    urls = paths(asset_id, history_limit, candles_since)
    if constant_bytes is None:
        # The ceiling's body is sized like /data?limit=100 (meta varies by a few bytes).
        probe = ApiServer(database_url, workdir, constant_bytes=4096, page_cache=True)
        try:
            constant_bytes = _probe(probe, urls["data"])
        finally:
            probe.stop()
    out: dict[str, Any] = {
        "database_rows": int(pg_scalar(database_url, "SELECT count(*) FROM observations")),
        "history_asset_id": asset_id,
        "history_asset_rows": history_rows(database_url, asset_id),
        "history_path": urls["history"],
        "data_response_bytes": constant_bytes,
        "wrk": {"threads": threads, "connections": connections, "duration_s": duration},
        "configs": {},
    }
    for config in configs:
        server = ApiServer(
            database_url,
            workdir,
            constant_bytes=constant_bytes,
            page_cache=config == "page_cache_on",
        )
        try:
            sizes = {name: _probe(server, path) for name, path in urls.items()}
            out["candles_observations"] = _aggregated(server, urls["candles"])
            # One warm-up run per server (connections, prepared statements, caches).
            run_wrk(server.url(urls["data"]), duration=1, threads=threads, connections=connections)
            samples: dict[str, list[dict[str, Any]]] = {name: [] for name in urls}
            for rep in range(reps):
                order = [CEILING, *ENDPOINTS] + ([CEILING] if bracket else [])
                for name in order:
                    samples[name].append(
                        run_wrk(
                            server.url(urls[name]),
                            duration=duration,
                            threads=threads,
                            connections=connections,
                        )
                    )
                log(
                    f"api {label} {config} round {rep + 1}/{reps}: "
                    + ", ".join(
                        f"{n} {samples[n][-1]['req_per_s']:,.0f} req/s"
                        for n in [CEILING, *ENDPOINTS]
                    )
                )
        finally:
            server.stop()
        ceiling_rps = summarize([s["req_per_s"] for s in samples[CEILING]])
        endpoints: dict[str, Any] = {}
        for name in [*ENDPOINTS, CEILING]:
            ss = samples[name]
            rps = summarize([s["req_per_s"] for s in ss])
            endpoints[name] = {
                "path": urls[name],
                "response_bytes": sizes[name],
                "req_per_s": rps,
                "p50_ms": summarize([s["p50_ms"] for s in ss]),
                "p99_ms": summarize([s["p99_ms"] for s in ss]),
                "non_2xx": sum(s["non_2xx"] for s in ss),
                "socket_errors": sum(s["socket_errors"] for s in ss),
                "ratio_vs_ceiling": ratio(rps["median"], ceiling_rps["median"]),
                "samples": [{k: v for k, v in s.items() if k != "raw"} for s in ss],
            }
        out["configs"][config] = endpoints
    return out


def targets_api(result: dict[str, Any]) -> dict[str, Any]:
    """Target of benchmark 4 per configuration: data endpoints >= 0.5x ceiling req/s,
    p99 < 50 ms, zero non-2xx."""
    verdicts: dict[str, Any] = {}
    for config, endpoints in result["configs"].items():
        per = {}
        for name in ENDPOINTS:
            e = endpoints[name]
            per[name] = {
                "ratio_ok": (e["ratio_vs_ceiling"] or 0) >= 0.5,
                "p99_ok": (e["p99_ms"]["median"] or 1e9) < 50,
                "errors_ok": e["non_2xx"] == 0 and e["socket_errors"] == 0,
            }
            per[name]["met"] = all(per[name].values())
        verdicts[config] = per
    return verdicts
