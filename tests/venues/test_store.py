"""The venue tables on both dialects: migration 0012 both ways, exact decimals, idempotent
quotes, staleness bookkeeping, market lists as snapshots."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from alembic import command
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.load.venue_links import save_decisions
from kasparro.load.venues import listed_markets, load_markets, load_quotes
from kasparro.store.engine import create_engine
from kasparro.store.migrate import alembic_config, upgrade
from kasparro.store.venue_schema import (
    venue_latest_quotes,
    venue_market_links,
    venue_markets,
    venue_quotes,
)
from kasparro.venues.linking import LINKED, REVIEW, Decision
from kasparro.venues.models import VenueMarket, VenueQuote

T0 = datetime(2022, 2, 23, 11, 31, 45, tzinfo=UTC)
TABLES = {"venue_markets", "venue_quotes", "venue_latest_quotes", "venue_market_links"}


def quote(last: str, at: datetime = T0, market: str = "XXBTZUSD", **kw: object) -> VenueQuote:
    values: dict[str, object] = {
        "venue": "kraken",
        "market_id": market,
        "symbol": "BTC/USD",
        "base": "BTC",
        "quote": "USD",
        "base_id": "XXBT",
        "quote_id": "ZUSD",
        "observed_at": at,
        "venue_time": False,
        "fetched_at": at,
        "last": Decimal(last),
        "bid": None,
        "ask": None,
        "base_volume": Decimal("12.5"),
        "quote_volume": None,
    }
    values.update(kw)
    return VenueQuote(**values)  # type: ignore[arg-type]


def market(market_id: str, base: str) -> VenueMarket:
    unified = {"id": market_id, "symbol": f"{base}/USD", "base": base, "quote": "USD"}
    return VenueMarket("kraken", market_id, f"{base}/USD", base, "USD", base, "ZUSD",
                       True, True, None, unified)  # fmt: skip


async def _tables(url: str) -> set[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


def test_migration_0012_upgrades_and_downgrades(db_url: str) -> None:
    cfg = alembic_config(db_url)
    try:
        command.downgrade(cfg, "0011")
        assert not TABLES & asyncio.run(_tables(db_url))
        command.upgrade(cfg, "0012")
        assert asyncio.run(_tables(db_url)) >= TABLES
    finally:
        upgrade(db_url)


async def test_prices_round_trip_exactly_and_quotes_load_once(engine: AsyncEngine) -> None:
    tiny = quote("0.0000000001", bid=Decimal("1E-10"), ask=Decimal("0.00000000010000001"))
    big = quote("123456789012345.123456789", market="XETHZUSD", symbol="ETH/USD")
    async with engine.begin() as conn:
        first = await load_quotes(conn, [tiny, big], run_id=1)
        again = await load_quotes(conn, [tiny, big], run_id=2)
    assert (first.loaded, first.unchanged, again.loaded, again.unchanged) == (2, 0, 0, 2)
    async with engine.connect() as conn:
        got = {r.market_id: r for r in (await conn.execute(select(venue_quotes))).all()}
    assert got["XXBTZUSD"].last == Decimal("1E-10")
    assert str(got["XXBTZUSD"].ask) == "1.0000001E-10" or got["XXBTZUSD"].ask == Decimal(
        "0.00000000010000001"
    )
    assert got["XETHZUSD"].last == Decimal("123456789012345.123456789")
    assert got["XXBTZUSD"].run_id == 1


async def test_changed_at_stays_while_a_market_does_not_move(engine: AsyncEngine) -> None:
    t1, t2, t3 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), T0 + timedelta(minutes=3)
    async with engine.begin() as conn:
        await load_quotes(conn, [quote("100", T0)], run_id=1)
        await load_quotes(conn, [quote("100", t1)], run_id=2)  # same values, new fetch
        await load_quotes(conn, [quote("101", t2)], run_id=3)  # moved
        await load_quotes(conn, [quote("101", t3)], run_id=4)
        await load_quotes(conn, [quote("99", T0 + timedelta(seconds=30))], run_id=5)  # late
    async with engine.connect() as conn:
        row = (await conn.execute(select(venue_latest_quotes))).one()
    assert (row.observed_at, row.fetched_at, row.changed_at) == (t3, t3, t2)


async def test_a_market_list_is_a_snapshot_that_unlists_what_it_drops(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        first = await load_markets(
            conn, "kraken", [market("XXBTZUSD", "BTC"), market("MATICUSD", "MATIC")], 1, T0,
            last=True,
        )  # fmt: skip
        second = await load_markets(
            conn, "kraken", [market("XXBTZUSD", "BTC"), market("POLUSD", "POL")], 2, T0,
            last=True,
        )  # fmt: skip
        # An empty list (all rejected) never unlists anything.
        await load_markets(conn, "kraken", [], 3, T0, last=True)
        listed = [m["id"] for m in await listed_markets(conn, "kraken")]
        kept = (await conn.execute(select(venue_markets.c.market_id))).scalars().all()
    assert (first.loaded, second.loaded, second.unchanged) == (2, 1, 1)
    assert listed == ["POLUSD", "XXBTZUSD"]
    assert sorted(kept) == ["MATICUSD", "POLUSD", "XXBTZUSD"]  # history keeps its market


async def test_link_decisions_are_sticky(engine: AsyncEngine) -> None:
    def linked(asset_id: int) -> Decision:
        return Decision("kraken", "XXBT", "BTC", LINKED, "symbol+price", asset_id, {"n": 1})

    unpriced = Decision("kraken", "XXBT", "BTC", REVIEW, "symbol", None, {"reason": "no USD price"})
    async with engine.begin() as conn:
        await save_decisions(conn, [linked(7)], T0)
        await save_decisions(conn, [unpriced], T0)  # nothing contradicts: kept
        kept = (await conn.execute(select(venue_market_links))).one()
        await save_decisions(conn, [linked(8)], T0)  # the evidence moved: review, not a move
        moved = (await conn.execute(select(venue_market_links))).one()
    assert (kept.status, kept.asset_id) == (LINKED, 7)
    assert (moved.status, moved.asset_id, moved.method) == (REVIEW, 7, "conflict")
    assert '"now_points_to":8' in moved.evidence
