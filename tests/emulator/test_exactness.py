"""A ``parse_float=Decimal`` consumer reads exactly the values the emulator intends."""

from __future__ import annotations

from kasparro.emulator import EmulatorConfig, create_app
from kasparro.emulator.market import UNIT, cg_base, cp_base
from kasparro.emulator.numbers import format_coingecko, parse_num, scale, to_decimal
from tests.emulator.util import NUMBER_TOKEN, asgi_client, decimal_json


async def test_numbers_read_back_exactly_at_a_later_tick() -> None:
    app = create_app(EmulatorConfig())
    emulator = app.state.emulator
    emulator.tick(4)
    factors = emulator.views.factors(4)
    paprika = emulator.views.market.cp_factors(4)
    async with asgi_client(app=app) as (client, _):
        cg_response = await client.get(
            "/api/v3/coins/markets", params={"vs_currency": "usd", "per_page": 250, "page": 2}
        )
        cp_response = await client.get("/v1/tickers")
    checked = 0
    for row in decimal_json(cg_response.content):
        asset = emulator.universe.by_cg_id[row["id"]]
        base = cg_base(asset, emulator.universe.seed)
        k = factors[asset.index][0]
        assert base.price is not None
        assert row["current_price"] == to_decimal(scale(base.price, UNIT + k, UNIT))
        if base.market_cap is not None:
            assert row["market_cap"] == to_decimal(scale(base.market_cap, UNIT + k, UNIT))
        checked += 1
    for ticker in decimal_json(cp_response.content)[:300]:
        asset = emulator.universe.by_cp_id[ticker["id"]]
        ticker_base = cp_base(asset, emulator.universe.seed)
        view = paprika[asset.index]
        assert ticker["quotes"]["USD"]["price"] == to_decimal(
            scale(ticker_base.price, UNIT + view.k, UNIT)
        )
        assert ticker["quotes"]["USD"]["market_cap"] == to_decimal(
            scale(ticker_base.market_cap, UNIT + view.k_cap, UNIT)
        )
        checked += 1
    assert checked == 550
    # Every CoinGecko number is in canonical spelling: re-spelling it changes nothing.
    tokens = NUMBER_TOKEN.findall(cg_response.text)
    assert [t for t in tokens if format_coingecko(parse_num(t)) != t] == []
