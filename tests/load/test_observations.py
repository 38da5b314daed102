"""The bulk observation load keeps every digit and moves the latest pointer forward only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.models import MarketRecord
from kasparro.store.schema import latest_observations, listings, observations
from tests.fixtures.api import seed_run
from tests.fixtures.etl import count

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
EXACT = [
    Decimal("1E-10"),
    Decimal("0.0000000001"),
    Decimal("12345678901234567890.123456789"),
    Decimal("1E+20"),
    Decimal("2.50"),
    Decimal("0"),
]


def _rec(
    sid: str, at: datetime, price: Decimal | None, supply: Decimal | None = None
) -> MarketRecord:
    return MarketRecord(
        source="coingecko",
        source_asset_id=sid,
        symbol=sid[:3],
        name=sid,
        observed_at=at,
        price_usd=price,
        circulating_supply=supply,
    )


async def test_decimals_round_trip_exactly_through_the_bulk_path(engine: AsyncEngine) -> None:
    records = [_rec(f"coin-{i}", T0, price, EXACT[-1 - i]) for i, price in enumerate(EXACT)]
    records.append(_rec("no-price", T0, None))
    seeded = await seed_run(engine, "coingecko", records)
    assert seeded.loaded == len(records)
    o = observations.c
    async with engine.connect() as conn:
        result = await conn.execute(
            select(listings.c.source_asset_id, o.price_usd, o.circulating_supply).join(
                listings, listings.c.id == o.listing_id
            )
        )
        got = {sid: (price, supply) for sid, price, supply in result}
    for rec in records:
        price, supply = got[rec.source_asset_id]
        assert (price, supply) == (rec.price_usd, rec.circulating_supply)
        # Decimal equality is exact: a float on the way would have broken 1E-10 or the
        # 29-digit value.
        assert price is None or type(price) is Decimal


async def test_latest_moves_forward_and_an_older_late_row_leaves_it(engine: AsyncEngine) -> None:
    await seed_run(engine, "coingecko", [_rec("btc", T0, Decimal("1"))])
    await seed_run(engine, "coingecko", [_rec("btc", T0 + timedelta(minutes=5), Decimal("2"))])
    late = await seed_run(
        engine, "coingecko", [_rec("btc", T0 - timedelta(minutes=5), Decimal("3"))]
    )
    assert late.loaded == 1  # stored as history...
    again = await seed_run(engine, "coingecko", [_rec("btc", T0, Decimal("1"))])
    assert again.loaded == 0  # ...and a repeat is unchanged
    lo, o = latest_observations.c, observations.c
    async with engine.connect() as conn:
        (price,) = (
            await conn.execute(
                select(o.price_usd).join(latest_observations, lo.observation_id == o.id)
            )
        ).one()
    assert price == Decimal("2")  # still the newest, not the late arrival


async def test_a_key_repeated_in_one_load_is_stored_once_and_counted_unchanged(
    engine: AsyncEngine,
) -> None:
    # Two pages committed together can both carry a coin (it moved between them while the
    # upstream paginated): the first copy is stored, the repeat counts as unchanged, as it
    # would had the pages been committed one after the other.
    newer = T0 + timedelta(minutes=5)
    records = [
        _rec("btc", T0, Decimal("1")),
        _rec("eth", T0, Decimal("5")),
        _rec("btc", newer, Decimal("2")),
        _rec("btc", T0, Decimal("1")),
    ]
    seeded = await seed_run(engine, "coingecko", records)
    assert seeded.loaded == 3
    assert await count(engine, "SELECT unchanged FROM runs WHERE id = :r", r=seeded.run_id) == 1
    lo, o = latest_observations.c, observations.c
    async with engine.connect() as conn:
        li = listings.c
        stored = (
            await conn.execute(
                select(li.source_asset_id, o.observed_at).join(listings, li.id == o.listing_id)
            )
        ).all()
        latest = dict(
            (
                await conn.execute(
                    select(li.source_asset_id, o.price_usd)
                    .join(latest_observations, lo.observation_id == o.id)
                    .join(listings, li.id == o.listing_id)
                )
            ).all()
        )
    assert sorted(stored) == [("btc", T0), ("btc", newer), ("eth", T0)]
    assert latest == {"btc": Decimal("2"), "eth": Decimal("5")}
