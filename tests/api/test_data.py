"""GET /api/v1/data: rows, exact decimals, filters, sorts, latest, and parameter errors."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.api.names import Names, allowed
from kasparro.api.schemas import DataResponse
from tests.fixtures.api import AUTH, T0, rec, seed_run
from tests.fixtures.settings import builtin_registry


async def _market(engine: AsyncEngine) -> dict[str, int]:
    """Two sources, overlapping assets, ties, NULLs and extreme decimals."""
    gecko = await seed_run(
        engine,
        "coingecko",
        [
            rec(
                "bitcoin",
                symbol="btc",
                name="Bitcoin",
                price="63000.5",
                rank=1,
                at=T0,
                market_cap="1241234567890.12",
                volume="2.5E+10",
                change="-1.370",
                circulating="19700000",
                total="21000000",
                max_supply="21000000",
            ),
            rec(
                "shib-dust",
                symbol="DUST",
                name="Dust",
                price="1E-10",
                rank=None,
                at=T0,
                total="4.2E+17",
            ),
            rec("ethereum", symbol="eth", name="Ethereum", price="3000.000", rank=2, at=T0),
        ],
    )
    paprika = await seed_run(
        engine,
        "coinpaprika",
        [
            rec(
                "btc-bitcoin",
                source="coinpaprika",
                symbol="BTC",
                name="Bitcoin",
                price="63001",
                rank=1,
                at=T0 + timedelta(minutes=1),
            ),
            rec(
                "eth-ethereum",
                source="coinpaprika",
                symbol="ETH",
                name="Ethereum",
                price=None,
                rank=2,
                at=T0 + timedelta(minutes=1),
            ),
        ],
    )
    later = await seed_run(
        engine,
        "coingecko",
        [
            rec(
                "bitcoin",
                symbol="btc",
                name="Bitcoin",
                price="64000",
                rank=1,
                at=T0 + timedelta(minutes=5),
            ),
        ],
    )
    return {
        "gecko": gecko.run_id,
        "paprika": paprika.run_id,
        "later": later.run_id,
        "btc": gecko.asset_ids["bitcoin"],
        "eth": gecko.asset_ids["ethereum"],
        "dust": gecko.asset_ids["shib-dust"],
    }


async def test_default_page_shape_and_order(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    ids = await _market(engine)
    resp = await api_client.get("/api/v1/data")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    DataResponse.model_validate(body)
    rows = body["data"]
    assert len(rows) == 6
    # observed_at desc, then id desc
    keys = [(r["observed_at"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)
    first = rows[0]
    assert first["source"] == "coingecko" and first["price_usd"] == "64000"
    assert first["asset"] == {"id": ids["btc"], "symbol": "btc", "name": "Bitcoin"}
    assert first["observed_at"] == "2024-05-01T12:05:00.000000Z"
    assert first["run_id"] == ids["later"]
    assert first["ingested_at"].endswith("Z")
    meta = body["meta"]
    assert meta["count"] == 6 and meta["limit"] == 100
    assert meta["next_cursor"] is None and meta["has_more"] is False
    assert meta["sort"] == "observed_at" and meta["order"] == "desc"
    assert meta["request_id"] == resp.headers["x-request-id"]
    assert isinstance(meta["api_latency_ms"], float)


async def test_decimals_are_exact_strings(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    await _market(engine)
    resp = await api_client.get("/api/v1/data", params={"source": "coingecko", "limit": 1000})
    assert '"0.0000000001"' in resp.text and "e-10" not in resp.text.lower()
    rows = {r["source_asset_id"]: r for r in resp.json()["data"]}
    dust = rows["shib-dust"]
    assert dust["price_usd"] == "0.0000000001"
    assert dust["total_supply"] == "420000000000000000"
    assert dust["market_cap_rank"] is None and dust["max_supply"] is None
    btc = next(
        r
        for r in resp.json()["data"]
        if r["source_asset_id"] == "bitcoin" and r["observed_at"].startswith("2024-05-01T12:00")
    )
    assert btc["market_cap_usd"] == "1241234567890.12"
    assert btc["volume_24h_usd"] == "25000000000"
    assert btc["change_24h_pct"] == "-1.37"  # trailing zeros dropped identically on both dialects
    assert rows["ethereum"]["price_usd"] == "3000"
    assert Decimal(dust["price_usd"]) == Decimal("1E-10")


async def test_filters(engine: AsyncEngine, api_client: httpx.AsyncClient) -> None:
    ids = await _market(engine)

    async def fetch(**params: object) -> list[dict[str, object]]:
        resp = await api_client.get("/api/v1/data", params=params)
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]

    # symbol: case-insensitive, matches the canonical and each source's symbol
    btc_rows = await fetch(symbol="BtC")
    assert {r["asset_id"] for r in btc_rows} == {ids["btc"]} and len(btc_rows) == 3
    assert len(await fetch(symbol=["btc", "eth"])) == 5
    assert await fetch(symbol="NOPE") == []
    assert {r["asset_id"] for r in await fetch(asset_id=ids["eth"])} == {ids["eth"]}
    both = await fetch(asset_id=[ids["eth"], ids["dust"]])
    assert {r["asset_id"] for r in both} == {ids["eth"], ids["dust"]}
    assert {r["source"] for r in await fetch(source="coinpaprika")} == {"coinpaprika"}
    assert len(await fetch(source=["coinpaprika", "coingecko"])) == 6
    window = await fetch(since="2024-05-01T12:01:00Z", until="2024-05-01T12:05:00Z")
    assert {r["source"] for r in window} == {"coinpaprika"} and len(window) == 2
    # an offset-less timestamp is UTC; unix seconds are accepted too
    assert len(await fetch(since="2024-05-01T12:05:00")) == 1
    assert len(await fetch(since=str(int((T0 + timedelta(minutes=5)).timestamp())))) == 1
    combined = await fetch(symbol="btc", source="coingecko", since="2024-05-01T12:00:00+00:00")
    assert [r["price_usd"] for r in combined] == ["64000", "63000.5"]


async def test_latest_returns_newest_per_asset_and_source(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    ids = await _market(engine)
    resp = await api_client.get("/api/v1/data", params={"latest": "true", "limit": 1000})
    rows = resp.json()["data"]
    pairs = [(r["asset_id"], r["source"]) for r in rows]
    assert len(pairs) == len(set(pairs)) == 5
    btc_gecko = next(r for r in rows if r["asset_id"] == ids["btc"] and r["source"] == "coingecko")
    assert btc_gecko["price_usd"] == "64000"
    assert resp.json()["meta"]["latest"] is True
    only_btc = await api_client.get(
        "/api/v1/data", params={"latest": 1, "symbol": "BTC", "sort": "-price_usd"}
    )
    assert [r["price_usd"] for r in only_btc.json()["data"]] == ["64000", "63001"]


def _sorted_check(rows: list[dict[str, object]], field: str, descending: bool) -> None:
    def value(r: dict[str, object]) -> object:
        v = r[field]
        if field == "symbol":  # ignoring case
            return str(v).lower()
        return Decimal(str(v)) if field == "price_usd" and v is not None else v

    present = [r for r in rows if r[field] is not None]
    nulls = [r for r in rows if r[field] is None]
    assert rows == present + nulls, "NULLs must come last in both directions"
    keys = [(value(r), r["id"]) for r in present]
    assert keys == sorted(keys, reverse=descending)  # type: ignore[type-var]


async def test_every_sort_in_both_directions(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    await _market(engine)
    for field in ("observed_at", "price_usd", "market_cap_rank", "symbol"):
        for params, descending in (
            ({"sort": field}, False),
            ({"sort": f"-{field}"}, True),
            ({"sort": field, "order": "desc"}, True),
            ({"sort": field, "order": "asc"}, False),
        ):
            resp = await api_client.get("/api/v1/data", params=params)
            assert resp.status_code == 200, resp.text
            meta = resp.json()["meta"]
            assert (meta["sort"], meta["order"]) == (field, "desc" if descending else "asc")
            _sorted_check(resp.json()["data"], field, descending)
    asc_default = await api_client.get("/api/v1/data", params={"order": "asc"})
    assert asc_default.json()["meta"] == asc_default.json()["meta"] | {
        "sort": "observed_at",
        "order": "asc",
    }


async def test_parameter_errors_are_422_with_one_shape(api_client: httpx.AsyncClient) -> None:
    cases = {
        "sybmol=BTC": "unknown query parameter",
        "limit=0": "greater than or equal to 1",
        "limit=1001": "less than or equal to 1000",
        "limit=ten": "valid integer",
        "limit=5&limit=6": "more than once",
        "sort=price": "Input should be",
        "sort=id;DROP TABLE observations": "Input should be",
        "sort=-price_usd&order=asc": "contradict",
        "order=sideways": "Input should be",
        "latest=maybe": "valid boolean",
        "since=yesterday": "ISO 8601",
        "since=2024-05-02T00:00:00Z&until=2024-05-01T00:00:00Z": "earlier than",
        "asset_id=0": "greater than or equal to 1",
        "cursor=bm90LWEtY3Vyc29y": "invalid cursor",
        "source=bad%20name": "Input should be 'coingecko'",
        "source=nosuch": "Input should be 'coingecko', 'coinpaprika', 'csv'",
        "symbol=": "at least 1 character",
    }
    for query, fragment in cases.items():
        resp = await api_client.get(f"/api/v1/data?{query}")
        assert resp.status_code == 422, (query, resp.text)
        err = resp.json()["error"]
        assert set(err) == {"code", "message", "details", "request_id"}
        assert err["code"] == "validation_error"
        assert fragment in err["message"], (query, err["message"])
        assert err["request_id"] == resp.headers["x-request-id"]
        assert err["details"] and err["details"][0]["loc"].startswith("query.")


async def test_several_problems_are_all_reported(api_client: httpx.AsyncClient) -> None:
    resp = await api_client.get("/api/v1/data?foo=1&bar=2&limit=0")
    err = resp.json()["error"]
    assert {d["loc"] for d in err["details"]} == {"query.foo", "query.bar", "query.limit"}
    assert "'foo', 'bar'" in err["message"] and "1 more problem" in err["message"]


async def test_too_many_values_and_oversized_query(api_client: httpx.AsyncClient) -> None:
    many = "&".join(f"symbol=S{i}" for i in range(65))
    assert (await api_client.get(f"/api/v1/data?{many}")).status_code == 422
    huge = "symbol=" + "A" * 50_000
    resp = await api_client.get(f"/api/v1/data?{huge}")
    assert resp.status_code == 414
    assert resp.json()["error"]["code"] == "uri_too_long"


async def test_source_names_come_from_the_registry_on_every_endpoint(
    api_client: httpx.AsyncClient,
) -> None:
    # `?source=nosuch` answered 200 with an empty page on GET while the POST refused it.
    registry = builtin_registry()
    observed = allowed(registry, Names.OBSERVATION)
    runs = allowed(registry, Names.RUN)
    endpoints = {
        "/api/v1/data": observed,
        "/api/v1/assets": observed,
        "/api/v1/assets/1/history": observed,
        "/api/v1/runs": runs,
        "/api/v1/drift": runs,
        "/api/v1/quarantine": runs,
        "/api/v1/trigger-etl": [*registry.names(), "all"],
    }
    spec = (await api_client.get("/openapi.json")).json()
    for path, names in endpoints.items():
        resp = await api_client.get(path, params={"source": "nosuch"}, headers=AUTH)
        assert resp.status_code == 422, (path, resp.text)
        error = resp.json()["error"]
        assert [d["type"] for d in error["details"]] == ["enum"], (path, error)
        assert error["details"][0]["loc"] in ("query.source", "query.source.0")
        assert all(repr(n) in error["message"] for n in names), (path, error["message"])
        template = path.replace("/1/", "/{asset_id}/")
        (param,) = [
            p for p in spec["paths"][template]["get"]["parameters"] if p["name"] == "source"
        ]
        schema = param["schema"].get("anyOf", [param["schema"]])[0]
        assert schema.get("items", schema)["enum"] == names, path
        if path != "/api/v1/trigger-etl":  # that one would start runs
            for name in names:
                ok = await api_client.get(path, params={"source": name})
                assert ok.status_code in (200, 404), (path, name, ok.text)  # 404: no asset 1
    # A backfill's points are under its API's name: the history run name is not a market.
    wrong = await api_client.get("/api/v1/data", params={"source": "coingecko_history"})
    assert wrong.status_code == 422
    for body, field in [({"source": "nosuch"}, "runs"), ({"source": "csv"}, "backfills")]:
        resp = await api_client.post(f"/api/v1/{field}", json=body, headers=AUTH)
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["details"][0]["type"] == "enum"
