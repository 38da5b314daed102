"""Kasparro benchmark suite: ``python -m bench.run --quick`` (under 2 minutes, small sizes)
or ``--full`` (the sizes of the issue). ``make bench-quick`` / ``make bench``.

Benchmarks (see BENCHMARKS.md for the method and the targets):
  1 ingest     full ETL of a ~100k-row universe into fresh PostgreSQL and SQLite, rows/s,
               vs a raw-load ceiling (asyncpg COPY / sqlite3 executemany); peak RSS
  2 rerun      the same universe again, unchanged upstream: time ratio and rows rewritten
  3 growth     ingest cost per row with ~10k / ~100k / ~1M rows already stored (PostgreSQL)
  4 api        wrk against `kasparro serve`: /data, /data?latest, /assets/{id}/history and
               the constant-bytes ceiling endpoint
  5 readscale  the API figures at ~10k and ~10M stored rows (--quick: 10k vs 1M)
  6 ratelimit  full run under an upstream limit of R req/min with the budget set to R
  7 backfill   history backfill of the top N coins under a limit of R req/min, and a second
               identical backfill (should fetch nothing)
  8 lake       bytes per observation in PostgreSQL vs the Parquet lake, export rows/s, DuckDB
               candles over a year of A assets (bench/lake.py)
  9 replica    API req/s with reads on a hot standby vs on the primary (bench/replica.py)
  10 rollups   a year of daily candles for one asset from the rollups vs from raw rows, the
               loader's cost of maintaining them, their size (bench/rollups.py)
  profile      pyinstrument profile of benchmark 1's ETL (PostgreSQL and SQLite)

Figures are medians over repetitions with [min-max]; every ceiling is measured in the same
run, interleaved with Kasparro. Nothing here fails on a missed target: it reports.
Results: bench/results/<mode>-<timestamp>.json (the markdown tables are in its
"tables_markdown") and a copy in bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS_DIR,
    Databases,
    Emulator,
    etl_env,
    fmt_num,
    fmt_ratio,
    fmt_spread,
    load_average,
    log,
    machine_facts,
    print_table,
    run_etl,
    src_fingerprint,
    verdict,
    workdir,
)

ALL = (
    "ingest",
    "growth",
    "api",
    "readscale",
    "ratelimit",
    "backfill",
    "lake",
    "replica",
    "rollups",
    "profile",
)


@dataclass
class Mode:
    name: str
    ingest_coins: int  # emulator universe for benchmarks 1, 2 (and the profile)
    ingest_reps: int
    growth_coins: int  # universe of one growth batch (and of the read-scale base)
    growth_sizes: list[int]
    growth_reps: int
    api_duration: int  # seconds per wrk measurement
    api_reps: int
    api_bracket: bool  # measure the ceiling before and after each round
    read_sizes: tuple[int, int]
    read_large_configs: tuple[str, ...]
    rate_per_minute: float
    rate_coins: int
    rate_per_page: int
    backfill_top: int
    backfill_rate: float
    lake_rows: int
    lake_year_assets: int
    replica_duration: int
    replica_rounds: int
    rollup_assets: int  # assets with a year of 5-minute observations each (benchmark 10)
    profile: bool
    notes: list[str] = field(default_factory=list)


QUICK = Mode(
    name="quick",
    ingest_coins=1_450,  # ~2.5k rows
    ingest_reps=2,
    growth_coins=1_450,
    growth_sizes=[10_000, 100_000],
    growth_reps=2,
    api_duration=2,
    api_reps=1,
    api_bracket=False,
    read_sizes=(10_000, 1_000_000),
    read_large_configs=("page_cache_off",),
    rate_per_minute=300,
    rate_coins=1_140,  # ~1000 CoinGecko coins -> ~21 requests of 50
    rate_per_page=50,
    backfill_top=60,
    backfill_rate=600,
    lake_rows=100_000,
    lake_year_assets=1_000,
    replica_duration=2,
    replica_rounds=1,
    rollup_assets=2,
    profile=False,
    notes=[
        "--quick: ~2.5k-row universe instead of ~100k (benchmarks 1-2), growth at 10k and 100k "
        "only, read-path scale 10k vs 1M (not 10M) and at 1M with the page cache off only, "
        "2 s wrk runs, one round, rate limit R=300/min with "
        "~21 requests (fewer than R, so the 60 s window never fills and the zero-429 check is "
        "not exercised), backfill of the top 60 at R=600/min (the window does not bind), "
        "no profile unless --profile. Use --full for the issue's sizes.",
        "benchmark 4 reuses benchmark 5's small database in --quick.",
    ],
)

FULL = Mode(
    name="full",
    ingest_coins=58_000,  # 51,009 CoinGecko + 48,692 CoinPaprika = 99,701 rows
    ingest_reps=3,
    growth_coins=5_800,  # ~10k rows per run
    growth_sizes=[10_000, 100_000, 1_000_000],
    growth_reps=3,
    api_duration=10,
    api_reps=2,
    api_bracket=True,
    read_sizes=(10_000, 10_000_000),
    read_large_configs=("page_cache_on", "page_cache_off"),
    rate_per_minute=120,
    rate_coins=8_500,  # ~7,480 CoinGecko coins -> ~150 requests of 50 (> R: the window binds)
    rate_per_page=50,
    backfill_top=200,  # > R: the window binds
    backfill_rate=120,
    lake_rows=1_000_000,
    lake_year_assets=10_000,
    replica_duration=10,
    replica_rounds=2,
    rollup_assets=20,
    profile=True,
)


class Suite:
    def __init__(self, mode: Mode, only: tuple[str, ...], command: str) -> None:
        self.mode = mode
        self.only = only
        self.stamp = time.strftime("%Y%m%dT%H%M%S")
        self.results: dict[str, Any] = {
            "suite": "kasparro-bench",
            "mode": mode.name,
            "timestamp": self.stamp,
            "command": command,
            "config": asdict(mode),
            "machine": machine_facts(),
            "benchmarks": {},
            "errors": {},
        }
        self.tables: list[str] = []
        self.emulators: dict[int, Emulator] = {}
        self.keep: dict[str, str] = {}

    # infrastructure
    def emulator(self, coins: int, wd: Path) -> Emulator:
        em = self.emulators.get(coins)
        if em is None:
            log(f"starting emulator with {coins:,} coins (separate process)")
            em = Emulator(coins, wd)
            log(f"emulator ready in {em.startup_s:.1f} s on port {em.port}")
            self.emulators[coins] = em
        return em

    def save(self) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        self.results["machine"]["load_average_at_end"] = load_average()
        self.results["machine"]["src_fingerprint_at_end"] = src_fingerprint()
        path = RESULTS_DIR / f"{self.mode.name}-{self.stamp}.json"
        # The printed tables, as markdown, ready to paste into BENCHMARKS.md (only *.json is
        # git-ignored under bench/results, so nothing else is written there).
        self.results["tables_markdown"] = "\n".join(self.tables) + "\n"
        text = json.dumps(self.results, indent=2, default=str)
        path.write_text(text)
        (RESULTS_DIR / "latest.json").write_text(text)
        return path

    def table(self, title: str, headers: list[str], rows: list[list[Any]]) -> None:
        self.tables.append(print_table(title, headers, rows))

    def step(self, name: str, fn: Callable[[], None]) -> None:
        if name not in self.only:
            return
        started = time.perf_counter()
        log(f"=== {name} === (load average {load_average()})")
        loads = self.results.setdefault("load_average", {})
        loads[name] = {"before": load_average(), "src_fingerprint": src_fingerprint()}
        try:
            fn()
        except Exception as exc:
            self.results["errors"][name] = f"{type(exc).__name__}: {exc}"
            log(f"!!! benchmark {name} failed: {type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stderr)
        loads[name]["after"] = load_average()
        loads[name]["seconds"] = time.perf_counter() - started
        log(f"=== {name} done in {time.perf_counter() - started:.0f} s ===")
        self.save()

    # the run
    def run(self) -> int:
        m = self.mode
        with workdir() as wd:
            dbs = Databases(wd)
            try:
                self.step("ingest", lambda: self.ingest(wd, dbs))
                self.step("profile", lambda: self.profile(wd, dbs))
                self.step("growth", lambda: self.growth(wd, dbs))
                self.step("readscale", lambda: self.readscale(wd, dbs))
                self.step("api", lambda: self.api(wd, dbs))
                self.step("ratelimit", lambda: self.ratelimit(wd, dbs))
                self.step("backfill", self.backfill)
                self.step("lake", lambda: self.lake(wd, dbs))
                self.step("replica", lambda: self.replica(wd))
                self.step("rollups", lambda: self.rollups(wd, dbs))
            finally:
                for em in self.emulators.values():
                    em.close()
                dbs.close()
        for note in m.notes:
            print(f"\nnote: {note}")
        path = self.save()
        print(f"\nresults: {path}\n         {RESULTS_DIR / 'latest.json'}")
        if self.results["errors"]:
            print(f"\nbenchmarks that could not run: {self.results['errors']}", file=sys.stderr)
            return 1
        return 0

    # --- 1 + 2 ---------------------------------------------------------------------------
    def ingest(self, wd: Path, dbs: Databases) -> None:
        from bench.ingest import bench_ingest

        em = self.emulator(self.mode.ingest_coins, wd)
        res = bench_ingest(
            em,
            dbs,
            reps=self.mode.ingest_reps,
            dialects=("postgresql", "sqlite"),
            keep_last_pg=self.mode.name == "full" and "api" in self.only,
        )
        kept = res.pop("kept_pg_url", None)
        if kept:
            self.keep["api_db"] = kept
        self.results["benchmarks"]["ingest"] = res
        rows = []
        rerun_rows = []
        for dialect, d in res["dialects"].items():
            rss = d["peak_rss_bytes"]
            rss_ok = None if rss["max"] is None else rss["max"] < 300e6  # 300 MB = 286 MiB
            ratio_ok = None if d["ratio"] is None else d["ratio"] >= 0.5
            failed = d["failed_runs"]
            fails = ", ".join(f"rep {f['rep']} {f['phase']}" for f in failed) or "none"
            d["targets"] = {"ratio_ge_0.5": ratio_ok, "peak_rss_lt_300MB": rss_ok}
            rows.append(
                [
                    dialect,
                    fmt_spread(d["kasparro_rows_per_s"]),
                    fmt_spread(d["ceiling_rows_per_s"]),
                    fmt_ratio(d["ratio"]),
                    "≥ 0.50x" if dialect == "postgresql" else "(PG target; info)",
                    verdict(ratio_ok) if dialect == "postgresql" else "-",
                    fmt_spread(rss, 0, 1 / 1e6),
                    "< 300",
                    verdict(rss_ok),
                    fails,
                ]
            )
            med = d["rerun_ratio"]["median"]
            rerun_ok = None if med is None else med <= 0.25
            rewritten = sum(d["rerun_loaded"])
            rewrite_ok = (
                None if not d["rerun_loaded"] else rewritten == 0 and d["rerun_count_unchanged"]
            )
            d["targets"]["rerun_ratio_le_0.25"] = rerun_ok
            d["targets"]["rerun_rows_rewritten_0"] = rewrite_ok
            rerun_rows.append(
                [
                    dialect,
                    fmt_spread(d["first_run_s"], 2),
                    fmt_spread(d["rerun_s"], 2),
                    fmt_spread(d["rerun_ratio"], 2),
                    "≤ 0.25x",
                    verdict(rerun_ok),
                    (
                        f"{rewritten} (count unchanged: {d['rerun_count_unchanged']})"
                        if d["rerun_loaded"]
                        else "- (no re-run completed)"
                    ),
                    "0",
                    verdict(rewrite_ok),
                    f"{len(d['rerun_loaded'])} of {self.mode.ingest_reps}",
                ]
            )
        u = res["universe"]
        self.table(
            f"1. Ingest throughput — {u['rows_normalized']:,} rows "
            f"(emulator coins={u['emulator_coins']:,}), {self.mode.ingest_reps} reps",
            [
                "dialect",
                "Kasparro rows/s",
                "ceiling rows/s",
                "ratio",
                "target",
                "met",
                "peak RSS MB",
                "target",
                "met",
                "failed runs",
            ],
            rows,
        )
        self.table(
            "2. Incremental re-run (unchanged upstream)",
            [
                "dialect",
                "first run s",
                "re-run s",
                "re-run / first",
                "target",
                "met",
                "rows rewritten",
                "target",
                "met",
                "re-runs that completed",
            ],
            rerun_rows,
        )

    # --- profile ---------------------------------------------------------------------------
    def profile(self, wd: Path, dbs: Databases) -> None:
        from bench.ingest import profile_ingest

        if not self.mode.profile and "profile" not in self.explicit:
            log("profile: skipped in this mode (pass --only profile or --profile to run it)")
            return
        em = self.emulator(self.mode.ingest_coins, wd)
        em.warm()
        res = profile_ingest(em, dbs, wd)
        self.results["benchmarks"]["profile"] = res
        for dialect, p in res.items():
            self.table(
                f"Profile ({dialect}, pyinstrument, {p['elapsed_s']:.1f} s run): top self time",
                ["function", "% of run"],
                [[s["function"], f"{s['percent']:.1f}%"] for s in p["top_self"][:12]],
            )
            self.table(
                f"Profile ({dialect}): top inclusive time in kasparro code",
                ["function", "% of run"],
                [[s["function"], f"{s['percent']:.1f}%"] for s in p["top_inclusive_kasparro"][:12]],
            )

    explicit: tuple[str, ...] = ()

    # --- 3 -------------------------------------------------------------------------------
    def growth(self, wd: Path, dbs: Databases) -> None:
        from bench.ingest import bench_growth

        em = self.emulator(self.mode.growth_coins, wd)
        res = bench_growth(em, dbs, sizes=self.mode.growth_sizes, reps=self.mode.growth_reps)
        self.results["benchmarks"]["growth"] = res
        rows = []
        for p in res["points"]:
            ok = (p["ratio_vs_smallest"] or 9) <= 1.3
            p["target_met"] = ok
            rows.append(
                [
                    f"~{p['nominal_store_rows']:,} ({p['store_rows']:,})",
                    fmt_spread(p["per_row_us"], 1),
                    fmt_spread(p["elapsed_s"], 2),
                    fmt_ratio(p["ratio_vs_smallest"]),
                    "≤ 1.30x",
                    verdict(ok),
                ]
            )
        self.table(
            f"3. Growth — ingest cost per row, PostgreSQL, {res['batch_rows']:,}-row batches, "
            f"{self.mode.growth_reps} reps",
            ["store rows before", "µs per row", "run s", "vs smallest", "target", "met"],
            rows,
        )

    # --- 5 (and 4 in --quick) ---------------------------------------------------------------
    def _api_db(self, wd: Path, dbs: Databases, coins: int) -> str:
        em = self.emulator(coins, wd)
        em.warm()
        url = dbs.fresh_pg()
        run_etl(etl_env(url, em))
        return url

    def readscale(self, wd: Path, dbs: Databases) -> None:
        from bench.api import (
            INSTALL_HINT,
            history_asset,
            history_rows,
            history_since,
            measure_api,
            wrk_available,
        )
        from bench.synth import check_latest_pg, inflate_pg

        if not wrk_available():
            self._no_wrk("readscale", INSTALL_HINT)
            return
        small, large = self.mode.read_sizes
        url = self._api_db(wd, dbs, self.mode.growth_coins)
        try:
            fill_small = inflate_pg(url, small)
            # History pages of equal size at both store sizes: at the small size the asset
            # has only a few rows, and a 100-row page at the large size would compare a
            # bigger response, not a bigger table.
            history_limit = max(1, min(100, history_rows(url, history_asset(url))))
            # The same for the candles: from the asset's first row at the small size on,
            # both stores hold the same rows (synthetic history is older).
            candles_since = history_since(url, history_asset(url))
            at_small = measure_api(
                url,
                wd,
                duration=self.mode.api_duration,
                reps=self.mode.api_reps,
                bracket=self.mode.api_bracket,
                label="small",
                history_limit=history_limit,
                candles_since=candles_since,
            )
            if self.mode.name == "quick":
                self.results["benchmarks"]["api"] = {**at_small, "shared_with": "readscale/small"}
                self._api_table(self.results["benchmarks"]["api"])
            log(f"readscale: filling the store to {large:,} rows (server-side SQL)")
            fill_large = inflate_pg(url, large)
            log(f"readscale: fill took {fill_large['seconds']:.0f} s")
            inconsistent = check_latest_pg(url)
            at_large = measure_api(
                url,
                wd,
                duration=self.mode.api_duration,
                reps=self.mode.api_reps,
                bracket=self.mode.api_bracket,
                label="large",
                configs=self.mode.read_large_configs,
                # The newest 100 rows are the same real rows at both sizes (synthetic
                # history is older), so /data?limit=100 keeps its size.
                constant_bytes=at_small["data_response_bytes"],
                history_limit=history_limit,
                candles_since=candles_since,
            )
        finally:
            dbs.drop_pg(url)
        res = {
            "small": at_small,
            "large": at_large,
            "fill": [fill_small, fill_large],
            "latest_inconsistent_rows": inconsistent,
        }
        self.results["benchmarks"]["readscale"] = res
        rows = []
        for config in self.mode.read_large_configs:
            for name in ("data", "latest", "history", "candles", "candles_1d", "ceiling"):
                a = at_small["configs"][config][name]
                b = at_large["configs"][config][name]
                r = None
                if a["p50_ms"]["median"] and b["p50_ms"]["median"] is not None:
                    r = b["p50_ms"]["median"] / a["p50_ms"]["median"]
                ok = None if name == "ceiling" else (r is not None and r <= 1.5)
                b["p50_ratio_vs_small"] = r
                b["p50_target_met"] = ok
                rows.append(
                    [
                        config.replace("_", " "),
                        name,
                        fmt_spread(a["p50_ms"], 2),
                        fmt_spread(b["p50_ms"], 2),
                        fmt_ratio(r),
                        "≤ 1.50x" if name != "ceiling" else "-",
                        verdict(ok),
                        fmt_spread(a["req_per_s"]),
                        fmt_spread(b["req_per_s"]),
                        fmt_num(a["p99_ms"]["median"], 1)
                        + " / "
                        + fmt_num(b["p99_ms"]["median"], 1),
                    ]
                )
        self.table(
            f"5. Read-path scale — PostgreSQL, {at_small['database_rows']:,} vs "
            f"{at_large['database_rows']:,} observation rows, wrk "
            f"-t2 -c32 -d{self.mode.api_duration}s",
            [
                "config",
                "endpoint",
                "p50 ms small",
                "p50 ms large",
                "large/small",
                "target",
                "met",
                "req/s small",
                "req/s large",
                "p99 ms small / large",
            ],
            rows,
        )

    # --- 4 -----------------------------------------------------------------------------------
    def api(self, wd: Path, dbs: Databases) -> None:
        from bench.api import INSTALL_HINT, measure_api, wrk_available

        if not wrk_available():
            self._no_wrk("api", INSTALL_HINT)
            return
        if self.mode.name == "quick" and "api" in self.results["benchmarks"]:
            return  # measured with benchmark 5's small database
        url = self.keep.pop("api_db", None) or self._api_db(wd, dbs, self.mode.ingest_coins)
        try:
            res = measure_api(
                url,
                wd,
                duration=self.mode.api_duration,
                reps=self.mode.api_reps,
                bracket=self.mode.api_bracket,
                label="api",
            )
        finally:
            dbs.drop_pg(url)
        self.results["benchmarks"]["api"] = res
        self._api_table(res)

    def _api_table(self, res: dict[str, Any]) -> None:
        from bench.api import targets_api

        verdicts = targets_api(res)
        res["targets"] = verdicts
        rows = []
        for config, endpoints in res["configs"].items():
            for name in ("data", "latest", "history", "candles", "candles_1d", "ceiling"):
                e = endpoints[name]
                v = verdicts[config].get(name)
                rows.append(
                    [
                        config.replace("_", " "),
                        e["path"],
                        fmt_spread(e["req_per_s"]),
                        fmt_ratio(e["ratio_vs_ceiling"]) if name != "ceiling" else "1.00x",
                        fmt_spread(e["p50_ms"], 2),
                        fmt_spread(e["p99_ms"], 2),
                        f"{e['non_2xx']}"
                        + (f" (+{e['socket_errors']} socket)" if e["socket_errors"] else ""),
                        "≥0.5x, p99<50ms, 0 errors" if v else "-",
                        verdict(v["met"]) if v else "-",
                    ]
                )
        self.table(
            f"4. API throughput — PostgreSQL with {res['database_rows']:,} observations, "
            f"wrk -t{res['wrk']['threads']} -c{res['wrk']['connections']} "
            f"-d{res['wrk']['duration_s']}s, {self.mode.api_reps} round(s); ceiling body "
            f"{res['data_response_bytes']:,} B",
            [
                "config",
                "endpoint",
                "req/s",
                "vs ceiling",
                "p50 ms",
                "p99 ms",
                "non-2xx",
                "target",
                "met",
            ],
            rows,
        )

    def _no_wrk(self, name: str, hint: str) -> None:
        banner = "!" * 78
        message = f"{banner}\nSKIPPED benchmark '{name}': {hint}\n{banner}"
        print(message, file=sys.stderr)
        print(message)
        self.results["benchmarks"][name] = {"skipped": hint}

    # --- 6 -------------------------------------------------------------------------------------
    def ratelimit(self, wd: Path, dbs: Databases) -> None:
        from bench.ratelimit import bench_ratelimit

        m = self.mode
        res = bench_ratelimit(
            wd, dbs, rate=m.rate_per_minute, coins=m.rate_coins, per_page=m.rate_per_page
        )
        ok = (res["ratio"] or 9) <= 1.15 and res["status_429"] == 0
        res["target_met"] = ok
        self.results["benchmarks"]["ratelimit"] = res
        self.table(
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
    def backfill(self) -> None:
        from bench.backfill import bench_backfill, target_met

        m = self.mode
        res = bench_backfill(top=m.backfill_top, days=365, rate=m.backfill_rate, coins=600)
        ok = target_met(res)
        res["target_met"] = ok
        self.results["benchmarks"]["backfill"] = res
        self.table(
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
    def lake(self, wd: Path, dbs: Databases) -> None:
        from bench.lake import bench_lake, lake_tables

        m = self.mode
        res = bench_lake(
            dbs,
            wd,
            rows=m.lake_rows,
            year_assets=m.lake_year_assets,
            reps=2 if m.name == "quick" else 3,
        )
        self.results["benchmarks"]["lake"] = res
        for title, headers, rows in lake_tables(res):
            self.table(title, headers, rows)

    def replica(self, wd: Path) -> None:
        from bench.replica import bench_replica, replica_tables

        m = self.mode
        res = bench_replica(wd, rows=100_000, duration=m.replica_duration, rounds=m.replica_rounds)
        self.results["benchmarks"]["replica"] = res
        for title, headers, rows in replica_tables(res):
            self.table(title, headers, rows)

    def rollups(self, wd: Path, dbs: Databases) -> None:
        from bench.rollups import bench_rollups, rollup_tables

        m = self.mode
        quick = m.name == "quick"
        res = bench_rollups(dbs, wd, assets=m.rollup_assets, reps=20 if quick else 50, batch=2000)
        self.results["benchmarks"]["rollups"] = res
        for title, headers, rows in rollup_tables(res):
            self.table(title, headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes")
    group.add_argument("--full", action="store_true", help="the issue's sizes (long)")
    parser.add_argument(
        "--only",
        action="append",
        choices=ALL,
        help="run only these benchmarks (repeatable); default: all",
    )
    parser.add_argument("--profile", action="store_true", help="also profile in --quick")
    # The sizes of issue 19 (e.g. --read-large 100000000 --growth-size 1000000
    # --growth-size 100000000): hours of fill and ~60 GB of PostgreSQL per 100M rows.
    parser.add_argument(
        "--read-large", type=int, help="benchmark 5's large store size (rows); default: mode's"
    )
    parser.add_argument(
        "--growth-size",
        type=int,
        action="append",
        help="benchmark 3's store sizes (rows, repeatable); default: the mode's",
    )
    args = parser.parse_args(argv)

    def interrupted(signum: int, _frame: object) -> None:
        # Unwind normally, so child processes are stopped and databases dropped.
        raise KeyboardInterrupt(f"signal {signum}")

    # Also when started in the background (where SIGINT arrives ignored) or with SIGTERM.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    mode = QUICK if args.quick else FULL
    if args.read_large:
        mode = replace(mode, read_sizes=(mode.read_sizes[0], args.read_large))
    if args.growth_size:
        mode = replace(mode, growth_sizes=sorted(args.growth_size))
    only = tuple(args.only or ALL)
    command = shlex.join([sys.executable, "-m", "bench.run", *(argv or sys.argv[1:])])
    suite = Suite(mode, only, command)
    suite.explicit = tuple(args.only or ()) + (("profile",) if args.profile else ())
    started = time.perf_counter()
    log(f"mode {mode.name}: {', '.join(only)}; load average {load_average()}")
    try:
        code = suite.run()
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            suite.save()
        return 130
    elapsed = time.perf_counter() - started
    suite.results["elapsed_s"] = elapsed
    suite.save()
    log(f"suite finished in {elapsed:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
