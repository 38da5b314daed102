"""Benchmark 7: a rate-limited history backfill against its theoretical minimum.

    .venv/bin/python -m bench.backfill [--top 200] [--days 365] [--rate 120] [--coins 600]

Also benchmark 7 of ``python -m bench.run``.

The emulator limits CoinGecko to R requests per minute (sliding 60 s window, 429 with
Retry-After beyond it) and Kasparro's CoinGecko budget is set to the same R. After a market
run (against a twin emulator without a limit, so it does not spend the window), the top N
coins are backfilled for D days at daily granularity: one ``/coins/{id}/market_chart/range``
request per coin, N requests. The minimum is N / R minutes (the budget spaces requests
evenly). Reported: wall time, its ratio to the minimum (target <= 1.15), the 429s the
emulator sent (target 0), and a second identical backfill's requests (target 0: the
watermarks say everything is there). The window binds only when N > R.
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

from kasparro.emulator import EmulatorConfig, EmulatorServer
from kasparro.logs import configure_logging
from kasparro.runs.service import run_sources
from kasparro.runtime import Runtime
from kasparro.settings import Settings
from kasparro.sources.history import BackfillSpec
from kasparro.store.engine import create_engine
from kasparro.store.migrate import upgrade

UNTIL = datetime(2022, 2, 23, 11, 31, 45, tzinfo=UTC)  # the emulator's tick 0


def _settings(url: str, emu: EmulatorServer, rate: float) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        sources={
            "coingecko": {"base_url": emu.coingecko_base_url, "requests_per_minute": rate},
            "coinpaprika": {"base_url": emu.coinpaprika_base_url, "requests_per_minute": 60_000},
        },
        log_level="WARNING",
        log_json=True,
    )


async def _run(settings: Settings, names: list[str], spec: BackfillSpec | None) -> list[Any]:
    engine = create_engine(settings.database_url)
    runtime = Runtime.build(settings, env_file=None)
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            return await run_sources(
                engine,
                runtime.catalog,
                names,
                http=http,
                limiters=runtime.limiters(),
                backfill=spec,
            )
    finally:
        await engine.dispose()


def bench_backfill(*, top: int, days: int, rate: float, coins: int) -> dict[str, Any]:
    configure_logging("WARNING", True)  # a page log line per coin would drown the table
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'backfill.db'}"
        upgrade(url)
        with EmulatorServer(EmulatorConfig(coins=coins)) as free:
            asyncio.run(_run(_settings(url, free, 60_000), ["coingecko"], None))
        spec = BackfillSpec("1d", UNTIL - timedelta(days=days), UNTIL, top=top, now=UNTIL)
        with EmulatorServer(EmulatorConfig(coins=coins, cg_rate_limit_per_minute=rate)) as emu:
            settings = _settings(url, emu, rate)
            started = time.perf_counter()
            (first,) = asyncio.run(_run(settings, ["coingecko"], spec))
            wall = time.perf_counter() - started
            stats = emu.state.stats()["coingecko"]
            requests_first = int(stats["requests"])
            (second,) = asyncio.run(_run(settings, ["coingecko"], spec))
            requests_second = int(emu.state.stats()["coingecko"]["requests"]) - requests_first
    minimum = requests_first * 60.0 / rate
    return {
        "top": top,
        "days": days,
        "rate_per_minute": rate,
        "window_binds": requests_first > rate,
        "status": first.status,
        "pages": first.pages,
        "points_loaded": first.loaded,
        "requests": requests_first,
        "status_429": int(stats.get("status_429", 0)),
        "wall_s": round(wall, 2),
        "theoretical_min_s": round(minimum, 2),
        "ratio": round(wall / minimum, 4) if minimum else None,
        "second_run_requests": requests_second,
        "second_run_pages": second.pages,
    }


def target_met(res: dict[str, Any]) -> bool:
    return (
        (res["ratio"] or 9) <= 1.15 and res["status_429"] == 0 and res["second_run_requests"] == 0
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rate", type=float, default=120.0)
    parser.add_argument("--coins", type=int, default=600)
    args = parser.parse_args()
    res = bench_backfill(top=args.top, days=args.days, rate=args.rate, coins=args.coins)
    print(json.dumps(res, indent=2))
    ok = target_met(res)
    verdict = "met" if ok else "MISSED"
    print(f"target (<= 1.15x minimum, 0 x 429, second run fetches nothing): {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
