"""Benchmarks 1-3 of ``bench.run`` (ingest, re-run, the profile, growth): run them and
file their results and tables on the suite."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import Databases, fmt_ratio, fmt_spread, log, verdict

if TYPE_CHECKING:
    from bench.suite import Suite


# --- 1 + 2 ---------------------------------------------------------------------------
def ingest(suite: Suite, wd: Path, dbs: Databases) -> None:
    from bench.ingest import bench_ingest

    em = suite.emulator(suite.mode.ingest_coins, wd)
    res = bench_ingest(
        em,
        dbs,
        reps=suite.mode.ingest_reps,
        dialects=("postgresql", "sqlite"),
        keep_last_pg=suite.mode.name == "full" and "api" in suite.only,
    )
    kept = res.pop("kept_pg_url", None)
    if kept:
        suite.keep["api_db"] = kept
    suite.results["benchmarks"]["ingest"] = res
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
                f"{len(d['rerun_loaded'])} of {suite.mode.ingest_reps}",
            ]
        )
    u = res["universe"]
    suite.table(
        f"1. Ingest throughput — {u['rows_normalized']:,} rows "
        f"(emulator coins={u['emulator_coins']:,}), {suite.mode.ingest_reps} reps",
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
    suite.table(
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
def profile(suite: Suite, wd: Path, dbs: Databases) -> None:
    from bench.ingest import profile_ingest

    if not suite.mode.profile and "profile" not in suite.explicit:
        log("profile: skipped in this mode (pass --only profile or --profile to run it)")
        return
    em = suite.emulator(suite.mode.ingest_coins, wd)
    em.warm()
    res = profile_ingest(em, dbs, wd)
    suite.results["benchmarks"]["profile"] = res
    for dialect, p in res.items():
        suite.table(
            f"Profile ({dialect}, pyinstrument, {p['elapsed_s']:.1f} s run): top self time",
            ["function", "% of run"],
            [[s["function"], f"{s['percent']:.1f}%"] for s in p["top_self"][:12]],
        )
        suite.table(
            f"Profile ({dialect}): top inclusive time in kasparro code",
            ["function", "% of run"],
            [[s["function"], f"{s['percent']:.1f}%"] for s in p["top_inclusive_kasparro"][:12]],
        )


explicit: tuple[str, ...] = ()


# --- 3 -------------------------------------------------------------------------------
def growth(suite: Suite, wd: Path, dbs: Databases) -> None:
    from bench.ingest import bench_growth

    em = suite.emulator(suite.mode.growth_coins, wd)
    res = bench_growth(em, dbs, sizes=suite.mode.growth_sizes, reps=suite.mode.growth_reps)
    suite.results["benchmarks"]["growth"] = res
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
    suite.table(
        f"3. Growth — ingest cost per row, PostgreSQL, {res['batch_rows']:,}-row batches, "
        f"{suite.mode.growth_reps} reps",
        ["store rows before", "µs per row", "run s", "vs smallest", "target", "met"],
        rows,
    )
