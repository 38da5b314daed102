"""The emulated exchanges: each route in the venue's recorded shape (seed/venues), one
market with the aggregators, and the bad days switched on deterministically."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from kasparro.emulator import EmulatorConfig, EmulatorServer
from kasparro.normalize.drift import json_type

SEED = Path(__file__).parents[2] / "src/kasparro/emulator/seed/venues"


def _get(emu: EmulatorServer, venue: str, path: str) -> Any:
    r = httpx.get(f"{emu.base_url}/{venue}{path}", timeout=30)
    assert r.status_code == 200, r.text[:200]
    return r.json()


@pytest.fixture(scope="module")
def venues() -> Any:
    with EmulatorServer(EmulatorConfig(coins=600)) as emu:
        yield emu


ROUTES = [
    ("binance", "/api/v3/ticker/24hr", lambda b: b, "binance_ticker_24hr.json"),
    (
        "binance",
        "/api/v3/exchangeInfo",
        lambda b: b["symbols"],
        "binance_exchange_info_symbol.json",
    ),
    ("kraken", "/0/public/Ticker", lambda b: list(b["result"].values()), "kraken_ticker_pair.json"),
    (
        "kraken",
        "/0/public/AssetPairs",
        lambda b: list(b["result"].values()),
        "kraken_asset_pair.json",
    ),
    ("okx", "/api/v5/market/tickers?instType=SPOT", lambda b: b["data"], "okx_ticker.json"),
    ("okx", "/api/v5/public/instruments?instType=SPOT", lambda b: b["data"], "okx_instrument.json"),
    (
        "coinbase",
        "/api/v3/brokerage/market/products",
        lambda b: b["products"],
        "coinbase_product.json",
    ),
    ("coinbase", "/v2/currencies/crypto", lambda b: b["data"], "coinbase_crypto_currency.json"),
]


@pytest.mark.parametrize(("venue", "path", "records", "seed"), ROUTES, ids=[r[3] for r in ROUTES])
def test_every_route_serves_the_recorded_fields_and_types(
    venues: EmulatorServer, venue: str, path: str, records: Any, seed: str
) -> None:
    recorded = json.loads((SEED / seed).read_text())
    served = records(_get(venues, venue, path))
    assert len(served) > 20
    for record in served:
        assert set(recorded) <= set(record), set(recorded) - set(record)
        for key, value in recorded.items():
            # Kraken's `margin_rate` and OKX's empty strings: same JSON type.
            assert json_type(record[key]) == json_type(value), (key, record[key], value)


def test_kraken_spells_bitcoin_xbt_and_dogecoin_xdg(venues: EmulatorServer) -> None:
    pairs = _get(venues, "kraken", "/0/public/AssetPairs")["result"]
    assert pairs["XXBTZUSD"]["wsname"] == "XBT/USD" and pairs["XXBTZUSD"]["base"] == "XXBT"
    assets = _get(venues, "kraken", "/0/public/Assets")["result"]
    assert assets["XXBT"]["altname"] == "XBT"


def test_venues_quote_the_aggregators_market(venues: EmulatorServer) -> None:
    cg = httpx.get(f"{venues.coingecko_base_url}/coins/markets?vs_currency=usd&ids=bitcoin").json()
    btc = Decimal(str(cg[0]["current_price"]))
    kraken = Decimal(_get(venues, "kraken", "/0/public/Ticker")["result"]["XXBTZUSD"]["c"][0])
    coinbase = {
        p["product_id"]: p
        for p in _get(venues, "coinbase", "/api/v3/brokerage/market/products")["products"]
    }
    for price in (kraken, Decimal(coinbase["BTC-USD"]["price"])):
        assert abs(price / btc - 1) < Decimal("0.005")
    # Coinbase's USDC book is its USD book.
    assert coinbase["BTC-USDC"]["price"] == coinbase["BTC-USD"]["price"]
    assert coinbase["BTC-USD"]["alias_to"] == ["BTC-USDC"]


def _binance(emu: EmulatorServer) -> dict[str, dict[str, Any]]:
    return {t["symbol"]: t for t in _get(emu, "binance", "/api/v3/ticker/24hr")}


def test_bad_days(emulator_factory: Any) -> None:
    emu = emulator_factory(EmulatorConfig(coins=600))
    days = emu.state.venues.bad_days
    normal = _binance(emu)
    days.replace(["outlier:binance:pct=10"])
    off = _binance(emu)
    ratio = Decimal(off["ETHUSDT"]["lastPrice"]) / Decimal(normal["ETHUSDT"]["lastPrice"])
    assert abs(ratio - Decimal("1.1")) < Decimal("0.001")
    days.replace(["halt:binance:market=ETH/USDT,from=0", "thin:binance:market=BTC/USDT"])
    emu.state.tick()
    halted = _binance(emu)
    assert halted["ETHUSDT"]["lastPrice"] == normal["ETHUSDT"]["lastPrice"]
    assert halted["ETHUSDT"]["volume"] == "0.00000000" and halted["ETHUSDT"]["count"] == 0
    info = {s["symbol"]: s for s in _get(emu, "binance", "/api/v3/exchangeInfo")["symbols"]}
    assert info["ETHUSDT"]["status"] == "HALT" and info["ETHUSDC"]["status"] == "TRADING"
    thin = Decimal(halted["BTCUSDT"]["volume"]) / Decimal(normal["BTCUSDT"]["volume"])
    assert thin < Decimal("0.001")
    days.replace(["stale:binance:from=1"])
    emu.state.tick()
    stale = _binance(emu)
    assert stale["BTCUSDT"]["closeTime"] == halted["BTCUSDT"]["closeTime"]
    days.replace(["rename:binance:market=ETH,new=ETHX"])
    renamed = _binance(emu)
    assert "ETHXUSDT" in renamed and "ETHUSDT" not in renamed


def test_a_depeg_moves_every_venues_usdt_markets(emulator_factory: Any) -> None:
    emu = emulator_factory(EmulatorConfig(coins=600))
    before = _get(emu, "kraken", "/0/public/Ticker")["result"]["USDTZUSD"]["c"][0]
    emu.state.venues.bad_days.replace(["depeg:USDT:pct=4"])
    during = _get(emu, "kraken", "/0/public/Ticker")["result"]["USDTZUSD"]["c"][0]
    assert abs(Decimal(before) - 1) < Decimal("0.001")
    assert abs(Decimal(during) - Decimal("0.96")) < Decimal("0.001")


def test_bad_day_specs_are_checked() -> None:
    with pytest.raises(ValueError, match="needs pct"):
        EmulatorConfig(venue_bad_days=["outlier:binance"])
    with pytest.raises(ValueError, match="kind"):
        EmulatorConfig(venue_bad_days=["flood:binance"])
