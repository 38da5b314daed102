"""``kasparro export``: partitions, exact decimals read back by pyarrow and DuckDB,
idempotence, late rows, and a real kill in the middle of an export (both dialects)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.lake import repository as repo
from kasparro.lake.export import LakeMismatch, export
from kasparro.lake.tables import MARKET_DECIMALS, table_named
from kasparro.normalize.common import (
    CHANGE_PCT_BOUND,
    MARKET_BOUND,
    PRICE_BOUND,
    SUPPLY_BOUND,
    bounded,
)
from kasparro.store.types import decimal_text
from tests.fixtures.api import T0, rec, seed_run
from tests.lake.helpers import duck_values, exact, lake_rows, same_values, store_rows

DAY = timedelta(days=1)


async def seed_days(engine: AsyncEngine, days: int = 2, coins: int = 3) -> None:
    for d in range(days):
        for source in ("coingecko", "coinpaprika"):
            await seed_run(
                engine,
                source,
                [
                    rec(f"c{i}", source=source, at=T0 + d * DAY, price=f"{i + 1}.{d}5")
                    for i in range(coins)
                ],
            )


async def test_export_writes_day_and_source_partitions_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await seed_days(engine)
    lake = tmp_path / "lake"
    report = await export(engine, lake)
    obs = report.tables[0]
    assert (obs.table, obs.rows, obs.files) == ("observations", 12, 4)
    parts = sorted(p.relative_to(lake).parts[1:3] for p in lake.glob("observations/*/*/*.parquet"))
    assert parts == [
        ("date=2024-05-01", "source=coingecko"),
        ("date=2024-05-01", "source=coinpaprika"),
        ("date=2024-05-02", "source=coingecko"),
        ("date=2024-05-02", "source=coinpaprika"),
    ]
    stored = await store_rows(engine)
    back = lake_rows(lake)
    assert [r["id"] for r in back] == [r["id"] for r in stored]
    assert all(same_values(a, b) for a, b in zip(back, stored, strict=True))
    assert {r["date"] for r in back} == {"2024-05-01", "2024-05-02"}
    # Snapshots for joins: every asset and mapping.
    assert pq.read_table(lake / "assets" / "assets.parquet").num_rows == 3
    assert pq.read_table(lake / "asset_mappings" / "asset_mappings.parquet").num_rows == 6

    files = sorted(lake.rglob("*.parquet"))
    again = await export(engine, lake)
    assert (again.tables[0].rows, again.tables[0].files) == (0, 0)  # nothing new
    assert sorted(lake.rglob("*.parquet")) == files
    assert len(lake_rows(lake)) == 12


async def test_rows_added_later_land_in_new_files_never_twice(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await seed_days(engine, days=1)
    lake = tmp_path / "lake"
    await export(engine, lake)
    # A new day, and a late row for the day already exported (a backfill does that).
    await seed_run(
        engine, "coingecko", [rec("c0", at=T0 + DAY), rec("c9", at=T0 + timedelta(hours=1))]
    )
    report = await export(engine, lake)
    assert (report.tables[0].rows, report.tables[0].files) == (2, 2)
    first_day = sorted((lake / "observations" / "date=2024-05-01" / "source=coingecko").iterdir())
    assert len(first_day) == 2  # the first export's file and the late row's
    ids = [r["id"] for r in lake_rows(lake)]
    assert ids == sorted(set(ids)) == [r["id"] for r in await store_rows(engine)]


async def test_exact_decimals_round_trip_through_pyarrow_and_duckdb(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A 1e-10 price and the largest value each column accepts are decimal128 values; what
    no decimal128 holds (1e-30, more digits than the column's scale, 80-digit text) goes
    exactly into ``overflow``. Every value is first checked against the normalizer's bound:
    these are values the store accepts."""
    largest = {
        "price": PRICE_BOUND,
        "market_cap": MARKET_BOUND,
        "volume": MARKET_BOUND,
        "change": -CHANGE_PCT_BOUND,
        "circulating": SUPPLY_BOUND,
        "total": SUPPLY_BOUND,
        "max_supply": SUPPLY_BOUND,
    }
    beyond = {
        "price": Decimal("1e-30"),
        "market_cap": Decimal("123456789.1234567890123456789012"),
        "circulating": Decimal("19675962.123456789012"),  # a real-looking supply, 12 decimals
        "total": Decimal("9" * 29 + "." + "9" * 40),  # 70 digits
    }
    bounds = {
        "price": PRICE_BOUND,
        "market_cap": MARKET_BOUND,
        "volume": MARKET_BOUND,
        "change": CHANGE_PCT_BOUND,
        "circulating": SUPPLY_BOUND,
        "total": SUPPLY_BOUND,
        "max_supply": SUPPLY_BOUND,
    }
    for values in (largest, beyond):
        for key, value in values.items():
            bounded(value, key, bounds[key], signed=key == "change")  # raises if refused
    await seed_run(
        engine,
        "coingecko",
        [
            rec("tiny", price="0.0000000001"),
            rec("largest", **{k: str(v) for k, v in largest.items()}),
            rec("beyond", **{k: str(v) for k, v in beyond.items()}),
        ],
    )
    lake = tmp_path / "lake"
    await export(engine, lake)
    stored = {r["source_asset_id"]: r for r in await store_rows(engine)}
    back = {r["source_asset_id"]: r for r in lake_rows(lake)}
    assert back["tiny"]["price_usd"] == Decimal("1e-10")  # the decimal column itself
    assert decimal_text(back["tiny"]["price_usd"]) == "0.0000000001"
    for column in MARKET_DECIMALS:
        assert back["largest"][column] == stored["largest"][column]  # fits its decimal128
    assert back["largest"]["overflow"] is None
    assert back["beyond"]["price_usd"] is None  # not a decimal128: exact text instead
    for key, column in (
        ("price", "price_usd"),
        ("market_cap", "market_cap_usd"),
        ("circulating", "circulating_supply"),
        ("total", "total_supply"),
    ):
        assert exact(back["beyond"], column) == beyond[key] == stored["beyond"][column]
    for column in MARKET_DECIMALS:
        duck = duck_values(lake, column)
        for sid, row in stored.items():
            assert duck[row["id"]] == row[column], (sid, column)


async def test_a_lake_elsewhere_is_refused_until_restart(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await seed_days(engine, days=1)
    await export(engine, tmp_path / "a")
    with pytest.raises(LakeMismatch, match="was exported to"):
        await export(engine, tmp_path / "b")
    again = await export(engine, tmp_path / "b", restart=True)
    assert again.tables[0].rows == 6
    twice = await export(engine, tmp_path / "b", restart=True)  # the old files go first
    assert twice.tables[0].rows == 6
    assert len(lake_rows(tmp_path / "b")) == 6


def run_export(
    db_url: str, lake: Path, tmp_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KASPARRO_")}
    full.update(KASPARRO_DATABASE_URL=db_url, **env)
    return subprocess.run(
        [sys.executable, "-m", "kasparro", "export", "--to", str(lake)],
        env=full,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("point", ["export-file:observations:2", "export-write:observations:3"])
async def test_a_killed_export_resumes_without_duplicates(
    db_url: str, engine: AsyncEngine, tmp_path: Path, point: str
) -> None:
    await seed_days(engine, days=3)
    lake = tmp_path / "lake"
    killed = await asyncio.to_thread(run_export, db_url, lake, tmp_path, KASPARRO_CRASH_AT=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    async with engine.connect() as conn:
        mark = await repo.watermark(conn, "observations")
    assert mark is not None and mark.exported_to_id == 0 and mark.pending_to_id == 18
    published = list(lake.rglob("*.parquet"))
    assert len(published) == 2  # the files renamed before the kill
    if point.startswith("export-write"):
        assert list(lake.rglob("*.tmp"))  # the file being written when it died
    # Rows arriving meanwhile belong to the next range, not to the interrupted one.
    await seed_run(engine, "csv", [rec("late", source="csv", at=T0)])
    resumed = await asyncio.to_thread(run_export, db_url, lake, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed an interrupted export" in resumed.stdout
    assert not list(lake.rglob("*.tmp"))
    # The interrupted range (ids 1-18, its files rewritten in place) and the csv row (19).
    assert len(list(lake.rglob("part-0000000000000000001-0000000000000000018.parquet"))) == 6
    assert len(list(lake.rglob("part-0000000000000000019-0000000000000000019.parquet"))) == 1
    final = await asyncio.to_thread(run_export, db_url, lake, tmp_path)
    assert final.returncode == 0, final.stderr[-2000:]
    assert "nothing new" in final.stdout
    ids = [r["id"] for r in lake_rows(lake)]
    assert ids == sorted(set(ids)) == [r["id"] for r in await store_rows(engine)]
    async with engine.connect() as conn:
        mark = await repo.watermark(conn, "observations")
        parts = await repo.exported_partitions(conn, "observations")
    assert mark is not None and (mark.exported_to_id, mark.pending_to_id, mark.rows) == (
        19,
        None,
        19,
    )
    assert sum(p.rows for p in parts) == 19


def test_export_names_a_bad_table_in_one_line(tmp_path: Path) -> None:
    from tests.test_cli import run_cli

    assert run_cli(["migrate"], tmp_path).returncode == 0
    proc = run_cli(["export", "--table", "nope"], tmp_path)
    assert proc.returncode == 2
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert lines == [
        "error: unknown table 'nope': choose from observations, assets, asset_mappings"
    ]


def test_the_registry_declares_a_scale_for_every_exact_column() -> None:
    from kasparro.lake.arrow import schema
    from kasparro.lake.tables import TABLES

    for t in TABLES:
        schema(t)  # raises for an exact column without a declared scale
    assert table_named("observations").decimals == MARKET_DECIMALS


async def test_one_export_at_a_time(engine: AsyncEngine, tmp_path: Path) -> None:
    """Two exports would plan overlapping ranges into differently named files: the second
    is refused while the first (here: a live holder on another host) has the lease."""
    from kasparro.lake.lease import LEASE, ExportBusy
    from kasparro.runs import repository as runs_repo

    await seed_days(engine, days=1)
    async with engine.begin() as conn:
        assert await runs_repo.try_acquire_lease(conn, LEASE, "another-host:4242:cafebabe", 60)
    with pytest.raises(ExportBusy, match="another export of this store is running"):
        await export(engine, tmp_path / "lake")
    assert not list((tmp_path / "lake").rglob("*.parquet"))
    async with engine.begin() as conn:
        await runs_repo.release_lease(conn, LEASE, "another-host:4242:cafebabe")
    assert (await export(engine, tmp_path / "lake")).tables[0].rows == 6


def test_without_pyarrow_export_says_what_to_install(tmp_path: Path) -> None:
    """The runtime install has no pyarrow (the `lake` extra): one line, exit 2."""
    code = (
        "import sys; sys.modules['pyarrow'] = None; "  # import pyarrow now raises ImportError
        "from kasparro.cli import main; sys.argv = ['kasparro', 'export']; main()"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASPARRO_")}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert lines == [
        "error: kasparro export needs pyarrow, which is not installed",
        "hint: pip install 'kasparro[lake]' (make install includes it)",
    ]
