"""Benchmark 11: the reference rate: computation cost per asset-bucket, and ``/rate``
throughput against the same-run ceiling.

    .venv/bin/python -m bench.rates [--coins 600] [--ticks 6] [--duration 5] [--reps 2]

1. **Computation**, per asset-bucket (1-minute buckets): the pure computation alone
   (``rates.inputs.Window`` + ``rates.compute.compute_bucket`` on quotes already in memory),
   and the stored path (``kasparro rates recompute``: read the quotes and observations,
   compute, write every value and every input, one transaction per chunk) on PostgreSQL
   and SQLite, over the same data: the real ETL (both aggregators, the four venues) against
   the emulator for ``--ticks`` one-minute ticks. Reported as time per asset-bucket and
   as the stored path's ratio to the pure computation (same run).
2. **``GET /api/v1/assets/{id}/rate``** (Bitcoin: its value and every input) with wrk,
   against the ceiling endpoint serving constant bytes of the same size through the same
   app (as benchmark 4), page cache on and off, PostgreSQL.

Prints JSON and writes ``bench/results/rates.json``; also benchmark 11 of ``bench.run``
(``--only rates``, with the mode's wrk duration and rounds and smaller sizes in ``--quick``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.api import ApiServer, run_wrk
from bench.common import (
    BENCH_DIR,
    Databases,
    fmt_num,
    fmt_ratio,
    fmt_spread,
    log,
    pg_scalar,
    ratio,
    sqlite_url,
    summarize,
)
from kasparro.emulator import EmulatorConfig, EmulatorServer
from kasparro.rates import repository as repo
from kasparro.rates.inputs import Window
from kasparro.rates.method import CURRENT
from kasparro.rates.service import bucket_values, compute_range, floor
from kasparro.runs.service import run_sources
from kasparro.runtime import Runtime
from kasparro.settings import Settings
from kasparro.store.engine import create_engine

VENUES = ("binance", "coinbase", "kraken", "okx")


def settings_for(url: str, emu: EmulatorServer) -> Settings:
    sources: dict[str, Any] = {
        "coingecko": {
            "base_url": emu.coingecko_base_url,
            "max_coins": "all",
            "requests_per_minute": 60_000,
        },
        "coinpaprika": {"base_url": emu.coinpaprika_base_url, "requests_per_minute": 60_000},
    }
    for v in VENUES:
        sources[v] = {"base_url": f"{emu.base_url}/{v}", "requests_per_minute": 60_000}
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        sources=sources,
        reference_refresh_seconds=0,
        log_level="WARNING",
    )


async def fill(url: str, coins: int, ticks: int) -> None:
    """The real ETL, every source, ``ticks`` one-minute ticks ending at the wall clock (the
    venues without timestamps carry the fetch time)."""
    now = datetime.now(UTC).replace(microsecond=0)
    config = EmulatorConfig(
        coins=coins, tick_step_seconds=60, anchor=now - timedelta(minutes=ticks)
    )
    with EmulatorServer(config) as emu:
        settings = settings_for(url, emu)
        runtime = Runtime.build(settings, env_file=None)
        engine = create_engine(url)
        http = runtime.http_client()
        try:
            names = ["coingecko", "coinpaprika", *(n for v in VENUES for n in (f"{v}_markets", v))]
            for tick in range(ticks):
                if tick:
                    emu.state.tick()
                    names = ["coingecko", "coinpaprika", *VENUES]
                await run_sources(
                    engine, runtime.catalog, names, http=http, limiters=runtime.limiters()
                )
        finally:
            await http.aclose()
            await engine.dispose()


async def span(url: str) -> tuple[datetime, datetime]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.exec_driver_sql(
                "SELECT min(bucket_start), max(bucket_start) FROM rates WHERE interval = '1m'"
            )
            low, high = tuple(rows.one())
    finally:
        await engine.dispose()
    if isinstance(low, str):  # SQLite's text
        low, high = datetime.fromisoformat(low), datetime.fromisoformat(high)
    low, high = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (low, high))
    return low, high + timedelta(minutes=1)


async def pure_cost(url: str, since: datetime, until: datetime) -> dict[str, Any]:
    """The pure computation of every 1m bucket of the range, on quotes in memory."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            quotes = await repo.quotes_observed(conn, since - CURRENT.lookback, until)
            obs = await repo.observations_observed(conn, since - CURRENT.lookback, until)
            ids = {q.asset_id for q in quotes if q.asset_id} | {o.asset_id for o in obs}
            symbols = await repo.symbols(conn, ids)
    finally:
        await engine.dispose()
    started = time.perf_counter()
    window = Window(quotes, obs)
    step = timedelta(minutes=1)
    buckets = sorted({floor(t, step) for t in window.observed_times() if since <= t < until})
    evaluated = 0
    state: dict[int, frozenset[str]] = {}
    for bucket in buckets:
        assets, values = bucket_values(window, "1m", bucket, state, symbols, CURRENT)
        state.update({a: r.out for a, r in values.items()})  # as the service carries it
        evaluated += len(assets)
    seconds = time.perf_counter() - started
    return {"asset_buckets": evaluated, "seconds": seconds, "quotes": len(quotes)}


async def stored_cost(url: str, since: datetime, until: datetime) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        result = await compute_range(engine, since, until, intervals=("1m",))
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    return {"values": result.values, "restated": result.restated, "seconds": seconds}


def api_rate(url: str, workdir: Path, duration: int, reps: int) -> dict[str, Any]:
    asset = int(
        pg_scalar(
            url,
            "SELECT r.asset_id FROM rates r JOIN assets a ON a.id = r.asset_id"
            " WHERE a.symbol ILIKE 'btc' GROUP BY r.asset_id ORDER BY count(*) DESC LIMIT 1",
        )
    )
    path = f"/api/v1/assets/{asset}/rate"
    out: dict[str, Any] = {"path": path}
    for config in ("page_cache_on", "page_cache_off"):
        probe = httpx.get  # sized first: the ceiling serves as many bytes
        server = ApiServer(url, workdir, constant_bytes=4096, page_cache=True)
        try:
            size = len(probe(server.url(path), timeout=30).content)
        finally:
            server.stop()
        server = ApiServer(url, workdir, constant_bytes=size, page_cache=config == "page_cache_on")
        try:
            run_wrk(server.url(path), duration=1, threads=2, connections=32)  # warm-up
            samples: dict[str, list[float]] = {"ceiling": [], "rate": []}
            p99: list[float] = []
            for _ in range(reps):
                for name in ("ceiling", "rate", "ceiling"):
                    target = "/api/v1/_bench/constant" if name == "ceiling" else path
                    r = run_wrk(server.url(target), duration=duration, threads=2, connections=32)
                    if r["non_2xx"]:
                        raise RuntimeError(f"{target}: {r['non_2xx']} non-2xx responses")
                    samples[name].append(r["req_per_s"])
                    if name == "rate":
                        p99.append(r["p99_ms"])
        finally:
            server.stop()
        ceiling, rate = summarize(samples["ceiling"]), summarize(samples["rate"])
        out[config] = {
            "response_bytes": size,
            "ceiling_req_per_s": ceiling,
            "rate_req_per_s": rate,
            "rate_p99_ms": summarize(p99),
            "ratio_vs_ceiling": ratio(rate["median"], ceiling["median"]),
        }
        log(f"rates api {config}: rate {rate['median']:,.0f} req/s, ceiling "
            f"{ceiling['median']:,.0f} req/s")  # fmt: skip
    return out


def bench_rates(
    dbs: Databases, workdir: Path, *, coins: int, ticks: int, duration: int, reps: int
) -> dict[str, Any]:
    """Both parts on both databases (the API part on PostgreSQL only)."""
    result: dict[str, Any] = {"coins": coins, "ticks": ticks, "compute": {}}
    for dialect in ("postgresql", "sqlite"):
        url = dbs.fresh_pg() if dialect == "postgresql" else sqlite_url(dbs.fresh_sqlite())
        log(f"rates: filling {dialect} ({coins} coins, {ticks} ticks)")
        asyncio.run(fill(url, coins, ticks))
        since, until = asyncio.run(span(url))
        pure = asyncio.run(pure_cost(url, since, until))
        stored = asyncio.run(stored_cost(url, since, until))
        n = pure["asset_buckets"]
        result["compute"][dialect] = {
            **pure,
            "pure_us_per_asset_bucket": pure["seconds"] / n * 1e6 if n else None,
            "stored": stored,
            "stored_us_per_asset_bucket": stored["seconds"] / n * 1e6 if n else None,
            "stored_vs_pure": ratio(stored["seconds"], pure["seconds"]),
        }
        log(f"rates compute {dialect}: {result['compute'][dialect]}")
        if dialect == "postgresql":
            result["api"] = api_rate(url, workdir, duration, reps)
            dbs.drop_pg(url)
    return result


def rate_tables(res: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """The Markdown tables of ``bench.run`` (benchmark 11)."""
    compute = [
        [
            dialect,
            f"{c['asset_buckets']:,}",
            fmt_num(c["pure_us_per_asset_bucket"]),
            fmt_num(c["stored_us_per_asset_bucket"]),
            fmt_ratio(c["stored_vs_pure"]),
        ]
        for dialect, c in res["compute"].items()
    ]
    api = res.get("api", {})
    served = [
        [
            config.replace("_", " "),
            f"{a['response_bytes']:,}",
            fmt_spread(a["ceiling_req_per_s"]),
            fmt_spread(a["rate_req_per_s"]),
            fmt_ratio(a["ratio_vs_ceiling"]),
            fmt_spread(a["rate_p99_ms"], 1),
        ]
        for config, a in api.items()
        if config.startswith("page_cache")
    ]
    return [
        (
            f"11. Reference rate — cost per asset-bucket ({res['coins']} coins, "
            f"{res['ticks']} one-minute ticks)",
            ["database", "asset-buckets", "pure µs", "stored µs", "stored / pure"],
            compute,
        ),
        (
            f"11. GET {api.get('path', '/api/v1/assets/{id}/rate')} vs the constant-bytes "
            "ceiling, PostgreSQL",
            ["config", "bytes", "ceiling req/s", "/rate req/s", "ratio", "/rate p99 ms"],
            served,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coins", type=int, default=600)
    parser.add_argument("--ticks", type=int, default=6)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kbench-rates-"))  # the servers' logs
    dbs = Databases(workdir)
    try:
        result = bench_rates(
            dbs, workdir, coins=args.coins, ticks=args.ticks, duration=args.duration, reps=args.reps
        )
    finally:
        dbs.close()
    out = BENCH_DIR / "results" / "rates.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
