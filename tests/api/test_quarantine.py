"""``GET /api/v1/quarantine``: rejections written by the real quarantine writer."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.api.ops_schemas import QuarantineResponse
from kasparro.load.quarantine import quarantine_rejections
from kasparro.models import Rejection
from tests.fixtures.api import T0, seed_run, walk

QUARANTINE = "/api/v1/quarantine"


async def _reject(
    engine: AsyncEngine, source: str, rejections: list[Rejection], hours: float
) -> int:
    run = await seed_run(engine, source, [], status="partial", rejected=len(rejections))
    async with engine.begin() as conn:
        await quarantine_rejections(
            conn, source, rejections, run.run_id, T0 + timedelta(hours=hours)
        )
    return run.run_id


def _bad_price(coin: str) -> Rejection:
    return Rejection("price_usd: not a number: 'n/a'", {"id": coin, "price_usd": "n/a"}, coin)


async def test_records_runs_and_reappearance(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    assert (await api_client.get(QUARANTINE)).json()["data"] == []
    run1 = await _reject(
        engine,
        "csv",
        [
            _bad_price("coin-1"),
            # Unreadable id; Decimal values are stored as their exact text.
            Rejection("expected a row mapping, got list", ["x", Decimal("1.10")]),
        ],
        hours=0,
    )
    run2 = await _reject(engine, "coinpaprika", [Rejection("missing id", {"symbol": "X"})], hours=1)
    # The same bad row again in a later csv run: counted, not duplicated.
    run3 = await _reject(engine, "csv", [_bad_price("coin-1"), _bad_price("coin-2")], hours=2)

    resp = await api_client.get(QUARANTINE)
    assert resp.status_code == 200, resp.text
    QuarantineResponse.model_validate(resp.json())
    body = resp.json()
    records = body["data"]
    # Newest first by id: coin-2 (run 3), the paprika record, the list row, coin-1 (run 1).
    assert [(r["source"], r["source_asset_id"]) for r in records] == [
        ("csv", "coin-2"),
        ("coinpaprika", None),
        ("csv", None),
        ("csv", "coin-1"),
    ]
    coin1 = records[3]
    assert coin1["raw"] == {"id": "coin-1", "price_usd": "n/a"}
    assert coin1["reason"] == "price_usd: not a number: 'n/a'"
    assert (coin1["first_run_id"], coin1["last_run_id"], coin1["seen_count"]) == (run1, run3, 2)
    assert coin1["first_seen_at"] == "2024-05-01T12:00:00.000000Z"
    assert coin1["last_seen_at"] == "2024-05-01T14:00:00.000000Z"
    assert records[2]["raw"] == ["x", "1.10"]
    assert records[1]["raw"] == {"symbol": "X"} and records[1]["last_run_id"] == run2
    assert (body["meta"]["sort"], body["meta"]["order"], body["meta"]["count"]) == ("id", "desc", 4)

    async def ids(params: list[tuple[str, str | int]]) -> list[str | None]:
        resp = await api_client.get(QUARANTINE, params=params)
        assert resp.status_code == 200, resp.text
        return [r["source_asset_id"] for r in resp.json()["data"]]

    # run_id matches the last run that rejected a record: run 1's coin-1 now belongs to run 3.
    assert await ids([("run_id", run3)]) == ["coin-2", "coin-1"]
    assert await ids([("run_id", run1)]) == [None]
    assert await ids([("run_id", 999_999)]) == []
    assert await ids([("source", "coinpaprika")]) == [None]
    assert await ids([("source", "csv"), ("run_id", run3)]) == ["coin-2", "coin-1"]
    assert await ids([("source", "csv"), ("source", "coinpaprika")]) == await ids([])

    walked = await walk(api_client, QUARANTINE, {"limit": 1})
    assert [r["id"] for r in walked] == [r["id"] for r in records]
    walked = await walk(api_client, QUARANTINE, [("limit", 1), ("source", "csv")])
    assert [r["source_asset_id"] for r in walked] == ["coin-2", None, "coin-1"]


async def test_invalid_parameters_are_422(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    await _reject(engine, "csv", [_bad_price("a"), _bad_price("b")], hours=0)
    cursor = (await api_client.get(QUARANTINE, params={"limit": 1})).json()["meta"]["next_cursor"]
    assert cursor
    bad: list[list[tuple[str, str]]] = [
        [("run_id", "0")],
        [("run_id", "abc")],
        [("run_id", str(2**63))],
        [("run_id", "1"), ("run_id", "2")],  # not repeatable
        [("reason", "n/a")],  # not a filter: rejected, never ignored
        [("limit", "0")],
        [("cursor", "not-a-cursor")],
        [("cursor", cursor), ("source", "csv")],
    ]
    for params in bad:
        resp = await api_client.get(QUARANTINE, params=params)
        assert resp.status_code == 422, (params, resp.text)
        assert set(resp.json()["error"]) == {"code", "message", "details", "request_id"}


async def test_documented_in_openapi(api_client: httpx.AsyncClient) -> None:
    spec = (await api_client.get("/openapi.json")).json()
    op = spec["paths"]["/api/v1/quarantine"]["get"]
    assert op["tags"] == ["quarantine"]
    assert {p["name"] for p in op["parameters"]} == {"source", "run_id", "limit", "cursor"}
    ok = op["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"].endswith("/QuarantineResponse")
    model = spec["components"]["schemas"]["QuarantineResponse"]
    assert model["examples"][0]["data"][0]["seen_count"] == 3
