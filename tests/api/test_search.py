"""``/api/v1/assets/search``: prefixes of symbols, names and source ids; markets, not feeds."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.api.market_schemas import SearchResponse
from kasparro.load.assets import resolve_assets
from kasparro.runs import repository as repo
from tests.fixtures.api import rec, seed_run


async def _seed(engine: AsyncEngine) -> dict[str, int]:
    gecko = await seed_run(
        engine,
        "coingecko",
        [
            rec("bitcoin", symbol="btc", name="Bitcoin", price="38938", volume="19584692179"),
            rec("bitcoin-cash", symbol="bch", name="Bitcoin Cash", price="300", volume="9e8"),
            rec("tether", symbol="usdt", name="Tether", price="1.002", volume="41000000000"),
            rec("usd-coin", symbol="usdc", name="USD Coin", price="1.001", volume="3e9"),
            rec("terrausd", symbol="ust", name="TerraUSD", price="1", volume="5e8"),
            rec("musd", symbol="musd", name="mStable USD", price="1", volume="1e6"),
            rec("ticoex-token", symbol="tico", name="TICOEX Token", volume="5.4"),
        ],
    )
    await seed_run(
        engine,
        "coinpaprika",
        [rec("btc-bitcoin", source="coinpaprika", symbol="BTC", name="Bitcoin", volume="3e10")],
    )
    # A mapping under a source that is no market (backfills wrote them under their history
    # feed's name before migration 0020): internal, never a market to show.
    async with engine.begin() as conn:
        run_id = await repo.create_run(
            conn,
            source="coingecko_history",
            trigger="cli",
            owner="t:0:x",
            resumed_from=None,
            start_page=1,
        )
        await resolve_assets(
            conn,
            "coingecko_history",
            [rec("bitcoin", source="coingecko_history", symbol="btc", name="Bitcoin")],
            run_id,
        )
    return gecko.asset_ids


async def _search(client: httpx.AsyncClient, q: str) -> list[dict[str, object]]:
    resp = await client.get("/api/v1/assets/search", params={"q": q})
    assert resp.status_code == 200, resp.text
    SearchResponse.model_validate(resp.json())
    return resp.json()["data"]


async def test_search_finds_names_and_ids_by_prefix(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    ids = await _seed(engine)
    by_name = await _search(api_client, "bitcoin")
    assert [a["id"] for a in by_name] == [ids["bitcoin"], ids["bitcoin-cash"]]
    assert by_name[0]["match"] == "exact" and by_name[1]["match"] == "prefix"
    # Markets only: the history feed that mapped the id is not one.
    assert by_name[0]["markets"] == ["coingecko", "coinpaprika"]
    assert (await _search(api_client, "BITC"))[0]["id"] == ids["bitcoin"]
    assert (await _search(api_client, "btc-bit"))[0]["id"] == ids["bitcoin"]  # CoinPaprika's id
    assert [a["id"] for a in await _search(api_client, "bitcoin-c")] == [ids["bitcoin-cash"]]
    # "us": symbols first (most traded first), then names and ids ("USD Coin", "usd-coin").
    us = await _search(api_client, "us")
    assert [a["id"] for a in us] == [ids["tether"], ids["usd-coin"], ids["terrausd"]]
    assert [a["match"] for a in us] == ["symbol_prefix"] * 3
    # Exact symbol beats a prefix; the numeric id matches exactly.
    assert (await _search(api_client, "btc"))[0]["match"] == "exact"
    assert [a["id"] for a in await _search(api_client, str(ids["tether"]))] == [ids["tether"]]
    # LIKE wildcards are plain characters.
    assert await _search(api_client, "%") == []
    assert await _search(api_client, "_sdt") == []


async def test_search_parameters(api_client: httpx.AsyncClient) -> None:
    assert await _search(api_client, "nothing-like-this") == []
    for params in ({}, {"q": ""}, {"q": "   "}, {"q": "a\x00b"}, {"q": "x", "limit": 51}):
        resp = await api_client.get("/api/v1/assets/search", params=params)
        assert resp.status_code == 422, params
