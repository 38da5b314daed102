"""The contract a retention job relies on: a (source, day) partition counts as exported only
once every row in it is in the lake, and ``require_exported`` refuses anything else, on
both dialects."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.lake.export import export
from kasparro.lake.retention import NotExported, exported_through, require_exported, status
from tests.fixtures.api import T0, rec, seed_run

DAY = timedelta(days=1)
D1, D2, D3 = date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 3)


async def seed(engine: AsyncEngine, day: int, sid: str = "c0") -> None:
    await seed_run(engine, "coingecko", [rec(sid, at=T0 + day * DAY)])


async def test_nothing_is_droppable_before_an_export(engine: AsyncEngine) -> None:
    await seed(engine, 0)
    await seed(engine, 1)
    async with engine.connect() as conn:
        with pytest.raises(NotExported) as refused:
            await require_exported(conn, "coingecko", D3)
        assert [(p.source, p.day, p.rows) for p in refused.value.partitions] == [
            ("coingecko", D1, 1),
            ("coingecko", D2, 1),
        ]
        assert "run `kasparro export` first" in str(refused.value)
        assert await exported_through(conn, "coingecko") is None
        await require_exported(conn, "coingecko", D1)  # nothing before May 1st: fine


async def test_exported_days_may_go_and_a_late_row_takes_its_day_back(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await seed(engine, 0)
    await seed(engine, 1)
    await export(engine, tmp_path / "lake")
    await seed(engine, 2)  # today's rows, not exported yet
    async with engine.connect() as conn:
        await require_exported(conn, "coingecko", D3)  # May 1st and 2nd are in the lake
        with pytest.raises(NotExported):
            await require_exported(conn, "coingecko", D3 + DAY)
        assert await exported_through(conn, "coingecko") == D2
        # Another source's rows never count for this one.
        await require_exported(conn, "coinpaprika", D3 + DAY)

    await seed(engine, 0, sid="late")  # a backfill writes into May 1st after its export
    async with engine.connect() as conn:
        with pytest.raises(NotExported) as refused:
            await require_exported(conn, "coingecko", D2)
        assert [(p.day, p.rows) for p in refused.value.partitions] == [(D1, 1)]
        found = (await status(conn))["coingecko"]
        assert found.exported_through is None  # nothing before May 1st is complete
        assert found.pending_days == [D1, D3]
        assert (found.exported_days, found.exported_rows) == (2, 2)

    await export(engine, tmp_path / "lake")
    async with engine.connect() as conn:
        await require_exported(conn, "coingecko", D3 + DAY)
        found = (await status(conn))["coingecko"]
        assert (found.exported_through, found.pending_days) == (D3, [])
        assert (found.exported_days, found.exported_rows) == (3, 4)
