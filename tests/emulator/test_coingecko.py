"""The emulated CoinGecko v3: routes, shapes, pagination, validation, headers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kasparro.emulator import EmulatorConfig, build_universe
from kasparro.emulator.seed import CG_MARKETS, seed_bytes
from tests.emulator.util import (
    CG_BASE_KEYS,
    PCP_KEYS,
    RECORDED_CG_ROW,
    all_cg_pages,
    asgi_client,
    decimal_json,
)

RECORDED_PCP = "1h,24h,7d,14d,30d,200d,1y"


async def test_ping() -> None:
    async with asgi_client() as (client, _):
        response = await client.get("/api/v3/ping")
    assert response.status_code == 200
    assert response.json() == {"gecko_says": "(V3) To the Moon!"}


async def test_tick_zero_first_page_is_the_recorded_page_byte_for_byte() -> None:
    async with asgi_client() as (client, _):
        response = await client.get(
            "/api/v3/coins/markets",
            params={
                "vs_currency": "usd",
                "order": "market_cap_desc",
                "per_page": 250,
                "page": 1,
                "sparkline": "false",
                "price_change_percentage": RECORDED_PCP,
            },
        )
    assert response.status_code == 200
    assert response.content == seed_bytes(CG_MARKETS)


async def test_headers_like_the_real_api() -> None:
    async with asgi_client() as (client, _):
        response = await client.get("/api/v3/coins/markets", params={"vs_currency": "usd"})
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["cache-control"] == "max-age=30, public, must-revalidate, s-maxage=30"
    assert response.headers["per-page"] == "100"
    assert int(response.headers["total"]) == len(build_universe(2500, 1).coingecko)


async def test_every_element_has_exactly_the_recorded_fields_in_order() -> None:
    async with asgi_client() as (client, _):
        plain = await all_cg_pages(client)
        with_pcp = decimal_json(
            (
                await client.get(
                    "/api/v3/coins/markets",
                    params={"vs_currency": "usd", "page": 3, "price_change_percentage": "7d,1h"},
                )
            ).content
        )
    assert all(list(row) == CG_BASE_KEYS for row in plain)
    pcp_7d_1h = [k for k in PCP_KEYS if k.split("_")[3] in ("7d", "1h")]
    assert all(list(row) == [*CG_BASE_KEYS, *pcp_7d_1h] for row in with_pcp)
    assert len(RECORDED_CG_ROW) == len(CG_BASE_KEYS) + 7


async def test_paging_covers_the_universe_exactly_once_in_market_cap_order() -> None:
    universe = build_universe(2500, 1)
    async with asgi_client() as (client, _):
        rows = await all_cg_pages(client, per_page=250)
        past_end = await client.get(
            "/api/v3/coins/markets", params={"vs_currency": "usd", "per_page": 250, "page": 999}
        )
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == len(universe.coingecko)
    caps = [row["market_cap"] for row in rows]
    ranked = [c for c in caps if c]
    assert ranked == sorted(ranked, reverse=True)
    # Unranked coins (market cap 0, then null) come last, with a null rank.
    tail = caps[len(ranked) :]
    assert tail and set(tail) <= {0, None}
    assert tail == sorted(tail, key=lambda cap: cap is None)
    assert all(row["market_cap_rank"] is None for row in rows[len(ranked) :])
    assert past_end.status_code == 200 and past_end.content == b"[]"


async def test_different_page_sizes_see_the_same_records() -> None:
    async with asgi_client() as (client, _):
        small = await all_cg_pages(client, per_page=37)
        large = await all_cg_pages(client, per_page=250)
    assert small == large


async def test_missing_vs_currency_is_422() -> None:
    async with asgi_client() as (client, _):
        response = await client.get("/api/v3/coins/markets", params={"per_page": 5})
    assert response.status_code == 422
    assert response.content == b'{"error":"Missing parameter vs_currency"}'
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": "0"},
        {"per_page": "251"},
        {"per_page": "ten"},
        {"page": "0"},
        {"order": "price_desc"},
        {"vs_currency": "not-a-currency"},
    ],
)
async def test_invalid_parameters_get_an_error_body(params: dict[str, str]) -> None:
    async with asgi_client() as (client, _):
        response = await client.get(
            "/api/v3/coins/markets", params={"vs_currency": "usd", **params}
        )
    assert response.status_code == 422
    assert set(response.json()) == {"error"}


async def test_ids_filter_trims_like_the_recording_unless_told_not_to() -> None:
    params = {"vs_currency": "usd", "ids": "bitcoin, ethereum,nope"}
    async with asgi_client() as (client, _):
        trimmed = (await client.get("/api/v3/coins/markets", params=params)).json()
    async with asgi_client(EmulatorConfig(cg_trim_ids=False)) as (client, _):
        verbatim = (await client.get("/api/v3/coins/markets", params=params)).json()
    assert [row["id"] for row in trimmed] == ["bitcoin", "ethereum"]
    assert [row["id"] for row in verbatim] == ["bitcoin"]


async def test_other_currencies_carry_the_usd_numbers() -> None:
    async with asgi_client() as (client, _):
        usd = await client.get("/api/v3/coins/markets", params={"vs_currency": "usd"})
        eur = await client.get("/api/v3/coins/markets", params={"vs_currency": "EUR"})
    assert usd.content == eur.content


@pytest.mark.parametrize("order", ["market_cap_asc", "volume_desc", "id_asc", "id_desc"])
async def test_other_orders_are_permutations(order: str) -> None:
    async with asgi_client() as (client, _):
        default = await all_cg_pages(client)
        other = await all_cg_pages(client, order=order)
    assert sorted(r["id"] for r in other) == sorted(r["id"] for r in default)
    if order == "id_asc":
        assert [r["id"] for r in other] == sorted(r["id"] for r in other)
    if order == "volume_desc":
        volumes = [r["total_volume"] for r in other]
        assert volumes[:100] == sorted(volumes[:100], reverse=True)


async def test_coins_list_is_the_whole_coingecko_universe() -> None:
    universe = build_universe(2500, 1)
    async with asgi_client() as (client, _):
        response = await client.get("/api/v3/coins/list")
    entries: list[dict[str, Any]] = response.json()
    assert response.status_code == 200
    assert all(list(e) == ["id", "symbol", "name"] for e in entries)
    assert {e["id"] for e in entries} == set(universe.by_cg_id)
    assert {"id": "hive_dollar", "symbol": "HBD", "name": "Hive Dollar"} in entries
    assert b"\\u0026" in response.content or b"&" not in response.content


async def test_quirky_values_come_through_as_exact_numbers() -> None:
    async with asgi_client() as (client, _):
        response = await client.get(
            "/api/v3/coins/markets",
            params={"vs_currency": "usd", "ids": "femto-dust,emulated-dollar,goldbar-unit,nullius"},
        )
    text = response.text
    rows = {row["id"]: row for row in decimal_json(response.content)}
    assert '"current_price":1.0e-10' in text and '"circulating_supply":4.2e+17' in text
    assert rows["femto-dust"]["current_price"] == Decimal("1E-10")
    assert rows["femto-dust"]["circulating_supply"] == Decimal("420000000000000000")
    assert rows["femto-dust"]["max_supply"] is None
    assert rows["emulated-dollar"]["current_price"] == 1 and '"current_price":1,' in text
    assert rows["goldbar-unit"]["current_price"] == 2150
    nullius = rows["nullius"]
    assert [k for k, v in nullius.items() if v is None] == [
        "fully_diluted_valuation",
        "high_24h",
        "low_24h",
        "total_supply",
        "max_supply",
        "roi",
    ]


async def test_unknown_route_is_404_in_coingecko_shape() -> None:
    async with asgi_client() as (client, _):
        response = await client.get("/api/v3/coins/nope/history")
    assert response.status_code == 404
    assert set(response.json()) == {"error"}
