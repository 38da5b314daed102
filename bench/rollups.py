"""Benchmark 10: rollups. Also runnable alone: ``python -m bench.rollups --quick``.

One fresh migrated PostgreSQL database holding A assets x a year of 5-minute observations
(105,120 per asset; benchmark 8's generator: a random walk, upstream-like rounding), the
rollups built from them by the migration's own backfill statement. Measured in the same
run:

a. **A year of daily candles for one asset** (366 buckets, one page), p50 over R calls of
   ``query.candles.candles`` through the API's own reader (in-process, no HTTP): from the
   rollups (what ``/history?interval=1d`` does) against the same candles computed from the
   raw rows (``rollups=False``). The two answers are compared: they must be equal.
b. **The loader's cost of maintaining them**: batches of B new observations loaded by
   ``load.observations.insert_observations`` (observations, latest pointers and rollups in
   one statement) against the same statement without its rollup CTEs, interleaved,
   microseconds per row.
c. **Their size**: rollup bytes (heap and primary key, both intervals) per observation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import Databases, log, summarize, workdir
from bench.lake import synth_pg

PER_YEAR = 365 * 288


async def _candles(url: str, reps: int) -> dict[str, Any]:
    from kasparro.query.candles import candles
    from kasparro.query.fastread import open_reader

    reader = open_reader(url)
    kw: dict[str, Any] = {
        "interval": "1d",
        "sources": (),
        "since": None,
        "until": None,
        "descending": False,
        "limit": 366,
        "start": None,
    }
    out: dict[str, Any] = {}
    try:
        answers = {}
        for rollups in (True, False):  # warm both paths
            answers[rollups] = (await candles(reader, 1, rollups=rollups, **kw)).candles
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(reps):
            for rollups in (True, False):
                started = time.perf_counter()
                await candles(reader, 1, rollups=rollups, **kw)
                times[rollups].append((time.perf_counter() - started) * 1000)
        out["candles"] = len(answers[True])
        out["equal"] = answers[True] == answers[False]
        out["rollups_ms"] = summarize(times[True])
        out["raw_ms"] = summarize(times[False])
        out["raw_over_rollups"] = statistics.median(times[False]) / statistics.median(times[True])
    finally:
        await reader.close()
    return out


async def _ingest(url: str, assets: int, batch: int, reps: int) -> dict[str, Any]:
    from kasparro.load import observations as load_obs
    from kasparro.load.bulk import driver_connection, rows_json
    from kasparro.load.listings import resolve_listings
    from kasparro.store.engine import create_engine

    engine = create_engine(url.replace("postgresql://", "postgresql+asyncpg://"), pool_size=1)
    start = datetime(2025, 1, 1, tzinfo=UTC)  # after the synthetic year
    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        tick = 0
        for _ in range(reps):
            for rollups in (True, False):
                rows = []
                while len(rows) < batch:
                    at = start + timedelta(minutes=5 * tick)
                    tick += 1
                    rows += [
                        load_obs.observation_row(_record(a, at), a, tick, at)
                        for a in range(1, assets + 1)
                    ]
                rows = rows[:batch]
                async with engine.begin() as conn:
                    started = time.perf_counter()
                    if rollups:
                        await load_obs.insert_observations(conn, rows)
                    else:
                        # What insert_observations does, less the rollup CTEs: the
                        # listings resolved, then the statement without them.
                        ids = await resolve_listings(conn, rows)
                        narrow = [load_obs._narrow(r, ids) for r in rows]
                        full = load_obs._insert_sql(tuple(narrow[0]), True)
                        sql = full[: full.index(", rb AS (")] + "\nSELECT count(*) FROM ins"
                        driver = await driver_connection(conn)
                        await driver.fetchval(sql, rows_json(narrow))
                    times[rollups].append((time.perf_counter() - started) * 1e6 / len(rows))
    finally:
        await engine.dispose()
    return {
        "batch_rows": batch,
        "with_rollups_us_per_row": summarize(times[True]),
        "without_rollups_us_per_row": summarize(times[False]),
        "with_over_without": statistics.median(times[True]) / statistics.median(times[False]),
    }


async def _ingest_sqlite_async(url: str, assets: int, batch: int, reps: int) -> dict[str, Any]:
    from kasparro.load import observations as load_obs
    from kasparro.load import rollups
    from kasparro.store.engine import create_engine
    from kasparro.store.schema import assets as assets_table

    async def no_rollups(conn: Any, rows: Any) -> None:
        return None

    engine = create_engine(url, pool_size=1)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    times: dict[bool, list[float]] = {True: [], False: []}
    fold = rollups.apply_returned
    try:
        async with engine.begin() as conn:
            await conn.execute(
                assets_table.insert(),
                [
                    {"identity_key": f"k{a}", "symbol": "s", "name": "n", "created_at": start}
                    for a in range(1, assets + 1)
                ],
            )
        tick = 0
        for _ in range(reps):
            for with_rollups in (True, False):
                tick += 1
                at = start + timedelta(minutes=5 * tick)
                rows = [
                    load_obs.observation_row(_record(a, at), a, tick, at)
                    for a in range(1, batch + 1)
                ]
                # The same loader with its rollup fold replaced by a no-op (SQLite folds in
                # Python after the insert, so this is exactly the rollups' share).
                load_obs.rollups.apply_returned = fold if with_rollups else no_rollups  # type: ignore[method-assign]
                async with engine.begin() as conn:
                    started = time.perf_counter()
                    await load_obs.insert_observations(conn, rows)
                    times[with_rollups].append((time.perf_counter() - started) * 1e6 / len(rows))
    finally:
        load_obs.rollups.apply_returned = fold  # type: ignore[method-assign]
        await engine.dispose()
    return {
        "batch_rows": batch,
        "with_rollups_us_per_row": summarize(times[True]),
        "without_rollups_us_per_row": summarize(times[False]),
        "with_over_without": statistics.median(times[True]) / statistics.median(times[False]),
    }


def _ingest_sqlite(wd: Path, batch: int, reps: int) -> dict[str, Any]:
    from kasparro.store.migrate import upgrade

    url = f"sqlite+aiosqlite:///{wd / 'rollups-ingest.db'}"
    upgrade(url)
    return asyncio.run(_ingest_sqlite_async(url, batch, batch, reps))


def _record(asset: int, at: datetime) -> Any:
    from kasparro.models import MarketRecord

    return MarketRecord(
        source="coingecko",
        source_asset_id=f"coin-{asset}",
        symbol=f"C{asset}",
        name=f"Coin {asset}",
        observed_at=at,
        price_usd=Decimal("1.2345678") + asset,
        market_cap_usd=Decimal(10**9 + asset),
        volume_24h_usd=Decimal(10**6),
    )


def bench_rollups(
    dbs: Databases, wd: Path, *, assets: int, reps: int, batch: int
) -> dict[str, Any]:
    from bench.common import pg_scalar
    from kasparro.load.rollups import PG_BACKFILL

    url = dbs.fresh_pg()
    try:
        log(f"rollups: {assets} assets x a year of 5-minute observations into PostgreSQL")
        pg = synth_pg(url, assets, assets * PER_YEAR)
        started = time.perf_counter()
        pg_scalar(url, PG_BACKFILL)
        backfill_s = time.perf_counter() - started
        pg_scalar(url, "VACUUM (ANALYZE) observation_rollups")
        rollup_bytes = int(pg_scalar(url, "SELECT pg_total_relation_size('observation_rollups')"))
        rollup_rows = int(pg_scalar(url, "SELECT count(*) FROM observation_rollups"))
        candles = asyncio.run(_candles(url, reps))
        ingest = asyncio.run(_ingest(url, assets, batch, max(3, reps // 4)))
    finally:
        dbs.drop_pg(url)
    log("rollups: the SQLite loader with and without its rollups")
    ingest_sqlite = _ingest_sqlite(wd, 1_000, max(3, reps // 4))
    return {
        "postgresql": pg,
        "backfill_s": backfill_s,
        "backfill_rows_per_s": pg["rows"] / backfill_s,
        "rollup_rows": rollup_rows,
        "rollup_bytes_per_observation": rollup_bytes / pg["rows"],
        "candles": candles,
        "ingest": ingest,
        "ingest_sqlite": ingest_sqlite,
    }


def rollup_tables(res: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    from bench.common import fmt_num, fmt_ratio, fmt_spread, verdict

    pg = res["postgresql"]
    c = res["candles"]
    ing = res["ingest"]
    sq = res["ingest_sqlite"]
    ok = c["rollups_ms"]["median"] < 10 and c["equal"]
    return [
        (
            f"10a. A year of daily candles for one asset — PostgreSQL, {pg['rows']:,} "
            f"observations ({pg['assets']} assets x a year of 5-minute points), "
            f"{c['rollups_ms']['n']} calls each",
            ["path", "p50 ms", "raw/rollups", "candles", "equal", "target", "met"],
            [
                [
                    "rollups",
                    fmt_spread(c["rollups_ms"], 2),
                    fmt_ratio(c["raw_over_rollups"]),
                    c["candles"],
                    c["equal"],
                    "< 10 ms",
                    verdict(ok),
                ],
                ["raw rows", fmt_spread(c["raw_ms"], 1), "-", c["candles"], "-", "-", "-"],
            ],
        ),
        (
            f"10b. Loader cost of the rollups — PostgreSQL {ing['batch_rows']:,}-row batches, "
            f"interleaved, {ing['with_rollups_us_per_row']['n']} each; SQLite the same way",
            ["statement", "µs per row", "with/without"],
            [
                [
                    "observations + latest + rollups",
                    fmt_spread(ing["with_rollups_us_per_row"], 1),
                    fmt_ratio(ing["with_over_without"]),
                ],
                ["observations + latest", fmt_spread(ing["without_rollups_us_per_row"], 1), "-"],
                [
                    f"SQLite, {sq['batch_rows']:,}-row batches: the loader",
                    fmt_spread(sq["with_rollups_us_per_row"], 1),
                    fmt_ratio(sq["with_over_without"]),
                ],
                [
                    "SQLite: the loader, rollup fold off",
                    fmt_spread(sq["without_rollups_us_per_row"], 1),
                    "-",
                ],
            ],
        ),
        (
            "10c. Rollup size",
            ["rollup rows", "bytes per observation", "backfill s", "backfill rows/s"],
            [
                [
                    f"{res['rollup_rows']:,}",
                    fmt_num(res["rollup_bytes_per_observation"], 1),
                    fmt_num(res["backfill_s"], 1),
                    fmt_num(res["backfill_rows_per_s"]),
                ]
            ],
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rollups", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 assets instead of 20")
    args = parser.parse_args()
    with workdir() as wd:
        dbs = Databases(wd)
        try:
            res = bench_rollups(
                dbs, wd, assets=2 if args.quick else 20, reps=20 if args.quick else 50, batch=2000
            )
        finally:
            dbs.close()
    from bench.common import print_table

    for title, headers, rows in rollup_tables(res):
        print_table(title, headers, rows)
    print(json.dumps(res, indent=2, default=str))


if __name__ == "__main__":
    main()
