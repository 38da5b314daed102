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
  11 rates     the reference rate: computation cost per asset-bucket (pure and stored, both
               databases) and /assets/{id}/rate vs the ceiling, page cache on and off
               (bench/rates.py)
  profile      pyinstrument profile of benchmark 1's ETL (PostgreSQL and SQLite)

Figures are medians over repetitions with [min-max]; every ceiling is measured in the same
run, interleaved with Kasparro. Nothing here fails on a missed target: it reports.
Modes and the runner: bench/suite.py; each benchmark's step (run it, file its results and
tables): bench/steps_ingest.py (1-3, profile), bench/steps_api.py (4, 5),
bench/steps_other.py (6-11).
Results: bench/results/<mode>-<timestamp>.json (the markdown tables are in its
"tables_markdown") and a copy in bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
import time
from dataclasses import replace

from bench.common import load_average, log
from bench.suite import ALL, FULL, QUICK, Suite


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
