"""Set-based inserts (load.bulk.insert_rows) on both databases: exact values stored as the
typed columns read them back, conflicts skipped; and on SQLite, columns the rows leave out
get their Python-side defaults (the driver-level executemany falls back to SQLAlchemy's).
PostgreSQL's recordset insert takes every column from the rows (no caller leaves one out)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.load.bulk import insert_rows
from kasparro.store.engine import create_engine
from kasparro.store.rate_schema import rate_inputs
from kasparro.store.schema import runs

BUCKET = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)


def _input(asset_id: int, price: Decimal) -> dict[str, object]:
    return {
        "asset_id": asset_id,
        "interval": "1m",
        "method_version": "1",
        "bucket_start": BUCKET,
        "partition": 0,
        "source": "coingecko",
        "market": f"coin-{asset_id}",
        "kind": "aggregator",
        "quote": "USD",
        "price": price,
        "quote_usd": Decimal(1),
        "conversion": "definition",
        "price_usd": price,
        "bid_usd": None,
        "ask_usd": None,
        "volume_usd": Decimal("123456789012.123456789"),
        "observed_at": datetime(2026, 12, 7, 19, 59, 1, 123456, tzinfo=UTC),
        "weight": Decimal("0.00000001"),
        "included": True,
        "reason": None,
        "deviation": Decimal("-0.0001"),
    }


async def test_rows_round_trip_exactly_and_conflicts_are_skipped(engine: AsyncEngine) -> None:
    key = [c.name for c in rate_inputs.primary_key]
    rows = [_input(1, Decimal("1E-10")), _input(2, Decimal("67000.123456789012345678"))]
    async with engine.begin() as conn:
        await insert_rows(conn, rate_inputs, rows, conflict=key)
        # The same keys again, other values: skipped, the first values stay.
        await insert_rows(conn, rate_inputs, [_input(1, Decimal(5))], conflict=key)
    async with engine.connect() as conn:
        got = (await conn.execute(select(rate_inputs).order_by(rate_inputs.c.asset_id))).all()
    assert [r.price for r in got] == [Decimal("1E-10"), Decimal("67000.123456789012345678")]
    first = got[0]._mapping
    for name, value in rows[0].items():
        assert first[name] == value, name


async def test_columns_left_out_get_their_defaults_on_sqlite(
    tmp_path: Path, sqlite_template: Path
) -> None:
    shutil.copy(sqlite_template, tmp_path / "k.db")
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")
    row = {"source": "csv", "trigger": "cli", "status": "success", "started_at": BUCKET}
    try:
        async with engine.begin() as conn:
            await insert_rows(conn, runs, [row, {**row, "trigger": "api"}], conflict=["id"])
        async with engine.connect() as conn:
            got = (await conn.execute(select(runs).order_by(runs.c.id))).all()
    finally:
        await engine.dispose()
    assert [(r.trigger, r.start_page, r.pages, r.fetched) for r in got] == [
        ("cli", 1, 0, 0),
        ("api", 1, 0, 0),
    ]
