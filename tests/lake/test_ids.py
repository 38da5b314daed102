"""What asks observations for ids alone (the export's ranges and newest id, retention's
"anything past the watermark?") stays a range read on PostgreSQL, where no B-tree leads
with the id since migration 0019 (the primary key is (observed_at, id))."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.lake import repository as repo
from kasparro.lake.tables import table_named
from kasparro.store.schema import observations
from tests.fixtures.api import T0, rec, seed_run


async def _seed(engine: AsyncEngine) -> None:
    for i in range(3):
        await seed_run(
            engine, "coingecko", [rec(f"c{n}", at=T0 + timedelta(minutes=i)) for n in range(50)]
        )


async def test_the_newest_id_is_found_past_a_gap_in_the_sequence(
    engine: AsyncEngine, dialect: str
) -> None:
    """Ids a rolled-back insert took leave a gap below the sequence's last value: the export's
    high water is still the largest stored id."""
    await _seed(engine)
    t = table_named("observations")
    async with engine.connect() as conn:
        largest = (await conn.execute(select(func.max(observations.c.id)))).scalar_one()
        if dialect == "postgres":
            await conn.execute(
                text("SELECT setval(pg_get_serial_sequence('observations', 'id'), :v)"),
                {"v": largest + 5_000_000},
            )
            await conn.commit()
    assert await repo.high_water(engine, t, wait_s=5) == largest  # type: ignore[arg-type]


async def test_export_ranges_read_the_id_brin_not_every_row(
    engine: AsyncEngine, dialect: str
) -> None:
    if dialect != "postgres":
        return  # SQLite's id is the rowid: a range of it is a range of the table
    await _seed(engine)
    cols = [c.name for c in observations.c if c.name not in ("id", "observed_at")]
    async with engine.begin() as conn:
        # 22,500 rows: enough pages for the planner to prefer a range of the BRIN over a
        # full scan of the primary key (whose second column is the id).
        await conn.execute(
            text(
                f"INSERT INTO observations ({', '.join(cols)}, observed_at) "
                f"SELECT {', '.join(cols)}, observed_at - g * interval '3 min' - interval '17 s' "
                "FROM observations, generate_series(1, 149) AS g"
            )
        )
        await conn.execute(text("ANALYZE observations"))
        high = (await conn.execute(select(func.max(observations.c.id)))).scalar_one()
        homes = (
            await conn.execute(text("SELECT DISTINCT tableoid::regclass::text FROM observations"))
        ).all()
        for query in (
            f"SELECT count(*) FROM observations WHERE id > {high - 100} AND id <= {high}",
            f"SELECT EXISTS (SELECT 1 FROM observations WHERE id > {high - 100})",
        ):
            plan = "\n".join(r[0] for r in await conn.execute(text("EXPLAIN " + query)))
            # Whichever partition holds the rows (the month's, or the default one) reads
            # the BRIN; empty partitions other tests left may show any plan.
            assert re.search(r"Bitmap Index Scan on observations_\w+_id_idx", plan), plan
            for (home,) in homes:
                assert f"Seq Scan on {home} " not in plan, plan
                assert f"Index Scan using {home}_pkey" not in plan, plan
