"""Benchmarks 6-11 of ``bench.run`` (rate limit, backfill, lake, replica, rollups, the
reference rate): each runs in its own module; here their results are filed on the suite."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import Databases, verdict

if TYPE_CHECKING:
    from bench.suite import Suite


# --- 6 -------------------------------------------------------------------------------------
def ratelimit(suite: Suite, wd: Path, dbs: Databases) -> None:
    from bench.ratelimit import bench_ratelimit

    m = suite.mode
    res = bench_ratelimit(
        wd, dbs, rate=m.rate_per_minute, coins=m.rate_coins, per_page=m.rate_per_page
    )
    ok = (res["ratio"] or 9) <= 1.15 and res["status_429"] == 0
    res["target_met"] = ok
    suite.results["benchmarks"]["ratelimit"] = res
    suite.table(
        "6. Rate-limit efficiency — CoinGecko source, emulator limit = Kasparro budget = "
        f"R req/min (window binds: {res['window_binds']})",
        ["R/min", "requests", "wall s", "minimum s (N/R)", "ratio", "429s", "target", "met"],
        [
            [
                f"{res['rate_per_minute']:g}",
                res["admitted_requests"],
                f"{res['wall_s']:.2f}",
                f"{res['theoretical_min_s']:.2f}",
                f"{res['ratio']:.3f}x",
                res["status_429"],
                "≤ 1.15x, 0 x 429",
                verdict(ok),
            ]
        ],
    )


# --- 7 -------------------------------------------------------------------------------------
def backfill(suite: Suite) -> None:
    from bench.backfill import bench_backfill, target_met

    m = suite.mode
    res = bench_backfill(top=m.backfill_top, days=365, rate=m.backfill_rate, coins=600)
    ok = target_met(res)
    res["target_met"] = ok
    suite.results["benchmarks"]["backfill"] = res
    suite.table(
        "7. Backfill — coingecko_history, top N coins x 365 days daily, emulator limit = "
        f"Kasparro budget = R req/min (window binds: {res['window_binds']})",
        [
            "R/min",
            "coins",
            "points",
            "wall s",
            "minimum s (N/R)",
            "ratio",
            "429s",
            "2nd run requests",
            "target",
            "met",
        ],
        [
            [
                f"{res['rate_per_minute']:g}",
                res["requests"],
                res["points_loaded"],
                f"{res['wall_s']:.2f}",
                f"{res['theoretical_min_s']:.2f}",
                f"{res['ratio']:.3f}x",
                res["status_429"],
                res["second_run_requests"],
                "≤ 1.15x, 0 x 429, 0",
                verdict(ok),
            ]
        ],
    )


# --- 8, 9 ----------------------------------------------------------------------------
def lake(suite: Suite, wd: Path, dbs: Databases) -> None:
    from bench.lake import bench_lake, lake_tables

    m = suite.mode
    res = bench_lake(
        dbs,
        wd,
        rows=m.lake_rows,
        year_assets=m.lake_year_assets,
        reps=2 if m.name == "quick" else 3,
    )
    suite.results["benchmarks"]["lake"] = res
    for title, headers, rows in lake_tables(res):
        suite.table(title, headers, rows)


def replica(suite: Suite, wd: Path) -> None:
    from bench.replica import bench_replica, replica_tables

    m = suite.mode
    res = bench_replica(wd, rows=100_000, duration=m.replica_duration, rounds=m.replica_rounds)
    suite.results["benchmarks"]["replica"] = res
    for title, headers, rows in replica_tables(res):
        suite.table(title, headers, rows)


def rollups(suite: Suite, wd: Path, dbs: Databases) -> None:
    from bench.rollups import bench_rollups, rollup_tables

    m = suite.mode
    quick = m.name == "quick"
    res = bench_rollups(dbs, wd, assets=m.rollup_assets, reps=20 if quick else 50, batch=2000)
    suite.results["benchmarks"]["rollups"] = res
    for title, headers, rows in rollup_tables(res):
        suite.table(title, headers, rows)


# --- 11 ----------------------------------------------------------------------------------------
def rates(suite: Suite, wd: Path, dbs: Databases) -> None:
    from bench.api import INSTALL_HINT, wrk_available
    from bench.rates import bench_rates, rate_tables

    m = suite.mode
    if not wrk_available():
        suite.no_wrk("rates", INSTALL_HINT)
        return
    res = bench_rates(
        dbs,
        wd,
        coins=m.rates_coins,
        ticks=m.rates_ticks,
        duration=m.api_duration,
        reps=m.api_reps,
    )
    suite.results["benchmarks"]["rates"] = res
    for title, headers, rows in rate_tables(res):
        suite.table(title, headers, rows)
