"""Venue runs end to end: the emulator's four exchanges over real HTTP, through ccxt and the
pipeline, into the store (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.emulator import EmulatorConfig
from kasparro.load.raw import decode_body
from kasparro.load.venues import listed_markets
from kasparro.query.venues import market_links
from kasparro.sources.base import RawResponse
from kasparro.sources.venues.source import renormalize_tickers
from kasparro.store.schema import raw_responses
from kasparro.store.venue_schema import venue_latest_quotes, venue_markets, venue_quotes
from tests.fixtures.etl import VENUE_NAMES, count, make_settings, rows, run_etl, venue_urls
from tests.fixtures.settings import runtime_for

SMALL = EmulatorConfig(coins=600)


def settings_for_venues(db_url: str, emu: Any, **overrides: Any) -> Any:
    return make_settings(db_url, **venue_urls(emu), **overrides)


async def test_first_run_loads_markets_then_tickers_of_every_venue(
    engine: AsyncEngine, db_url: str, emulator_factory: Any
) -> None:
    emu = emulator_factory(SMALL)
    settings = settings_for_venues(db_url, emu)
    names = [n for v in VENUE_NAMES for n in (v, f"{v}_markets")]
    results = await run_etl(engine, settings, *names)
    for name, res in results.items():
        assert res.status == "success", (name, res.error)
        assert res.reconciles and res.rejected == 0
    stats = emu.state.stats()["venues"]
    for venue in VENUE_NAMES:
        tickers, markets = results[venue], results[f"{venue}_markets"]
        stored = await count(engine, "SELECT count(*) FROM venue_quotes WHERE venue=:v", v=venue)
        assert stored == tickers.loaded == tickers.fetched > 50
        assert markets.loaded == tickers.fetched  # one ticker per listed market
        assert (
            await count(
                engine, "SELECT count(*) FROM venue_markets WHERE venue=:v AND listed", v=venue
            )
            == markets.loaded
        )
        # Raw bodies archived: the ticker payload and the market list's bundle.
        assert (
            await count(engine, "SELECT count(*) FROM raw_responses WHERE source=:s", s=venue) == 1
        )
    # One request for all tickers; the market list: Binance and OKX 1, Kraken 2, Coinbase 5.
    assert {v: stats[v]["200"] for v in VENUE_NAMES} == {
        "binance": 2,
        "okx": 2,
        "kraken": 3,
        "coinbase": 6,
    }


async def test_quotes_keep_the_venues_spelling_exact_decimals_and_timestamps(
    engine: AsyncEngine, db_url: str, emulator_factory: Any
) -> None:
    emu = emulator_factory(SMALL)
    settings = settings_for_venues(db_url, emu)
    await run_etl(engine, settings, "kraken_markets", "kraken", "binance_markets", "binance")
    async with engine.connect() as conn:
        btc = (
            await conn.execute(
                select(venue_quotes).where(
                    venue_quotes.c.venue == "kraken", venue_quotes.c.symbol == "BTC/USD"
                )
            )
        ).one()
        binance = (
            await conn.execute(select(venue_quotes).where(venue_quotes.c.market_id == "BTCUSDT"))
        ).one()
    assert (btc.market_id, btc.base, btc.base_id, btc.quote_id) == (
        "XXBTZUSD",
        "BTC",
        "XXBT",
        "ZUSD",
    )
    assert not btc.venue_time and btc.observed_at == btc.fetched_at  # Kraken sends none
    assert binance.venue_time and binance.observed_at < binance.fetched_at  # closeTime
    # The venue's text, exactly (eight decimals on Binance).
    assert isinstance(binance.last, Decimal) and binance.last == binance.last.quantize(
        Decimal("0.00000001")
    )


async def test_a_second_run_is_idempotent_and_a_stale_venue_stops_moving(
    engine: AsyncEngine, db_url: str, emulator_factory: Any
) -> None:
    emu = emulator_factory(SMALL)
    settings = settings_for_venues(db_url, emu)
    await run_etl(engine, settings, "okx_markets", "okx", "coinbase_markets", "coinbase")
    again = await run_etl(engine, settings, "okx", "coinbase")
    okx, coinbase = again["okx"], again["coinbase"]
    assert okx.loaded == 0 and okx.unchanged == okx.fetched  # same ts: the same quotes
    # No timestamp: the same response (byte for byte) loads once (the record contract).
    assert coinbase.loaded == 0 and coinbase.unchanged == coinbase.fetched
    emu.state.tick()
    moved = (await run_etl(engine, settings, "coinbase"))["coinbase"]
    assert moved.loaded == moved.fetched  # a new fetch of moved prices: new quotes

    async def latest() -> list[Any]:
        async with engine.connect() as conn:
            query = select(venue_latest_quotes).where(venue_latest_quotes.c.venue == "coinbase")
            return list((await conn.execute(query)).all())

    assert all(r.changed_at == r.fetched_at for r in await latest())
    # A stale venue: from tick 2 on it serves tick 2's data.
    emu.state.venues.bad_days.replace(["stale:coinbase:from=2"])
    emu.state.tick()
    await run_etl(engine, settings, "coinbase")
    before = {r.market_id: r.changed_at for r in await latest()}
    emu.state.tick()
    frozen = (await run_etl(engine, settings, "coinbase"))["coinbase"]
    assert frozen.loaded == 0 and frozen.unchanged == frozen.fetched
    assert {r.market_id: r.changed_at for r in await latest()} == before


async def test_tickers_without_a_market_list_fail_with_the_reason(
    engine: AsyncEngine, db_url: str, emulator_factory: Any
) -> None:
    emu = emulator_factory(SMALL)
    res = (await run_etl(engine, settings_for_venues(db_url, emu), "okx"))["okx"]
    assert res.status == "failed"
    assert "run `kasparro etl run --source okx_markets` first" in (res.error or "")
    assert emu.state.stats()["venues"]["okx"].get("requests", 0) == 0


@pytest.mark.parametrize("venue", ["binance", "kraken"])
async def test_a_renamed_ticker_unlists_the_old_market_and_quarantines_unknown_ones(
    engine: AsyncEngine, db_url: str, emulator_factory: Any, venue: str
) -> None:
    emu = emulator_factory(SMALL)
    # Markets fetched again at every run (the default keeps a list a day).
    settings = settings_for_venues(db_url, emu, **{f"{venue}_markets_refresh_seconds": 0})
    await run_etl(engine, settings, f"{venue}_markets", venue)
    emu.state.venues.bad_days.replace([f"rename:{venue}:market=ETH,new=ETHX"])
    emu.state.tick()
    stale = (await run_etl(engine, settings, venue))[venue]
    assert stale.status == "partial" and stale.rejected >= 2  # ETHX/*: not in the list yet
    reasons = await rows(engine, "SELECT reason FROM quarantine WHERE source=:s", s=venue)
    assert all("not in the venue's market list" in r[0] for r in reasons)
    await run_etl(engine, settings, f"{venue}_markets")
    fresh = (await run_etl(engine, settings, venue))[venue]
    reasons = await rows(
        engine,
        "SELECT reason FROM quarantine WHERE source=:s AND first_run_id=:r",
        s=venue,
        r=fresh.run_id,
    )
    assert fresh.status == "success" and fresh.rejected == 0, reasons
    async with engine.connect() as conn:
        listed = dict(
            (
                await conn.execute(
                    select(venue_markets.c.symbol, venue_markets.c.listed).where(
                        venue_markets.c.venue == venue, venue_markets.c.base.in_(["ETH", "ETHX"])
                    )
                )
            ).all()
        )
    assert listed["ETH/USDT" if venue == "binance" else "ETH/USD"] is False
    assert listed["ETHX/USDT" if venue == "binance" else "ETHX/USD"] is True


@pytest.mark.parametrize("venue", VENUE_NAMES)
async def test_an_archived_ticker_payload_normalizes_again_to_the_stored_quotes(
    engine: AsyncEngine, db_url: str, emulator_factory: Any, venue: str
) -> None:
    emu = emulator_factory(SMALL)
    settings = settings_for_venues(db_url, emu)
    await run_etl(engine, settings, f"{venue}_markets", venue)
    async with engine.connect() as conn:
        raw_row = (
            await conn.execute(select(raw_responses).where(raw_responses.c.source == venue))
        ).one()
        markets = await listed_markets(conn, venue)
        stored = {
            r.market_id: r
            for r in (
                await conn.execute(select(venue_quotes).where(venue_quotes.c.venue == venue))
            ).all()
        }
    raw = RawResponse(
        raw_row.endpoint,
        orjson.loads(raw_row.params),
        raw_row.http_status,
        raw_row.content_type,
        decode_body(raw_row.body_encoding, raw_row.body),
        raw_row.fetched_at,
    )
    config = runtime_for(settings).catalog.config(venue)
    again = await renormalize_tickers(venue, config, raw, markets)  # type: ignore[arg-type]
    assert len(again) == len(stored)
    for quote in again:
        row = stored[quote.market_id]
        assert (quote.last, quote.bid, quote.ask, quote.base_volume, quote.observed_at) == (
            row.last,
            row.bid,
            row.ask,
            row.base_volume,
            row.observed_at,
        )


async def test_venue_bases_are_linked_to_the_aggregators_assets_after_a_run(
    engine: AsyncEngine, db_url: str, emulator_factory: Any
) -> None:
    emu = emulator_factory(EmulatorConfig(coins=600))
    settings = make_settings(
        db_url,
        coingecko_base_url=emu.coingecko_base_url,
        coinpaprika_base_url=emu.coinpaprika_base_url,
        coingecko_max_coins="all",
        **venue_urls(emu),
    )
    await run_etl(engine, settings, "coingecko", "coinpaprika")
    await run_etl(engine, settings, *(n for v in VENUE_NAMES for n in (f"{v}_markets", v)))
    # A venue linked before the others' quotes were in has no measured USDT rate yet (Binance
    # and OKX list no USD market): its bases wait in review; the next run links them.
    emu.state.tick()
    await run_etl(engine, settings, *VENUE_NAMES)
    truth = emu.state.venues.model.truth()
    async with engine.connect() as conn:
        links = await market_links(conn)
        cg_ids = dict(
            (await conn.execute(text(
                "SELECT asset_id, source_asset_id FROM asset_mappings WHERE source='coingecko'"
            ))).all()
        )  # fmt: skip
    linked = [link for link in links if link["status"] == "linked"]
    assert len(linked) > 0.8 * len(links) > 200
    wrong = [
        link
        for link in linked
        if cg_ids.get(link["asset_id"]) != truth[link["venue"]].get(link["base"])
        and truth[link["venue"]].get(link["base"]) is not None
    ]
    assert not wrong, wrong[:3]
    kraken_btc = next(x for x in links if x["venue"] == "kraken" and x["base_id"] == "XXBT")
    assert cg_ids[kraken_btc["asset_id"]] == "bitcoin"
    assert kraken_btc["evidence"]["candidates"]
