"""Canonical assets, one asset, and asset history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.api.schemas import AssetResponse, AssetsResponse, HistoryResponse
from tests.fixtures.api import T0, rec, seed_run, walk


async def _seed(engine: AsyncEngine) -> dict[str, int]:
    gecko = await seed_run(
        engine,
        "coingecko",
        [
            rec("bitcoin", symbol="btc", name="Bitcoin", price="63000.5", rank=1),
            rec("uniswap", symbol="uni", name="Uniswap", price="7.25", rank=20),
            rec("unicorn-token", symbol="UNI", name="UNICORN Token", price="0.0000073"),
        ],
    )
    await seed_run(
        engine,
        "coinpaprika",
        [
            rec(
                "btc-bitcoin",
                source="coinpaprika",
                symbol="BTC",
                name="Bitcoin",
                price="63001",
                at=T0 + timedelta(minutes=1),
            ),
        ],
    )
    await seed_run(
        engine,
        "coingecko",
        [
            rec(
                "bitcoin",
                symbol="btc",
                name="Bitcoin",
                price="64000",
                at=T0 + timedelta(minutes=10),
            ),
        ],
    )
    return gecko.asset_ids


async def test_assets_list_with_mappings_and_latest(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    ids = await _seed(engine)
    resp = await api_client.get("/api/v1/assets")
    assert resp.status_code == 200
    body = resp.json()
    AssetsResponse.model_validate(body)
    assert [a["id"] for a in body["data"]] == sorted(ids.values())
    btc = next(a for a in body["data"] if a["id"] == ids["bitcoin"])
    assert {(m["source"], m["source_asset_id"], m["method"]) for m in btc["mappings"]} == {
        ("coingecko", "bitcoin", "override"),
        ("coinpaprika", "btc-bitcoin", "override"),
    }
    assert btc["latest"]["coingecko"]["price_usd"] == "64000"
    assert btc["latest"]["coingecko"]["observed_at"] == "2024-05-01T12:10:00.000000Z"
    assert btc["latest"]["coinpaprika"]["price_usd"] == "63001"
    unicorn = next(a for a in body["data"] if a["id"] == ids["unicorn-token"])
    assert unicorn["latest"]["coingecko"]["price_usd"] == "0.0000073"


async def test_assets_filters_sort_and_pagination(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    ids = await _seed(engine)
    uni = await api_client.get("/api/v1/assets", params={"symbol": "uni"})
    assert {a["id"] for a in uni.json()["data"]} == {ids["uniswap"], ids["unicorn-token"]}
    paprika = await api_client.get("/api/v1/assets", params={"source": "coinpaprika"})
    assert [a["id"] for a in paprika.json()["data"]] == [ids["bitcoin"]]
    by_symbol = await api_client.get("/api/v1/assets", params={"sort": "-symbol"})
    listed = [(a["symbol"].lower(), a["id"]) for a in by_symbol.json()["data"]]
    assert listed == sorted(listed, reverse=True)  # ignoring case, then by id
    walked = await walk(api_client, "/api/v1/assets", {"limit": 1, "sort": "symbol"})
    assert len(walked) == 3 and len({a["id"] for a in walked}) == 3
    bad = await api_client.get("/api/v1/assets", params={"sort": "price_usd"})
    assert bad.status_code == 422
    unknown = await api_client.get("/api/v1/assets", params={"symbl": "x"})
    assert unknown.status_code == 422 and "symbl" in unknown.json()["error"]["message"]


async def test_one_asset_and_404(engine: AsyncEngine, api_client: httpx.AsyncClient) -> None:
    ids = await _seed(engine)
    resp = await api_client.get(f"/api/v1/assets/{ids['bitcoin']}")
    assert resp.status_code == 200
    AssetResponse.model_validate(resp.json())
    assert resp.json()["data"]["name"] == "Bitcoin"
    missing = await api_client.get("/api/v1/assets/999999")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert missing.json()["error"]["details"] == {"asset_id": 999999}
    assert (await api_client.get("/api/v1/assets/zero")).status_code == 422
    assert (await api_client.get("/api/v1/assets/0")).status_code == 422


async def test_history(engine: AsyncEngine, api_client: httpx.AsyncClient) -> None:
    ids = await _seed(engine)
    path = f"/api/v1/assets/{ids['bitcoin']}/history"
    resp = await api_client.get(path)
    assert resp.status_code == 200
    HistoryResponse.model_validate(resp.json())
    assert [r["price_usd"] for r in resp.json()["data"]] == ["64000", "63001", "63000.5"]
    assert resp.json()["meta"]["asset_id"] == ids["bitcoin"]
    asc = await api_client.get(path, params={"order": "asc", "source": "coingecko"})
    assert [r["price_usd"] for r in asc.json()["data"]] == ["63000.5", "64000"]
    window = await api_client.get(
        path, params={"since": "2024-05-01T12:01:00Z", "until": "2024-05-01T12:10:00Z"}
    )
    assert [r["source"] for r in window.json()["data"]] == ["coinpaprika"]
    walked = await walk(api_client, path, {"limit": 1})
    assert [r["price_usd"] for r in walked] == ["64000", "63001", "63000.5"]
    assert (await api_client.get("/api/v1/assets/424242/history")).status_code == 404
    assert (await api_client.get(path, params={"sort": "price_usd"})).status_code == 422
    other = await api_client.get(
        f"/api/v1/assets/{ids['uniswap']}/history",
        params={
            "limit": 1,
            "cursor": walked
            and (await api_client.get(path, params={"limit": 1})).json()["meta"]["next_cursor"],
        },
    )
    assert other.status_code == 422  # a cursor of another asset's history


async def test_history_checks_existence_only_for_empty_pages(
    engine: AsyncEngine, api_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kasparro.query import assets as q_assets

    ids = await _seed(engine)
    checks: list[int] = []
    real = q_assets.asset_status

    async def counting(reader: Any, asset_id: int) -> tuple[bool, int | None]:
        checks.append(asset_id)
        return await real(reader, asset_id)

    monkeypatch.setattr(q_assets, "asset_status", counting)
    path = f"/api/v1/assets/{ids['bitcoin']}/history"
    for _ in range(2):  # computed, then from the page cache
        assert len((await api_client.get(path)).json()["data"]) == 3
    assert checks == []  # rows prove the asset exists: no extra round trip
    # An existing asset with nothing in the window: 200 and an empty page, not 404.
    empty = await api_client.get(path, params={"since": "2030-01-01T00:00:00Z"})
    assert empty.status_code == 200 and empty.json()["data"] == []
    assert checks == [ids["bitcoin"]]
    # An unknown asset: 404 in the standard shape, also when its empty page is cached.
    for _ in range(2):
        missing = await api_client.get("/api/v1/assets/424242/history")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert missing.json()["error"]["details"] == {"asset_id": 424242}
    assert checks[1:] == [424242, 424242]


async def test_hot_endpoints_never_hop_to_the_thread_pool(
    engine: AsyncEngine, api_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync dependency (e.g. the app state) would run in FastAPI's worker threads: a
    thread hop per request on the hot path."""
    import fastapi.dependencies.utils as fastapi_deps
    import fastapi.routing as fastapi_routing

    ids = await _seed(engine)

    async def forbidden(func: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{func} ran in the thread pool")

    monkeypatch.setattr(fastapi_deps, "run_in_threadpool", forbidden)
    monkeypatch.setattr(fastapi_routing, "run_in_threadpool", forbidden)
    for path in (f"/api/v1/assets/{ids['bitcoin']}/history", "/api/v1/data"):
        assert (await api_client.get(path)).status_code == 200, path
