"""Benchmarks 1-3: ingest throughput (with its raw-load ceiling and peak RSS), incremental
re-run, and ingest cost per row as the store grows. Plus the ingest profile.

Kasparro is measured end to end in a child process (``bench.etl_child``): fetch from the
emulator (another process, zero latency, no rate limit) -> parse -> validate/normalize ->
resolve identity -> bulk load -> checkpoint, into a fresh migrated database.

The ceiling loads the same rows, already normalized (the same payloads fetched once and put
through Kasparro's own normalizers), with the fastest raw path into an equally fresh migrated
database: asyncpg ``copy_records_to_table`` into ``observations`` on PostgreSQL, one sqlite3
``executemany`` in one transaction on SQLite (same PRAGMAs as Kasparro: WAL,
synchronous=NORMAL, foreign_keys=ON). The assets those rows reference are inserted before the
clock starts; only the observation load is timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench.common import (
    Databases,
    Emulator,
    EtlFailed,
    EtlRun,
    etl_env,
    log,
    pg_scalar,
    ratio,
    run_etl,
    sqlite_url,
    summarize,
)
from bench.synth import check_latest_pg, inflate_pg, undo_runs_pg
from kasparro.models import MarketRecord, Rejection
from kasparro.normalize.coingecko import normalize_market
from kasparro.normalize.coinpaprika import normalize_ticker
from kasparro.sources.parsing import parse_json_array
from kasparro.store.types import decimal_text

OBS_COLUMNS = [
    "asset_id",
    "source",
    "listing_id",
    "observed_at",
    "price_usd",
    "market_cap_usd",
    "volume_24h_usd",
    "change_24h_pct",
    "market_cap_rank",
    "circulating_supply",
    "total_supply",
    "max_supply",
    "run_id",
    "ingested_at",
]

LISTING_COLUMNS = ["id", "source", "source_asset_id", "symbol", "name", "named_at"]


# --- the ceiling ---------------------------------------------------------------------------


@dataclass
class Captured:
    """The universe's rows, normalized once by Kasparro's own normalizers."""

    assets: list[tuple[Any, ...]]  # (id, identity_key, symbol, name, created_at)
    listings: list[tuple[Any, ...]]  # (id, source, source_asset_id, symbol, name, named_at)
    rows: list[tuple[Any, ...]]  # in OBS_COLUMNS order
    fetched: int
    rejected: int
    payload_bytes: int


def capture(emulator: Emulator) -> Captured:
    pages, tickers = emulator.fetch_all()
    emulator.reset_stats()
    records: list[MarketRecord] = []
    fetched = rejected = 0
    for body, normalize in [*((p, normalize_market) for p in pages), (tickers, normalize_ticker)]:
        seen: set[tuple[str, datetime]] = set()
        for item in parse_json_array(body):
            fetched += 1
            rec = normalize(item)
            if isinstance(rec, Rejection):
                rejected += 1
                continue
            key = (rec.source_asset_id, rec.observed_at)
            if key not in seen:  # in-page duplicates, as the pipeline does
                seen.add(key)
                records.append(rec)
    now = datetime.now(UTC)
    asset_ids: dict[tuple[str, str], int] = {}
    assets: list[tuple[Any, ...]] = []
    listings: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []
    for rec in records:
        source_key = (rec.source, rec.source_asset_id)
        aid = asset_ids.get(source_key)
        if aid is None:
            aid = asset_ids[source_key] = len(asset_ids) + 1
            assets.append((aid, f"{rec.source}:{rec.source_asset_id}", rec.symbol, rec.name, now))
            listings.append((aid, *source_key, rec.symbol, rec.name, rec.observed_at))
        rows.append(
            (
                aid,
                rec.source,
                aid,  # one listing per asset here: the same id
                rec.observed_at,
                rec.price_usd,
                rec.market_cap_usd,
                rec.volume_24h_usd,
                rec.change_24h_pct,
                rec.market_cap_rank,
                rec.circulating_supply,
                rec.total_supply,
                rec.max_supply,
                1,
                now,
            )
        )
    return Captured(assets, listings, rows, fetched, rejected, sum(map(len, pages)) + len(tickers))


async def _ceiling_pg(dsn: str, data: Captured) -> float:
    conn = await asyncpg.connect(dsn, timeout=10, command_timeout=None)
    try:
        await conn.copy_records_to_table(
            "assets",
            records=data.assets,
            columns=["id", "identity_key", "symbol", "name", "created_at"],
        )
        await conn.copy_records_to_table("listings", records=data.listings, columns=LISTING_COLUMNS)
        started = time.perf_counter()
        await conn.copy_records_to_table("observations", records=data.rows, columns=OBS_COLUMNS)
        elapsed = time.perf_counter() - started
        count = await conn.fetchval("SELECT count(*) FROM observations")
    finally:
        await conn.close()
    if count != len(data.rows):
        raise RuntimeError(f"ceiling loaded {count} rows, expected {len(data.rows)}")
    return elapsed


def ceiling_pg(dsn: str, data: Captured) -> float:
    return asyncio.run(_ceiling_pg(dsn, data))


def _sqlite_value(value: Any) -> Any:
    # The storage format of kasparro.store.types on SQLite: exact decimal text, naive UTC
    # timestamps as fixed-width text (what SQLAlchemy's DateTime writes).
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


def ceiling_sqlite(path: Path, data: Captured) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO assets (id, identity_key, symbol, name, created_at) VALUES (?,?,?,?,?)",
            [tuple(_sqlite_value(v) for v in a) for a in data.assets],
        )
        conn.executemany(
            f"INSERT INTO listings ({', '.join(LISTING_COLUMNS)}) VALUES (?,?,?,?,?,?)",
            [tuple(_sqlite_value(v) for v in li) for li in data.listings],
        )
        conn.execute("COMMIT")
        sql = (
            f"INSERT INTO observations ({', '.join(OBS_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(OBS_COLUMNS))})"
        )
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        # Conversion to the storage format is inside the clock, as asyncpg's binary
        # encoding is inside the PostgreSQL ceiling's.
        conn.executemany(sql, (tuple(map(_sqlite_value, row)) for row in data.rows))
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        count = conn.execute("SELECT count(*) FROM observations").fetchone()[0]
    finally:
        conn.close()
    if count != len(data.rows):
        raise RuntimeError(f"ceiling loaded {count} rows, expected {len(data.rows)}")
    return elapsed


# --- helpers -------------------------------------------------------------------------------


def count_rows(dialect: str, url: str | Path, table: str = "observations") -> int:
    if dialect == "postgresql":
        return int(pg_scalar(str(url), f"SELECT count(*) FROM {table}"))
    with contextlib.closing(sqlite3.connect(url)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _run_summary(run: EtlRun) -> dict[str, Any]:
    return {
        "elapsed_s": run.elapsed_s,
        "process_wall_s": run.process_wall_s,
        "cpu_s": run.cpu_s,
        "max_rss_bytes": run.max_rss_bytes,
        "fetched": run.fetched,
        "loaded": run.loaded,
        "unchanged": run.unchanged,
        "rejected": run.rejected,
        "per_source": [
            {k: r[k] for k in ("source", "pages", "fetched", "loaded", "unchanged", "duration_s")}
            for r in run.results
        ],
    }


# --- benchmarks 1 and 2 ----------------------------------------------------------------------


def bench_ingest(
    emulator: Emulator,
    dbs: Databases,
    *,
    reps: int,
    dialects: tuple[str, ...],
    keep_last_pg: bool = False,
) -> dict[str, Any]:
    """Per repetition and dialect, interleaved: Kasparro's first run into a fresh database,
    the re-run of the unchanged universe, then the ceiling into another fresh database.
    ``keep_last_pg``: keep the last PostgreSQL store (URL in ``kept_pg_url``) for the API
    benchmark instead of dropping it."""
    emulator.warm()
    data = capture(emulator)
    log(
        f"ingest: universe {emulator.coins} coins -> {data.fetched} rows fetched, "
        f"{len(data.rows)} normalized ({data.payload_bytes / 1e6:.1f} MB of JSON)"
    )
    out: dict[str, Any] = {
        "universe": {
            "emulator_coins": emulator.coins,
            "rows_fetched": data.fetched,
            "rows_normalized": len(data.rows),
            "rejected": data.rejected,
            "payload_bytes": data.payload_bytes,
        },
        "dialects": {},
    }
    reps_by: dict[str, list[dict[str, Any]]] = {d: [] for d in dialects}
    failures: list[dict[str, Any]] = []

    def attempt(dialect: str, rep: int, phase: str, env: dict[str, str]) -> EtlRun | None:
        # A failed run is a finding, not a reason to lose the other samples: record it.
        try:
            return run_etl(env)
        except EtlFailed as exc:
            failures.append(
                {"dialect": dialect, "rep": rep + 1, "phase": phase, "error": exc.summary}
            )
            log(f"!!! {dialect} rep {rep + 1} {phase} run FAILED: {exc.summary}")
            return None

    for rep in range(reps):
        for dialect in dialects:
            target: str | Path
            if dialect == "postgresql":
                target = dbs.fresh_pg()
                url = str(target)
            else:
                target = dbs.fresh_sqlite()
                url = sqlite_url(target)
            env = etl_env(url, emulator)
            emulator.reset_stats()
            sample: dict[str, Any] = {"first": None, "rerun": None, "ceiling_s": None}
            first = sample["first"] = attempt(dialect, rep, "first", env)
            if first is not None:
                sample["count_after_first"] = count_rows(dialect, target)
                rerun = sample["rerun"] = attempt(dialect, rep, "re-run", env)
                sample["count_after_rerun"] = count_rows(dialect, target)
                log(
                    f"ingest {dialect} rep {rep + 1}/{reps}: first {first.loaded} rows in "
                    f"{first.elapsed_s:.2f} s ({first.loaded / first.elapsed_s:,.0f} rows/s, "
                    f"RSS {first.max_rss_bytes / 1e6:.0f} MB); re-run "
                    + (
                        "FAILED"
                        if rerun is None
                        else f"{rerun.elapsed_s:.2f} s, loaded {rerun.loaded}"
                    )
                )
            if dialect == "postgresql":
                if keep_last_pg and rep == reps - 1 and first is not None:
                    out["kept_pg_url"] = url
                else:
                    dbs.drop_pg(url)
                ceiling_db = dbs.fresh_pg()
                secs = ceiling_pg(ceiling_db, data)
                dbs.drop_pg(ceiling_db)
            else:
                dbs.drop_sqlite(Path(target))
                ceiling_file = dbs.fresh_sqlite()
                secs = ceiling_sqlite(ceiling_file, data)
                dbs.drop_sqlite(ceiling_file)
            sample["ceiling_s"] = secs
            reps_by[dialect].append(sample)
            log(
                f"ceiling {dialect} rep {rep + 1}/{reps}: {len(data.rows)} rows in {secs:.2f} s "
                f"({len(data.rows) / secs:,.0f} rows/s)"
            )
    n = len(data.rows)
    for dialect in dialects:
        samples = reps_by[dialect]
        firsts: list[EtlRun] = [x["first"] for x in samples if x["first"] is not None]
        reruns: list[EtlRun] = [x["rerun"] for x in samples if x["rerun"] is not None]
        ceil_s = [x["ceiling_s"] for x in samples if x["ceiling_s"] is not None]
        k_rate = summarize([r.loaded / r.elapsed_s for r in firsts])
        c_rate = summarize([n / s for s in ceil_s])
        paired = [
            (x["first"].loaded / x["first"].elapsed_s) / (n / x["ceiling_s"])
            for x in samples
            if x["first"] is not None and x["ceiling_s"]
        ]
        both = [x for x in samples if x["first"] is not None and x["rerun"] is not None]
        out["dialects"][dialect] = {
            "kasparro_rows_per_s": k_rate,
            "ceiling_rows_per_s": c_rate,
            "ratio": ratio(k_rate["median"], c_rate["median"]),
            "paired_ratios": paired,
            "first_run_s": summarize([r.elapsed_s for r in firsts]),
            "first_run_cpu_s": summarize([r.cpu_s for r in firsts]),
            "ceiling_s": summarize(ceil_s),
            "peak_rss_bytes": summarize([r.max_rss_bytes for r in firsts]),
            "rerun_peak_rss_bytes": summarize([r.max_rss_bytes for r in reruns]),
            "rerun_s": summarize([r.elapsed_s for r in reruns]),
            "rerun_ratio": summarize([x["rerun"].elapsed_s / x["first"].elapsed_s for x in both]),
            "rerun_cpu_s": summarize([r.cpu_s for r in reruns]),
            "rerun_loaded": [r.loaded for r in reruns],
            "rerun_unchanged": [r.unchanged for r in reruns],
            "rerun_count_unchanged": (
                all(x["count_after_first"] == x["count_after_rerun"] for x in both)
                if both
                else None
            ),
            "failed_runs": [f for f in failures if f["dialect"] == dialect],
            "reps": [
                {
                    "first": None if x["first"] is None else _run_summary(x["first"]),
                    "rerun": None if x["rerun"] is None else _run_summary(x["rerun"]),
                    "ceiling_s": x["ceiling_s"],
                    "count_after_first": x.get("count_after_first"),
                    "count_after_rerun": x.get("count_after_rerun"),
                }
                for x in samples
            ],
        }
    return out


# --- profile ------------------------------------------------------------------------------


def _frame_key(frame: dict[str, Any]) -> str:
    path = frame.get("file_path_short") or frame.get("file_path") or ""
    return f"{frame.get('function')} ({path}:{frame.get('line_no')})"


def hot_spots(profile_json: Path, top: int = 15) -> dict[str, Any]:
    """Self time and inclusive time per function from a pyinstrument JSON profile
    (inclusive time counts a function once per stack, however deep its recursion)."""
    data = orjson.loads(profile_json.read_bytes())
    root = data["root_frame"]
    total = float(root["time"]) or 1.0
    self_time: dict[str, float] = {}
    incl_time: dict[str, float] = {}

    def walk(frame: dict[str, Any], on_stack: frozenset[str]) -> None:
        key = _frame_key(frame)
        children = frame.get("children", [])
        own = float(frame["time"]) - sum(float(c["time"]) for c in children)
        self_time[key] = self_time.get(key, 0.0) + max(own, 0.0)
        if key not in on_stack:
            incl_time[key] = incl_time.get(key, 0.0) + float(frame["time"])
        stack = on_stack | {key}
        for child in children:
            walk(child, stack)

    walk(root, frozenset())

    def ranked(table: dict[str, float], only_kasparro: bool = False) -> list[dict[str, Any]]:
        items = [
            (k, v)
            for k, v in table.items()
            if not only_kasparro or "kasparro/" in k or "kasparro\\" in k
        ]
        items.sort(key=lambda kv: kv[1], reverse=True)
        return [{"function": k, "seconds": v, "percent": 100 * v / total} for k, v in items[:top]]

    return {
        "total_s": total,
        "sample_count": data.get("sample_count"),
        "top_self": ranked(self_time),
        "top_inclusive_kasparro": ranked(incl_time, only_kasparro=True),
    }


def profile_ingest(emulator: Emulator, dbs: Databases, workdir: Path) -> dict[str, Any]:
    """One extra first run per dialect under pyinstrument (not part of the timed figures).
    The hot spots and pyinstrument's text tree go into the results JSON (result files other
    than *.json are not git-ignored, so nothing else is written to bench/results)."""
    results: dict[str, Any] = {}
    for dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            target: str | Path = dbs.fresh_pg()
            url = str(target)
        else:
            target = dbs.fresh_sqlite()
            url = sqlite_url(target)
        text_path = workdir / f"profile-{dialect}.txt"
        run = run_etl(etl_env(url, emulator), profile=text_path)
        spots = hot_spots(Path(str(text_path) + ".json"))
        spots["elapsed_s"] = run.elapsed_s
        spots["cpu_s"] = run.cpu_s
        spots["text"] = text_path.read_text(errors="replace")
        results[dialect] = spots
        log(f"profile {dialect}: {run.loaded} rows in {run.elapsed_s:.2f} s")
        if dialect == "postgresql":
            dbs.drop_pg(url)
        else:
            dbs.drop_sqlite(Path(target))
    return results


# --- benchmark 3 ----------------------------------------------------------------------------


def bench_growth(
    emulator: Emulator, dbs: Databases, *, sizes: list[int], reps: int
) -> dict[str, Any]:
    """PostgreSQL. One database: a first ETL run loads the universe (~B rows), then for each
    store size (ascending) synthetic history fills the store up to that size, and each
    repetition ticks the emulator (so ~97% of the rows are new), runs the ETL (timed) and
    undoes that run's rows so every repetition starts from the same store size."""
    url = dbs.fresh_pg()
    env = etl_env(url, emulator)
    emulator.warm()
    base = run_etl(env)
    log(f"growth: base run loaded {base.loaded} rows in {base.elapsed_s:.2f} s")
    points: list[dict[str, Any]] = []
    for size in sizes:
        inflated = inflate_pg(url, size)
        store = count_rows("postgresql", url)
        log(f"growth: store at {store:,} rows (synthetic fill {inflated['seconds']:.1f} s)")
        samples: list[dict[str, Any]] = []
        for rep in range(reps):
            emulator.tick()
            emulator.warm()
            before = count_rows("postgresql", url)
            try:
                run = run_etl(env)
            except EtlFailed as exc:
                log(f"!!! growth {store:,} rep {rep + 1} FAILED: {exc.summary}")
                samples.append({"store_rows_before": before, "failed": exc.summary})
                if exc.run is not None:
                    undo_runs_pg(url, [int(r["run_id"]) for r in exc.run.results])
                continue
            per_row_us = 1e6 * run.elapsed_s / max(run.loaded, 1)
            samples.append(
                {
                    "store_rows_before": before,
                    "elapsed_s": run.elapsed_s,
                    "loaded": run.loaded,
                    "unchanged": run.unchanged,
                    "per_row_us": per_row_us,
                    "cpu_s": run.cpu_s,
                }
            )
            log(
                f"growth {store:,}: rep {rep + 1}/{reps} loaded {run.loaded} in "
                f"{run.elapsed_s:.2f} s ({per_row_us:.1f} us/row)"
            )
            undo_runs_pg(url, [int(r["run_id"]) for r in run.results])
        points.append(
            {
                "nominal_store_rows": size,
                "store_rows": store,
                "per_row_us": summarize([s["per_row_us"] for s in samples if "failed" not in s]),
                "elapsed_s": summarize([s["elapsed_s"] for s in samples if "failed" not in s]),
                "samples": samples,
                "fill": inflated,
            }
        )
    inconsistent = check_latest_pg(url)
    dbs.drop_pg(url)
    first = points[0]["per_row_us"]["median"]
    for p in points:
        p["ratio_vs_smallest"] = ratio(p["per_row_us"]["median"], first)
    worst = max((p["ratio_vs_smallest"] or 0.0) for p in points)
    return {
        "dialect": "postgresql",
        "batch_rows": base.loaded,
        "base_run_s": base.elapsed_s,
        "points": points,
        "max_ratio": worst,
        "latest_inconsistent_rows": inconsistent,
    }
