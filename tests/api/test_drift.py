"""``GET /api/v1/drift``: events written by the real drift detector and recorder."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.api.ops_schemas import DriftResponse
from kasparro.load.drift import record_drift
from kasparro.normalize.contracts import COINGECKO_MARKETS
from kasparro.normalize.drift import DriftFinding, detect_drift
from tests.fixtures.api import T0, seed_run, walk

DRIFT = "/api/v1/drift"


def _gecko_record(**changes: object) -> dict[str, object]:
    """A /coins/markets record that satisfies the contract, then ``changes`` applied
    (a value of ``...`` removes the field)."""
    rec: dict[str, object] = {name: None for name in COINGECKO_MARKETS.fields}
    rec.pop("sparkline_in_7d")
    rec.update(id="bitcoin", symbol="btc", name="Bitcoin", current_price=63000.5)
    for key, value in changes.items():
        if value is ...:
            rec.pop(key, None)
        else:
            rec[key] = value
    return rec


async def _record(
    engine: AsyncEngine,
    source: str,
    endpoint: str,
    findings: list[DriftFinding],
    hours: float,
) -> int:
    run = await seed_run(engine, source, [])
    async with engine.begin() as conn:
        await record_drift(
            conn, source, endpoint, findings, run.run_id, T0 + timedelta(hours=hours)
        )
    return run.run_id


async def test_items_are_rendered_exactly(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    # current_price renamed to "price" on two records, and one record with a string rank.
    records = [
        _gecko_record(current_price=..., price=1.5),
        _gecko_record(current_price=..., price=2.5),
        _gecko_record(market_cap_rank="1"),
    ]
    findings = detect_drift(COINGECKO_MARKETS, records)
    run_id = await _record(engine, "coingecko", "/coins/markets", findings, 0)

    resp = await api_client.get(DRIFT)
    assert resp.status_code == 200, resp.text
    DriftResponse.model_validate(resp.json())
    body = resp.json()
    by_kind = {e["kind"]: e for e in body["data"]}
    assert set(by_kind) == {"missing", "unexpected", "type_changed"}

    missing = by_kind["missing"]
    assert (missing["field"], missing["suggestion"], missing["count"]) == (
        "current_price",
        "price",
        2,
    )
    assert missing["expected"] == "null|number" and missing["observed"] is None
    assert isinstance(missing["confidence"], str) and 0 < Decimal(missing["confidence"]) <= 1
    assert missing["sample"] is None and missing["sample_truncated"] is False

    unexpected = by_kind["unexpected"]
    assert (unexpected["field"], unexpected["observed"], unexpected["sample"]) == (
        "price",
        "number",
        1.5,
    )
    changed = by_kind["type_changed"]
    assert (changed["field"], changed["observed"], changed["sample"]) == (
        "market_cap_rank",
        "string",
        "1",
    )
    for event in body["data"]:
        assert event["source"] == "coingecko" and event["endpoint"] == "/coins/markets"
        assert event["last_run_id"] == run_id
        assert event["first_seen_at"] == event["last_seen_at"] == "2024-05-01T12:00:00.000000Z"
    meta = body["meta"]
    assert (meta["count"], meta["limit"], meta["has_more"], meta["next_cursor"]) == (
        3,
        50,
        False,
        None,
    )
    assert (meta["sort"], meta["order"]) == ("last_seen_at", "desc")


async def test_newest_first_filters_and_pages(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    assert (await api_client.get(DRIFT)).json()["data"] == []
    await _record(
        engine,
        "coingecko",
        "/coins/markets",
        [
            DriftFinding("a", "unexpected", 1, None, "string", "x"),
            DriftFinding("b", "missing", 4, "string", None),
        ],
        hours=1,
    )
    await _record(
        engine,
        "coinpaprika",
        "/tickers",
        [DriftFinding("c", "type_changed", 2, "number", "string", "7")],
        hours=2,
    )
    await _record(
        engine,
        "csv",
        "markets.csv",
        [DriftFinding("d", "unexpected", 1, None, "number", 3)],
        hours=3,
    )

    events = (await api_client.get(DRIFT)).json()["data"]
    # Newest last_seen first; the two events of one run tie and are ordered by id, newest first.
    assert [e["field"] for e in events] == ["d", "c", "b", "a"]

    async def fields(params: list[tuple[str, str]]) -> list[str]:
        resp = await api_client.get(DRIFT, params=params)
        assert resp.status_code == 200, resp.text
        return [e["field"] for e in resp.json()["data"]]

    assert await fields([("source", "coingecko")]) == ["b", "a"]
    assert await fields([("source", "csv"), ("source", "coinpaprika")]) == ["d", "c"]
    assert await fields([("kind", "unexpected")]) == ["d", "a"]
    assert await fields([("kind", "missing"), ("kind", "type_changed")]) == ["c", "b"]
    assert await fields([("since", "2024-05-01T14:00:00Z")]) == ["d", "c"]  # inclusive
    assert await fields([("since", "2024-05-01T16:00:00+02:00")]) == ["d", "c"]
    assert await fields([("since", str(int((T0 + timedelta(hours=3)).timestamp())))]) == ["d"]
    assert await fields([("source", "coingecko"), ("kind", "missing")]) == ["b"]

    for limit in (1, 3):
        walked = await walk(api_client, DRIFT, {"limit": limit})
        assert [e["field"] for e in walked] == ["d", "c", "b", "a"]
    walked = await walk(api_client, DRIFT, [("limit", 1), ("kind", "unexpected")])
    assert [e["field"] for e in walked] == ["d", "a"]


async def test_seen_again_moves_to_the_front_and_counts(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    first = DriftFinding("a", "unexpected", 2, None, "string", "x")
    await _record(engine, "coingecko", "/coins/markets", [first], hours=1)
    await _record(
        engine,
        "coingecko",
        "/coins/markets",
        [DriftFinding("b", "missing", 1, "string", None)],
        hours=2,
    )
    again = DriftFinding("a", "unexpected", 3, None, "number", 5)
    run_id = await _record(engine, "coingecko", "/coins/markets", [again], hours=5)
    events = (await api_client.get(DRIFT)).json()["data"]
    assert [e["field"] for e in events] == ["a", "b"]
    a = events[0]
    assert a["count"] == 5 and a["last_run_id"] == run_id and a["observed"] == "number"
    assert a["first_seen_at"] == "2024-05-01T13:00:00.000000Z"
    assert a["last_seen_at"] == "2024-05-01T17:00:00.000000Z"


async def test_truncated_sample_is_returned_as_text(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    # The recorder caps samples at 2000 characters, which cuts this one mid-document.
    big = {"blob": "z" * 5000}
    await _record(
        engine,
        "coingecko",
        "/coins/markets",
        [DriftFinding("roi", "type_changed", 1, "object|null", "object", big)],
        0,
    )
    event = (await api_client.get(DRIFT)).json()["data"][0]
    assert event["sample_truncated"] is True
    assert isinstance(event["sample"], str) and event["sample"].startswith('{"blob":"zzz')
    assert len(event["sample"]) == 2000


async def test_invalid_parameters_are_422(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    await _record(
        engine,
        "csv",
        "markets.csv",
        [
            DriftFinding("a", "unexpected", 1, None, "number", 1),
            DriftFinding("b", "unexpected", 1, None, "number", 2),
        ],
        0,
    )
    page = (await api_client.get(DRIFT, params={"limit": 1})).json()
    cursor = page["meta"]["next_cursor"]
    assert cursor
    bad: list[list[tuple[str, str]]] = [
        [("kind", "renamed")],
        [("since", "yesterday")],
        [("since", "0001-01-01T00:00:00+01:00")],  # before year 1 once in UTC
        [("limit", "0")],
        [("limit", "1001")],
        [("source", "no spaces")],
        [("page", "2")],
        [("since", "2024-05-01"), ("since", "2024-05-02")],
        [("cursor", cursor[:-2])],
        # A cursor is only valid with the filters it was issued for.
        [("cursor", cursor), ("kind", "missing")],
    ]
    for params in bad:
        resp = await api_client.get(DRIFT, params=params)
        assert resp.status_code == 422, (params, resp.text)
        assert resp.json()["error"]["code"] == "validation_error"
    nxt = await api_client.get(DRIFT, params={"limit": 1, "cursor": cursor})
    assert nxt.status_code == 200 and [e["field"] for e in nxt.json()["data"]] == ["a"]


async def test_documented_in_openapi(api_client: httpx.AsyncClient) -> None:
    spec = (await api_client.get("/openapi.json")).json()
    op = spec["paths"]["/api/v1/drift"]["get"]
    assert op["tags"] == ["drift"]
    assert {p["name"] for p in op["parameters"]} == {"source", "kind", "since", "limit", "cursor"}
    ok = op["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"].endswith("/DriftResponse")
    assert {"422", "503"} <= set(op["responses"])
    model = spec["components"]["schemas"]["DriftResponse"]
    assert model["examples"][0]["data"][0]["kind"] == "missing"
