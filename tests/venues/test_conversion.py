"""Quote currencies converted with measured rates: pure cases, and the emulator's depeg
measured through the whole chain (venues over HTTP, ccxt, the store, query.venues)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.emulator import EmulatorConfig
from kasparro.query.venues import latest_quotes, usd_quotes, venue_freshness
from kasparro.venues.conversion import measure_rates, to_usd, weighted_median
from tests.fixtures.etl import VENUE_NAMES, make_settings, run_etl, venue_urls


@dataclass(frozen=True)
class Q:
    venue: str
    market_id: str
    base: str
    quote: str
    last: Decimal
    base_volume: Decimal | None = Decimal(10)


def test_usdt_is_measured_from_markets_quoting_both_never_taken_as_one() -> None:
    quotes = [
        Q("kraken", "XXBTZUSD", "BTC", "USD", Decimal("40000")),
        Q("kraken", "XBTUSDT", "BTC", "USDT", Decimal("40400")),  # USDT at 0.990099
        Q("kraken", "USDTZUSD", "USDT", "USD", Decimal("0.9901")),
        Q("binance", "BTCUSDT", "BTC", "USDT", Decimal("40420")),  # no USD on Binance
        Q("binance", "ETHUSDT", "ETH", "USDT", Decimal("3030")),
        Q("binance", "ETHUSDC", "ETH", "USDC", Decimal("3000")),  # USDC via USDT
    ]
    rates = measure_rates(quotes)
    usdt = rates["USDT"]
    assert usdt.method == "measured" and usdt.usd != 1
    assert abs(usdt.usd - Decimal("0.9901")) < Decimal("0.0001")
    assert {e.method for e in usdt.estimates} == {"direct", "cross"}
    usdc = rates["USDC"]
    assert usdc.estimates[0].method == "cross-via:USDT"
    assert abs(usdc.usd - Decimal(3030) * usdt.usd / 3000) < Decimal("1e-20")
    converted = to_usd(Decimal("40420"), "USDT", rates)
    assert converted.rate is usdt and converted.price_usd == Decimal("40420") * usdt.usd
    assert to_usd(Decimal(1), "TRY", rates).price_usd is None  # no measured rate, no guess
    assert rates["USD"].method == "definition" and rates["USD"].usd == 1


def test_alias_books_measure_nothing() -> None:
    quotes = [
        Q("coinbase", "BTC-USD", "BTC", "USD", Decimal("40000")),
        Q("coinbase", "BTC-USDC", "BTC", "USDC", Decimal("40000")),  # the same book
    ]
    assert "USDC" in measure_rates(quotes)
    assert "USDC" not in measure_rates(quotes, excluded=frozenset({("coinbase", "BTC-USDC")}))


def test_weighted_median() -> None:
    values = [(Decimal(1), Decimal(1)), (Decimal(2), Decimal(5)), (Decimal(9), Decimal(1))]
    assert weighted_median(values) == 2
    assert weighted_median([(Decimal(3), Decimal(0)), (Decimal(1), Decimal(0))]) == 1


async def _rates(engine: AsyncEngine, settings: Any) -> dict[str, Any]:
    await run_etl(engine, settings, *VENUE_NAMES)
    async with engine.connect() as conn:
        _, rates = await usd_quotes(conn)
    return rates


async def test_the_measured_usdt_rate_follows_the_emulators_depeg(
    engine: AsyncEngine, db_url: str, emulator_factory: Any
) -> None:
    emu = emulator_factory(
        EmulatorConfig(coins=600, venue_bad_days=["depeg:USDT:pct=3,from=2,to=4"])
    )
    settings = make_settings(db_url, **venue_urls(emu))
    await run_etl(engine, settings, *(f"{v}_markets" for v in VENUE_NAMES))
    before = await _rates(engine, settings)
    emu.state.tick(2)
    during = await _rates(engine, settings)
    emu.state.tick(2)
    after = await _rates(engine, settings)
    assert abs(before["USDT"].usd - 1) < Decimal("0.001")
    assert abs(during["USDT"].usd - Decimal("0.97")) < Decimal("0.001")
    assert abs(after["USDT"].usd - 1) < Decimal("0.001")
    # USDC and EUR are measured too, and stay put.
    assert abs(during["USDC"].usd - 1) < Decimal("0.001")
    assert abs(during["EUR"].usd - Decimal("1.085")) < Decimal("0.02")
    # Every estimate is kept: several venues measured it.
    assert len({e.venue for e in during["USDT"].estimates}) >= 2
    async with engine.connect() as conn:
        pairs, _ = await usd_quotes(conn)
        fresh = await venue_freshness(conn, as_of=max(q.fetched_at for q, _ in pairs))
        latest = await latest_quotes(conn)
    btc = {q.market_id: c for q, c in pairs if q.venue == "binance" and q.base == "BTC"}
    usd, via_usdt = btc["BTCUSDC"].price_usd, btc["BTCUSDT"].price_usd
    assert usd is not None and via_usdt is not None
    assert abs(via_usdt / usd - 1) < Decimal("0.002")  # converted, the depeg cancels out
    assert {f.venue for f in fresh} == set(VENUE_NAMES)
    assert len(latest) == sum(f.markets for f in fresh)
