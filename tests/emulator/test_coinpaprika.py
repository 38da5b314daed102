"""The emulated CoinPaprika v1: tickers, single ticker, global, errors."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from kasparro.emulator import EmulatorConfig, build_universe
from kasparro.emulator.seed import CP_BTC_TICKER, seed_json
from tests.emulator.util import (
    CP_GLOBAL_KEYS,
    CP_QUOTE_KEYS,
    CP_TICKER_KEYS,
    asgi_client,
    decimal_json,
)

SECONDS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


async def test_all_tickers_in_one_array_with_the_recorded_shape() -> None:
    universe = build_universe(2500, 1)
    async with asgi_client() as (client, _):
        response = await client.get("/v1/tickers", params={"quotes": "USD"})
    tickers = decimal_json(response.content)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert len(tickers) == len(universe.coinpaprika)
    assert [t["rank"] for t in tickers] == list(range(1, len(tickers) + 1))
    for ticker in tickers:
        assert list(ticker) == CP_TICKER_KEYS
        assert list(ticker["quotes"]) == ["USD"]
        assert list(ticker["quotes"]["USD"]) == CP_QUOTE_KEYS
        assert SECONDS_Z.match(ticker["last_updated"])
        assert ticker["symbol"] == ticker["symbol"].upper()
    # max_supply 0 means uncapped on CoinPaprika (null on CoinGecko).
    assert any(t["max_supply"] == 0 for t in tickers)
    assert any(t["beta_value"] < 0 for t in tickers)


async def test_btc_keeps_the_recorded_ticker_fields_and_quotes_coingeckos_market() -> None:
    recorded = seed_json(CP_BTC_TICKER)
    async with asgi_client() as (client, _):
        response = await client.get("/v1/tickers/btc-bitcoin/", params={"quotes": "USD"})
        gecko = (
            await client.get(
                "/api/v3/coins/markets", params={"vs_currency": "usd", "ids": "bitcoin"}
            )
        ).json()[0]
    served = decimal_json(response.content)
    assert response.status_code == 200
    assert list(served) == list(recorded)
    assert list(served["quotes"]["USD"]) == list(recorded["quotes"]["USD"])
    # CoinPaprika's own fields come from the recording ...
    for key in ("circulating_supply", "total_supply", "max_supply", "first_data_at"):
        assert served[key] == recorded[key], key
    assert served["beta_value"] == Decimal("0.887912")
    assert served["quotes"]["USD"]["ath_date"] == recorded["quotes"]["USD"]["ath_date"]
    assert served["circulating_supply"] > served["total_supply"]  # the recorded quirk
    # ... its prices are the one market's (the recording is two months younger than
    # CoinGecko's page, BTC 41,390 against 38,938): a few basis points apart, not 6 %.
    price = served["quotes"]["USD"]["price"]
    assert abs(price / Decimal(gecko["current_price"]) - 1) < Decimal("0.005")
    assert re.search(r'"price":\d+\.\d{6,}', response.text)  # float64 digits, as recorded
    # Refreshed every 5 minutes: its last refresh is within 5 minutes before tick 0.
    assert "2022-02-23T11:26:46Z" <= served["last_updated"] <= "2022-02-23T11:31:45Z"


async def test_tickers_cap_mimics_the_free_plan() -> None:
    async with asgi_client(EmulatorConfig(cp_tickers_cap=100)) as (client, _):
        capped = (await client.get("/v1/tickers")).json()
        beyond = await client.get(f"/v1/tickers/{build_universe(2500, 1).coinpaprika[150].cp_id}")
    assert [t["rank"] for t in capped] == list(range(1, 101))
    assert beyond.status_code == 200


async def test_free_plan_can_omit_circulating_supply() -> None:
    async with asgi_client(EmulatorConfig(cp_omit_circulating_supply=True)) as (client, _):
        tickers = (await client.get("/v1/tickers")).json()
    assert all("circulating_supply" not in t for t in tickers)


async def test_several_quotes_use_upper_case_keys() -> None:
    async with asgi_client() as (client, _):
        ticker = (await client.get("/v1/tickers/eth-ethereum", params={"quotes": "usd,btc"})).json()
    assert list(ticker["quotes"]) == ["USD", "BTC"]


@pytest.mark.parametrize(
    ("quotes", "body"),
    [
        ("USD,BTC,ETH,EUR", b'{"error":"Max number of quotes is 3"}'),
        ("XYZ", b'{"error":"Invalid parameters"}'),
    ],
)
async def test_bad_quotes_are_400(quotes: str, body: bytes) -> None:
    async with asgi_client() as (client, _):
        response = await client.get("/v1/tickers", params={"quotes": quotes})
    assert (response.status_code, response.content) == (400, body)


async def test_unknown_ticker_and_route_are_404_in_coinpaprika_shape() -> None:
    async with asgi_client() as (client, _):
        unknown_id = await client.get("/v1/tickers/zzz-nothing")
        unknown_route = await client.get("/v1/exchanges")
    assert (unknown_id.status_code, unknown_id.content) == (404, b'{"error":"id not found"}')
    assert unknown_route.status_code == 404 and set(unknown_route.json()) == {"error"}


async def test_global_has_the_recorded_shape_and_adds_up() -> None:
    async with asgi_client() as (client, _):
        response = await client.get("/v1/global")
        tickers = decimal_json((await client.get("/v1/tickers")).content)
    data = decimal_json(response.content)
    assert list(data) == CP_GLOBAL_KEYS
    assert isinstance(data["last_updated"], int)
    assert data["cryptocurrencies_number"] == len(tickers)
    caps = sum(int(t["quotes"]["USD"]["market_cap"]) for t in tickers)
    assert data["market_cap_usd"] == caps
    btc = tickers[0]["quotes"]["USD"]["market_cap"]
    assert data["bitcoin_dominance_percentage"] == round(Decimal(btc) * 100 / caps, 2)
