"""Identity resolution under two sources loading the same new coins at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.load.assets import resolve_assets
from kasparro.load.bulk import insert_rows
from kasparro.models import MarketRecord
from kasparro.store.schema import assets

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _coins(source: str, n: int) -> list[MarketRecord]:
    return [
        MarketRecord(
            source=source,
            source_asset_id=f"{source}-{i}",
            symbol=f"c{i}",
            name=f"Coin {i}",
            observed_at=T0,
            price_usd=Decimal(1),
            market_cap_rank=i + 1,
        )
        for i in range(n)
    ]


async def test_two_sources_creating_the_same_assets_in_opposite_orders_both_finish(
    engine: AsyncEngine,
) -> None:
    # Same symbol+name keys, ranked in opposite orders: unsorted inserts deadlocked on
    # PostgreSQL (each transaction waiting for a key the other had inserted).
    n = 3000
    gecko = _coins("coingecko", n)
    paprika = list(reversed(_coins("coinpaprika", n)))

    async def load(records: list[MarketRecord], run_id: int) -> dict[str, int]:
        async with engine.begin() as conn:
            return await resolve_assets(conn, records[0].source, records, run_id)

    a, b = await asyncio.wait_for(asyncio.gather(load(gecko, 1), load(paprika, 2)), 60)
    assert len(a) == len(b) == n
    # Coin i of both sources is one canonical asset.
    assert all(a[f"coingecko-{i}"] == b[f"coinpaprika-{i}"] for i in range(n))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM assets"))).scalar_one() == n


async def test_a_bulk_insert_first_in_a_transaction_rolls_back_with_it(
    engine: AsyncEngine,
) -> None:
    row = {"identity_key": "x:x", "symbol": "x", "name": "x", "created_at": T0}
    async with engine.connect() as conn:
        trans = await conn.begin()
        await insert_rows(conn, assets, [row], conflict=("identity_key",))  # first statement
        await trans.rollback()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM assets"))).scalar_one() == 0


def _twin(sid: str, rank: int) -> MarketRecord:
    # Two coins of one source sharing symbol and name: one identity key for both.
    return MarketRecord(
        source="coingecko",
        source_asset_id=sid,
        symbol="TWIN",
        name="Twin Coin",
        observed_at=T0,
        price_usd=Decimal(1),
        market_cap_rank=rank,
    )


async def _methods(
    engine: AsyncEngine, records: list[MarketRecord], **kw: object
) -> dict[str, str]:
    async with engine.begin() as conn:
        await resolve_assets(conn, "coingecko", records, 1, **kw)  # type: ignore[arg-type]
        rows = await conn.execute(text("SELECT source_asset_id, method FROM asset_mappings"))
        return dict(rows.all())


async def test_a_shared_key_goes_to_the_better_ranked_coin_of_one_page(
    engine: AsyncEngine,
) -> None:
    methods = await _methods(engine, [_twin("later-but-better", 5), _twin("worse", 90)])
    assert methods == {"later-but-better": "new", "worse": "ambiguous"}


async def test_a_shared_key_on_two_pages_loaded_together_goes_to_the_earlier_page(
    engine: AsyncEngine,
) -> None:
    # Loaded page by page, page 9's coin takes the key before page 10 is seen. Loaded in one
    # transaction (pages ready together are committed together) the decision must not
    # change, although page 10's coin ranks better: mappings are sticky.
    records = [_twin("page-9", 90), _twin("page-10", 5)]
    methods = await _methods(engine, records, pages=[9, 10])
    assert methods == {"page-9": "new", "page-10": "ambiguous"}
