"""Run history, one run, and run comparison with anomaly flags."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.api.ops_schemas import RunCompareResponse, RunResponse, RunsResponse
from tests.fixtures.api import T0, rec, seed_run, walk


async def test_list_newest_first_filters_and_pages(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    a = await seed_run(engine, "coingecko", [rec("bitcoin")])
    b = await seed_run(engine, "csv", [rec("x", source="csv")], status="partial", rejected=2)
    c = await seed_run(engine, "coingecko", [], status="failed", error="coingecko: HTTP 503")
    resp = await api_client.get("/api/v1/runs")
    assert resp.status_code == 200
    RunsResponse.model_validate(resp.json())
    runs = resp.json()["data"]
    assert [r["id"] for r in runs] == [c.run_id, b.run_id, a.run_id]
    assert runs[1]["rejected"] == 2 and runs[1]["fetched"] == 3 and runs[1]["status"] == "partial"
    assert runs[0]["error"] == "coingecko: HTTP 503"
    assert all(r["duration_s"] is not None and r["duration_s"] >= 0 for r in runs)
    gecko = await api_client.get("/api/v1/runs", params={"source": "coingecko"})
    assert [r["id"] for r in gecko.json()["data"]] == [c.run_id, a.run_id]
    failed = await api_client.get("/api/v1/runs", params={"status": ["failed", "partial"]})
    assert [r["id"] for r in failed.json()["data"]] == [c.run_id, b.run_id]
    walked = await walk(api_client, "/api/v1/runs", {"limit": 1})
    assert [r["id"] for r in walked] == [c.run_id, b.run_id, a.run_id]
    assert (await api_client.get("/api/v1/runs", params={"status": "done"})).status_code == 422
    assert (await api_client.get("/api/v1/runs", params={"limit": 0})).status_code == 422
    assert (await api_client.get("/api/v1/runs", params={"page": 2})).status_code == 422


async def test_one_run(engine: AsyncEngine, api_client: httpx.AsyncClient) -> None:
    run = await seed_run(engine, "coingecko", [rec("bitcoin")], started_at=T0, duration_s=42.5)
    resp = await api_client.get(f"/api/v1/runs/{run.run_id}")
    assert resp.status_code == 200
    RunResponse.model_validate(resp.json())
    data = resp.json()["data"]
    assert data["started_at"] == "2024-05-01T12:00:00.000000Z"
    assert data["finished_at"] == "2024-05-01T12:00:42.500000Z"
    assert data["duration_s"] == 42.5
    assert data["trigger"] == "cli" and data["loaded"] == 1
    missing = await api_client.get("/api/v1/runs/987654")
    assert missing.status_code == 404 and missing.json()["error"]["details"] == {"run_id": 987654}


async def test_compare_counts_assets_moves_and_anomalies(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    # Ten normal runs of 20 coins in ~10 s build the baseline.
    for i in range(10):
        await seed_run(
            engine,
            "coingecko",
            [rec(f"c{n}", price=str(100 + n), at=T0 + timedelta(hours=i)) for n in range(20)],
            started_at=T0 + timedelta(hours=i),
            duration_s=10 + i % 2,
        )
    a = await seed_run(
        engine,
        "coingecko",
        [rec(f"c{n}", price=str(100 + n), at=T0 + timedelta(hours=20)) for n in range(20)],
        started_at=T0 + timedelta(hours=20),
        duration_s=10.5,
    )
    # Run b: 5 coins gone, 2 new, big moves, and far slower and smaller than usual.
    moves = {"c0": "150", "c1": "50", "c2": "100.0000000001", "c3": "130"}
    b_records = [
        rec(f"c{n}", price=moves.get(f"c{n}", str(100 + n)), at=T0 + timedelta(hours=21))
        for n in range(15)
    ]
    b_records += [rec("new1", price="1"), rec("new2", price="2")]
    b = await seed_run(
        engine, "coingecko", b_records, started_at=T0 + timedelta(hours=21), duration_s=95.0
    )

    resp = await api_client.get("/api/v1/runs/compare", params={"a": a.run_id, "b": b.run_id})
    assert resp.status_code == 200, resp.text
    RunCompareResponse.model_validate(resp.json())
    data = resp.json()["data"]
    assert data["same_source"] is True
    assert data["deltas"]["fetched"] == {"a": 20, "b": 17, "delta": -3, "pct": -15.0}
    assert data["deltas"]["duration_s"]["delta"] == 84.5
    assets = data["assets"]
    assert (assets["in_a"], assets["in_b"], assets["in_both"]) == (20, 17, 15)
    assert {x["symbol"] for x in assets["added"]} == {"NEW1", "NEW2"}
    assert {x["symbol"] for x in assets["removed"]} == {f"C{n}" for n in range(15, 20)}
    moves_out = data["price_moves"]
    assert len(moves_out) == 10
    assert [m["symbol"] for m in moves_out[:2]] in (["C0", "C1"], ["C1", "C0"])
    c0 = next(m for m in moves_out if m["symbol"] == "C0")
    assert (c0["price_a"], c0["price_b"], c0["change_pct"]) == ("100", "150", "50")
    c1 = next(m for m in moves_out if m["symbol"] == "C1")
    assert c1["change_pct"] == "-50.495"
    assert abs(float(moves_out[0]["change_pct"])) >= abs(float(moves_out[-1]["change_pct"]))

    anomalies = data["anomalies"]
    assert anomalies["a"]["anomalous"] is False
    flags_b = {f["metric"]: f for f in anomalies["b"]["flags"]}
    # 15% fewer records than an always-identical baseline (MAD 0) and 9x slower: both flagged.
    assert set(flags_b) == {"fetched", "duration_s"}, anomalies["b"]
    assert "15% below the median 20" in flags_b["fetched"]["explanation"]
    assert "784% above the median 10.75" in flags_b["duration_s"]["explanation"]
    assert len(anomalies["b"]["baseline_run_ids"]) == 10
    assert "median" in anomalies["b"]["method"]


async def test_compare_errors(engine: AsyncEngine, api_client: httpx.AsyncClient) -> None:
    run = await seed_run(engine, "csv", [rec("x", source="csv")])
    missing = await api_client.get("/api/v1/runs/compare", params={"a": run.run_id, "b": 55555})
    assert missing.status_code == 404 and "55555" in missing.json()["error"]["message"]
    assert (
        await api_client.get("/api/v1/runs/compare", params={"a": run.run_id})
    ).status_code == 422
    same = await api_client.get("/api/v1/runs/compare", params={"a": run.run_id, "b": run.run_id})
    assert same.status_code == 200
    notes = same.json()["data"]["anomalies"]["a"]["notes"]
    assert "at least 3" in notes[0]
