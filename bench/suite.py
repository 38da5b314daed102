"""The suite behind ``python -m bench.run``: the modes (``--quick``, ``--full``) and the
runner that steps through the benchmarks (in ``bench.steps_*``) and saves the results."""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import steps_api, steps_ingest, steps_other
from bench.common import (
    RESULTS_DIR,
    Databases,
    Emulator,
    load_average,
    log,
    machine_facts,
    print_table,
    src_fingerprint,
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
    "rates",
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
    rates_coins: int  # benchmark 11: emulator universe and one-minute ticks of the ETL
    rates_ticks: int
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
    rates_coins=300,
    rates_ticks=3,
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
    rates_coins=600,
    rates_ticks=6,
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
        self.explicit: tuple[str, ...] = ()  # named with --only (or --profile)

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
                self.step("ingest", lambda: steps_ingest.ingest(self, wd, dbs))
                self.step("profile", lambda: steps_ingest.profile(self, wd, dbs))
                self.step("growth", lambda: steps_ingest.growth(self, wd, dbs))
                self.step("readscale", lambda: steps_api.readscale(self, wd, dbs))
                self.step("api", lambda: steps_api.api(self, wd, dbs))
                self.step("ratelimit", lambda: steps_other.ratelimit(self, wd, dbs))
                self.step("backfill", lambda: steps_other.backfill(self))
                self.step("lake", lambda: steps_other.lake(self, wd, dbs))
                self.step("replica", lambda: steps_other.replica(self, wd))
                self.step("rollups", lambda: steps_other.rollups(self, wd, dbs))
                self.step("rates", lambda: steps_other.rates(self, wd, dbs))
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

    def no_wrk(self, name: str, hint: str) -> None:
        banner = "!" * 78
        message = f"{banner}\nSKIPPED benchmark '{name}': {hint}\n{banner}"
        print(message, file=sys.stderr)
        print(message)
        self.results["benchmarks"][name] = {"skipped": hint}
