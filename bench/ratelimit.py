"""Benchmark 6: rate-limit efficiency.

The emulator limits CoinGecko to R requests per minute (a sliding 60 s window, 429 with
Retry-After beyond it); Kasparro's CoinGecko budget is configured to the same R. A full
CoinGecko run (``coingecko_max_coins=all``, small pages so it needs N requests) is timed in a
child process; the theoretical minimum is N / R minutes (requests evenly spaced at the
sustained rate). Reported: wall time, its ratio to the minimum, and the 429s the emulator
sent (from ``/_emulator/stats``). When N <= R the window can never fill, so a zero 429
count is only meaningful with N > R (the full suite uses N > R; --quick does not and says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import Databases, Emulator, etl_env, log, run_etl


def bench_ratelimit(
    workdir: Path, dbs: Databases, *, rate: float, coins: int, per_page: int
) -> dict[str, Any]:
    emulator = Emulator(coins, workdir, cg_rate_limit=rate)
    try:
        url = dbs.fresh_pg()
        env = etl_env(
            url,
            emulator,
            coingecko_requests_per_minute=rate,
            coingecko_per_page=per_page,
        )
        emulator.reset_stats()
        run = run_etl(env, sources=("coingecko",))
        stats = emulator.stats()["coingecko"]
        dbs.drop_pg(url)
    finally:
        emulator.close()
    requests = int(stats["requests"])
    limited = int(stats.get("rate_limited", 0))
    status_429 = int(stats.get("status_429", 0))
    admitted = requests - limited
    theoretical = admitted * 60.0 / rate
    result = {
        "rate_per_minute": rate,
        "emulator_coins": coins,
        "per_page": per_page,
        "requests": requests,
        "admitted_requests": admitted,
        "window_binds": admitted > rate,
        "status_429": status_429,
        "rate_limited": limited,
        "pages": sum(int(r["pages"]) for r in run.results),
        "loaded": run.loaded,
        "wall_s": run.elapsed_s,
        "theoretical_min_s": theoretical,
        "ratio": run.elapsed_s / theoretical if theoretical else None,
        "emulator_stats": {k: v for k, v in stats.items() if k != "routes"},
    }
    log(
        f"ratelimit: {admitted} requests at R={rate:g}/min in {run.elapsed_s:.1f} s "
        f"(minimum {theoretical:.1f} s, ratio {result['ratio']:.3f}), 429s: {status_429}"
    )
    return result
