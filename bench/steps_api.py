"""Benchmarks 4 and 5 of ``bench.run`` (API throughput, read-path scale)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import Databases, etl_env, fmt_num, fmt_ratio, fmt_spread, log, run_etl, verdict

if TYPE_CHECKING:
    from bench.suite import Suite


# --- 5 (and 4 in --quick) ---------------------------------------------------------------
def api_database(suite: Suite, wd: Path, dbs: Databases, coins: int) -> str:
    em = suite.emulator(coins, wd)
    em.warm()
    url = dbs.fresh_pg()
    run_etl(etl_env(url, em))
    return url


def readscale(suite: Suite, wd: Path, dbs: Databases) -> None:
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
        suite.no_wrk("readscale", INSTALL_HINT)
        return
    small, large = suite.mode.read_sizes
    url = api_database(suite, wd, dbs, suite.mode.growth_coins)
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
            duration=suite.mode.api_duration,
            reps=suite.mode.api_reps,
            bracket=suite.mode.api_bracket,
            label="small",
            history_limit=history_limit,
            candles_since=candles_since,
        )
        if suite.mode.name == "quick":
            suite.results["benchmarks"]["api"] = {**at_small, "shared_with": "readscale/small"}
            api_table(suite, suite.results["benchmarks"]["api"])
        log(f"readscale: filling the store to {large:,} rows (server-side SQL)")
        fill_large = inflate_pg(url, large)
        log(f"readscale: fill took {fill_large['seconds']:.0f} s")
        inconsistent = check_latest_pg(url)
        at_large = measure_api(
            url,
            wd,
            duration=suite.mode.api_duration,
            reps=suite.mode.api_reps,
            bracket=suite.mode.api_bracket,
            label="large",
            configs=suite.mode.read_large_configs,
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
    suite.results["benchmarks"]["readscale"] = res
    rows = []
    for config in suite.mode.read_large_configs:
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
                    fmt_num(a["p99_ms"]["median"], 1) + " / " + fmt_num(b["p99_ms"]["median"], 1),
                ]
            )
    suite.table(
        f"5. Read-path scale — PostgreSQL, {at_small['database_rows']:,} vs "
        f"{at_large['database_rows']:,} observation rows, wrk "
        f"-t2 -c32 -d{suite.mode.api_duration}s",
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
def api(suite: Suite, wd: Path, dbs: Databases) -> None:
    from bench.api import INSTALL_HINT, measure_api, wrk_available

    if not wrk_available():
        suite.no_wrk("api", INSTALL_HINT)
        return
    if suite.mode.name == "quick" and "api" in suite.results["benchmarks"]:
        return  # measured with benchmark 5's small database
    url = suite.keep.pop("api_db", None) or api_database(suite, wd, dbs, suite.mode.ingest_coins)
    try:
        res = measure_api(
            url,
            wd,
            duration=suite.mode.api_duration,
            reps=suite.mode.api_reps,
            bracket=suite.mode.api_bracket,
            label="api",
        )
    finally:
        dbs.drop_pg(url)
    suite.results["benchmarks"]["api"] = res
    api_table(suite, res)


def api_table(suite: Suite, res: dict[str, Any]) -> None:
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
    suite.table(
        f"4. API throughput — PostgreSQL with {res['database_rows']:,} observations, "
        f"wrk -t{res['wrk']['threads']} -c{res['wrk']['connections']} "
        f"-d{res['wrk']['duration_s']}s, {suite.mode.api_reps} round(s); ceiling body "
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
