"""The pipeline on the CSV source: counts reconcile, incremental by position, resumable."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.runs import repository as repo
from kasparro.runs.pipeline import Pipeline
from tests.fixtures.etl import CSV_HEADER, count, make_settings, rows, run_etl, store_snapshot

ROWS = [
    "bitcoin,BTC,Bitcoin,2024-05-01T00:00:00Z,60612.34,1193599413599,31250448211,-4.12,1,19692350,21000000,21000000",
    "ethereum,ETH,Ethereum,2024-05-01T00:00:00Z,3014.27,362027843657,15320117894,-3.35,2,120104650.1,,",
    "shiba-inu,SHIB,Shiba Inu,2024-05-01T00:00:00Z,1e-10,,,,12,5.89E+14,,",
    "bad-price,BAD,Bad Price,2024-05-01T00:00:00Z,abc,,,,,,,",
    "uniswap,UNI,Uniswap,2024-05-01T00:00:00Z,7.41,,,,20,,,",
    "unicorn-token,UNI,Unicorn Token,2024-05-01T00:00:00Z,0.02,,,,,,,",
    "no-time,NT,No Time,,1.5,,,,,,,",
]


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text(CSV_HEADER + "".join(line + "\n" for line in lines))
    return path


async def test_csv_run_loads_rejects_and_reconciles(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    csv_path = write_csv(tmp_path / "m.csv", ROWS)
    settings = make_settings(db_url, csv_paths=[csv_path], csv_batch_rows=3)
    res = (await run_etl(engine, settings, "csv"))["csv"]
    assert res.status == "partial"  # completed, with quarantined rows
    assert (res.fetched, res.loaded, res.unchanged, res.rejected) == (7, 5, 0, 2)
    assert res.reconciles
    assert await count(engine, "SELECT count(*) FROM observations") == 5
    reasons = [r[0] for r in await rows(engine, "SELECT reason FROM quarantine ORDER BY reason")]
    assert len(reasons) == 2
    assert any("price_usd" in r for r in reasons)
    assert any("last_updated" in r for r in reasons)
    run = await rows(engine, "SELECT status, fetched, loaded, unchanged, rejected, pages FROM runs")
    assert run == [("partial", 7, 5, 0, 2, 4)]  # 3 data pages + the closing page
    # Two coins share the symbol UNI: two assets, never merged on symbol alone.
    assert await count(engine, "SELECT count(*) FROM assets WHERE symbol = 'UNI'") == 2
    # Raw payloads are kept for every page.
    assert await count(engine, "SELECT count(*) FROM raw_responses") == 4


async def test_csv_is_incremental_and_detects_rewrites(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    csv_path = write_csv(tmp_path / "m.csv", ROWS[:3])
    settings = make_settings(db_url, csv_paths=[csv_path])
    first = (await run_etl(engine, settings, "csv"))["csv"]
    assert (first.fetched, first.loaded) == (3, 3)

    again = (await run_etl(engine, settings, "csv"))["csv"]
    assert (again.fetched, again.loaded, again.status) == (0, 0, "success")

    with csv_path.open("a") as f:
        f.write(ROWS[4] + "\n")
    appended = (await run_etl(engine, settings, "csv"))["csv"]
    assert (appended.fetched, appended.loaded, appended.unchanged) == (1, 1, 0)

    # Rewritten file (first row changed): reprocessed from the start, idempotently.
    write_csv(
        csv_path,
        [
            ROWS[0].replace("60612.34", "60612.35").replace("00:00:00Z", "01:00:00Z", 1),
            *ROWS[1:3],
            ROWS[4],
        ],
    )
    rewritten = (await run_etl(engine, settings, "csv"))["csv"]
    assert (rewritten.fetched, rewritten.loaded, rewritten.unchanged) == (4, 1, 3)
    assert await count(engine, "SELECT count(*) FROM observations") == 5


async def test_unterminated_last_line_is_not_lost(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    csv_path = tmp_path / "m.csv"
    csv_path.write_text(CSV_HEADER + ROWS[0] + "\n" + ROWS[1])  # no final newline
    settings = make_settings(db_url, csv_paths=[csv_path])
    first = (await run_etl(engine, settings, "csv"))["csv"]
    assert first.loaded == 2
    with csv_path.open("a") as f:
        f.write("\n" + ROWS[2] + "\n")
    second = (await run_etl(engine, settings, "csv"))["csv"]
    # The once-unterminated line is read again (unchanged), the new one is loaded.
    assert (second.fetched, second.loaded, second.unchanged) == (2, 1, 1)


async def test_failed_run_resumes_from_last_committed_page(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    csv_path = write_csv(tmp_path / "m.csv", ROWS)
    failing = make_settings(db_url, csv_paths=[csv_path], csv_batch_rows=2, fail_at="csv:3")
    res = (await run_etl(engine, failing, "csv"))["csv"]
    assert res.status == "failed"
    assert "injected failure" in (res.error or "")
    assert res.pages == 2
    assert await count(engine, "SELECT count(*) FROM observations") == 3  # pages 1-2 durable

    ok = make_settings(db_url, csv_paths=[csv_path], csv_batch_rows=2)
    resumed = (await run_etl(engine, ok, "csv"))["csv"]
    assert resumed.resumed_from == res.run_id
    assert resumed.fetched == 3  # only rows after the last committed page
    assert resumed.reconciles

    # Same final store as one uninterrupted run in a fresh database.
    interrupted = await store_snapshot(engine)
    async with engine.begin() as conn:
        for table in (
            "latest_observations",
            "observations",
            "quarantine",
            "asset_mappings",
            "assets",
            "checkpoints",
            "runs",
            "raw_responses",
            "leases",
        ):
            await conn.exec_driver_sql(f"DELETE FROM {table}")
    (await run_etl(engine, ok, "csv"))["csv"]
    assert await store_snapshot(engine) == interrupted


async def test_dead_run_is_marked_crashed_and_its_lease_recovered(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    csv_path = write_csv(tmp_path / "m.csv", ROWS[:2])
    settings = make_settings(db_url, csv_paths=[csv_path], lease_ttl_seconds=600)
    import socket

    dead_owner = f"{socket.gethostname()}:999999:deadbeef"  # no such pid
    async with engine.begin() as conn:
        assert await repo.try_acquire_lease(conn, "source:csv", dead_owner, 600)
        dead_run = await repo.create_run(
            conn, source="csv", trigger="cli", owner=dead_owner, resumed_from=None, start_page=1
        )
    res = (await run_etl(engine, settings, "csv", pipeline=Pipeline(engine, settings)))["csv"]
    assert res.status == "success"
    assert res.crashed_runs == [dead_run]
    status = await rows(engine, "SELECT status, error FROM runs WHERE id = :i", i=dead_run)
    assert status[0][0] == "crashed"
    assert "died" in status[0][1]


async def test_live_lease_blocks_a_second_run(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    csv_path = write_csv(tmp_path / "m.csv", ROWS[:1])
    settings = make_settings(db_url, csv_paths=[csv_path])
    async with engine.begin() as conn:
        assert await repo.try_acquire_lease(conn, "source:csv", "otherhost:1:abc", 600)
    res = (await run_etl(engine, settings, "csv"))["csv"]
    assert res.status == "skipped"
    assert "already running" in (res.error or "")
    assert await count(engine, "SELECT count(*) FROM runs") == 0
