"""The emulated reference routes: coin lists with platforms, CoinPaprika coins and contracts."""

from __future__ import annotations

import json
from pathlib import Path

from kasparro.emulator import build_universe
from tests.emulator.util import asgi_client
from tests.normalize._samples import SAMPLES

_OAS_COINS_LIST = SAMPLES / "coingecko" / "docs-examples" / "coins-list.oas-example.json"
_CP_COIN = SAMPLES / "coinpaprika" / "coins-id__eth-ethereum__2022-11-15.json"


def _json(path: Path) -> object:
    return json.loads(path.read_text())


async def test_coins_list_shows_platforms_only_when_asked_as_documented() -> None:
    universe = build_universe(2500, 1)
    async with asgi_client() as (client, _):
        plain = (await client.get("/api/v3/coins/list")).json()
        full = (await client.get("/api/v3/coins/list", params={"include_platform": "true"})).json()
        inactive = await client.get("/api/v3/coins/list", params={"status": "inactive"})
    documented = _json(_OAS_COINS_LIST)
    assert isinstance(documented, list)
    assert [list(row) for row in documented] == [["id", "symbol", "name", "platforms"]] * 2
    assert all(list(row) == ["id", "symbol", "name"] for row in plain)
    assert all(list(row) == ["id", "symbol", "name", "platforms"] for row in full)
    assert [r["id"] for r in plain] == [r["id"] for r in full]
    assert len(full) == len(universe.coingecko)
    by_id = {r["id"]: r for r in full}
    assert by_id["usd-coin"]["platforms"] == {
        "ethereum": "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
    }
    assert by_id["bitcoin"]["platforms"] in ({}, {"": ""})
    assert any(r["platforms"] == {"": ""} for r in full)  # CoinGecko's native-coin marker
    assert inactive.json() == []


async def test_coinpaprika_coins_list_every_coin_with_its_type() -> None:
    universe = build_universe(2500, 1)
    async with asgi_client() as (client, _):
        coins = (await client.get("/v1/coins")).json()
    assert len(coins) == len(universe.coinpaprika)
    assert all(
        list(c) == ["id", "name", "symbol", "rank", "is_new", "is_active", "type"] for c in coins
    )
    assert {c["type"] for c in coins} == {"coin", "token"}
    by_id = {c["id"]: c for c in coins}
    assert by_id["usdc-usd-coin"]["name"] == "USDC"
    assert by_id["btc-bitcoin"]["type"] == "coin"


async def test_contract_platforms_and_their_contracts() -> None:
    universe = build_universe(2500, 1)
    async with asgi_client() as (client, _):
        platforms = (await client.get("/v1/contracts")).json()
        eth = (await client.get("/v1/contracts/eth-ethereum")).json()
        unknown = await client.get("/v1/contracts/no-such-chain")
    assert "eth-ethereum" in platforms and platforms == sorted(platforms)
    assert all(list(c) == ["address", "id", "type", "active"] for c in eth)
    assert {
        "address": "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
        "id": "usdc-usd-coin",
        "type": "ERC20",
        "active": True,
    } in eth
    listed = {c["id"] for c in eth}
    assert listed <= set(universe.by_cp_id)
    assert unknown.status_code == 404 and unknown.json() == {"error": "id not found"}


async def test_coin_by_id_has_the_recorded_shape_plus_contracts() -> None:
    recorded = _json(_CP_COIN)
    assert isinstance(recorded, dict)
    async with asgi_client() as (client, _):
        usdc = (await client.get("/v1/coins/usdc-usd-coin")).json()
        missing = await client.get("/v1/coins/nope-nope")
    for key in ("id", "name", "symbol", "rank", "is_new", "is_active", "type", "logo", "tags"):
        assert key in recorded and key in usdc
    assert usdc["contracts"] == [
        {
            "contract": "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
            "platform": "eth-ethereum",
            "type": "ERC20",
        }
    ]
    assert usdc["contract"] == usdc["contracts"][0]["contract"]  # the deprecated field
    assert missing.status_code == 404
