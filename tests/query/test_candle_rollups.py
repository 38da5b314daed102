"""Candles read from the rollups equal the candles computed from raw rows, whatever order the
observations arrived in, in how many batches, with late rows and re-deliveries (both DBs)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.load.observations import insert_observations, observation_row
from kasparro.models import MarketRecord
from kasparro.query.candles import candles
from kasparro.query.fastread import open_reader
from kasparro.runs import repository as repo
from kasparro.store.engine import create_engine
from kasparro.store.migrate import alembic_config
from kasparro.store.rollup_schema import observation_rollups
from kasparro.store.schema import asset_mappings, assets

T0 = datetime(2026, 3, 1, tzinfo=UTC)
# Two sources, two ids of one source on the same asset (ties on observed_at across them).
SIDS = [("coingecko", "a"), ("coingecko", "b"), ("coinpaprika", "a-x")]
_asset_counter = itertools.count()

prices = st.one_of(
    st.none(),
    st.decimals(min_value=Decimal("1E-10"), max_value=Decimal("1E+6"), places=10, allow_nan=False),
)
observation = st.tuples(
    st.integers(0, len(SIDS) - 1),
    st.integers(0, 3 * 24 * 60 // 5),  # a 5-minute slot in three days
    prices,
    st.one_of(st.none(), st.decimals(min_value=0, max_value=10**12, places=2)),
)


def _records(data: list[tuple[int, int, Decimal | None, Decimal | None]]) -> list[MarketRecord]:
    return [
        MarketRecord(
            source=SIDS[s][0],
            source_asset_id=SIDS[s][1],
            symbol="abc",
            name="Abc",
            observed_at=T0 + timedelta(minutes=5 * slot),
            price_usd=price,
            market_cap_usd=cap,
            volume_24h_usd=cap,
        )
        for s, slot, price, cap in data
    ]


async def _new_asset(engine: AsyncEngine) -> int:
    n = next(_asset_counter)
    async with engine.begin() as conn:
        result = await conn.execute(
            assets.insert().returning(assets.c.id),
            {"identity_key": f"abc:t{n}", "symbol": "abc", "name": "Abc", "created_at": T0},
        )
        asset_id = int(result.scalar_one())
        # Mapped as the loader maps them (readers find an asset's rows by its mappings).
        await conn.execute(
            asset_mappings.insert(),
            [
                {
                    "source": source,
                    "source_asset_id": f"{asset_id}-{sid}",
                    "asset_id": asset_id,
                    "method": "manual",
                    "decided_at": T0,
                }
                for source, sid in SIDS
            ],
        )
        return asset_id


async def _load(engine: AsyncEngine, asset_id: int, batches: list[list[MarketRecord]]) -> None:
    for batch in batches:
        async with engine.begin() as conn:
            run_id = await repo.create_run(
                conn,
                source=batch[0].source,
                trigger="cli",
                owner="test:0:rollups",
                resumed_from=None,
                start_page=1,
            )
            now = repo.utcnow()
            # A unique asset per example: its source ids are prefixed with the asset id.
            rows = []
            for rec in batch:
                row = observation_row(rec, asset_id, run_id, now)
                row["source_asset_id"] = f"{asset_id}-{rec.source_asset_id}"
                rows.append(row)
            await insert_observations(conn, rows, advance_latest=bool(asset_id % 2))


async def _all_pages(url: str, asset_id: int, rollups: bool, **kw: Any) -> list[Any]:
    reader = open_reader(url.replace("+aiosqlite", "").replace("+asyncpg", ""))
    try:
        out: list[Any] = []
        start = None
        while True:
            page = await candles(reader, asset_id, start=start, rollups=rollups, **kw)
            out.append(page.candles)
            if page.next_start is None:
                return out
            start = page.next_start
    finally:
        await reader.close()


async def _compare(url: str, asset_id: int, limit: int, since: datetime | None) -> None:
    for interval, descending, sources in itertools.product(
        ("1h", "1d"), (False, True), ((), ("coinpaprika",))
    ):
        kw = {
            "interval": interval,
            "sources": sources,
            "since": since,
            "until": None,
            "descending": descending,
            "limit": limit,
        }
        raw = await _all_pages(url, asset_id, False, **kw)
        rolled = await _all_pages(url, asset_id, True, **kw)
        assert rolled == raw, (interval, descending, sources)


@settings(
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.lists(observation, min_size=1, max_size=40),
    order=st.randoms(use_true_random=False),
    cuts=st.integers(1, 5),
    limit=st.integers(1, 30),
    since_hours=st.one_of(st.none(), st.integers(0, 72)),
)
def test_rollup_candles_equal_raw_candles_in_any_arrival_order(
    db_url: str, data: Any, order: Any, cuts: int, limit: int, since_hours: int | None
) -> None:
    records = _records(data)
    order.shuffle(records)
    size = max(1, len(records) // cuts)
    batches = [records[i : i + size] for i in range(0, len(records), size)]
    since = T0 + timedelta(hours=since_hours) if since_hours is not None else None

    async def run() -> None:
        engine = create_engine(db_url, pool_size=1)
        try:
            asset_id = await _new_asset(engine)
            await _load(engine, asset_id, batches)
            await _load(engine, asset_id, batches[:1])  # a re-delivery changes nothing
        finally:
            await engine.dispose()
        await _compare(db_url, asset_id, limit, since)

    asyncio.run(run())


def test_rollups_are_used_and_survive_retired_raw_rows(db_url: str) -> None:
    """The rollup path really reads rollups: with the raw rows gone (retention), the daily
    candles still answer (the raw path has nothing), and the counts are what was loaded."""
    from kasparro.store.schema import observations

    async def run() -> None:
        engine = create_engine(db_url, pool_size=1)
        try:
            asset_id = await _new_asset(engine)
            recs = _records([(0, slot, Decimal(slot + 1), None) for slot in range(0, 600, 7)])
            await _load(engine, asset_id, [recs])
            async with engine.begin() as conn:
                await conn.execute(observations.delete())
        finally:
            await engine.dispose()
        kw = {
            "interval": "1d",
            "sources": (),
            "since": None,
            "until": None,
            "descending": False,
            "limit": 10,
        }
        assert await _all_pages(db_url, asset_id, False, **kw) == [[]]
        (page,) = await _all_pages(db_url, asset_id, True, **kw)
        assert [c["observations"] for c in page] == [42, 41, 3]
        assert page[0]["open"] == "1" and page[-1]["close"] == "596"

    asyncio.run(run())


def test_the_migration_backfills_what_the_loader_maintains(db_url: str) -> None:
    """Downgrading below the rollups and upgrading again rebuilds them from the stored
    observations: the same rows the incremental path wrote."""

    async def load() -> list[Any]:
        engine = create_engine(db_url, pool_size=1)
        try:
            asset_id = await _new_asset(engine)
            data = [(i % 3, (i * 37) % 800, Decimal(i % 17) / 7, Decimal(i)) for i in range(300)]
            await _load(engine, asset_id, [_records(data)[::-1]])
            return await _rollups(engine)
        finally:
            await engine.dispose()

    async def _rollups(engine: AsyncEngine) -> list[Any]:
        r = observation_rollups
        async with engine.connect() as conn:
            rows = await conn.execute(select(r).order_by(*r.primary_key.columns))
            return [tuple(row) for row in rows]

    async def reread() -> list[Any]:
        engine = create_engine(db_url, pool_size=1)
        try:
            return await _rollups(engine)
        finally:
            await engine.dispose()

    maintained = asyncio.run(load())
    assert maintained
    config = alembic_config(db_url)
    command.downgrade(config, "0015")
    command.upgrade(config, "head")
    assert asyncio.run(reread()) == maintained
