"""/stats figures, and the page cache never serving data older than the last commit."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.api.ops_schemas import StatsResponse
from kasparro.store.schema import drift_events, quarantine, scheduler_state
from tests.fixtures.api import T0, rec, seed_run


async def test_stats_per_source(engine: AsyncEngine, api_client: httpx.AsyncClient) -> None:
    await seed_run(
        engine,
        "coingecko",
        [rec("bitcoin"), rec("ethereum")],
        checkpoint={"next_page": 2, "in_progress": False},
        started_at=T0,
        duration_s=4,
    )
    await seed_run(
        engine,
        "coingecko",
        [],
        status="failed",
        error="HTTP 500",
        started_at=T0 + timedelta(minutes=10),
        duration_s=2,
    )
    await seed_run(
        engine,
        "coingecko",
        [rec("solana")],
        status="partial",
        rejected=3,
        started_at=T0 + timedelta(minutes=20),
        duration_s=6,
    )
    await seed_run(engine, "csv", [rec("x", source="csv")], started_at=T0, duration_s=1)
    now = T0 + timedelta(hours=1)
    async with engine.begin() as conn:
        await conn.execute(
            insert(scheduler_state).values(
                source="coingecko",
                next_run_at=now,
                last_tick_at=T0,
                consecutive_failures=0,
                heartbeat_at=T0,
            )
        )
        await conn.execute(
            insert(drift_events).values(
                source="coingecko",
                endpoint="/coins/markets",
                field="current_price",
                kind="missing",
                count=4,
                first_seen_at=T0,
                last_seen_at=T0,
            )
        )
        await conn.execute(
            insert(quarantine).values(
                source="coingecko",
                fingerprint="f" * 64,
                reason="bad price",
                raw="{}",
                first_run_id=1,
                last_run_id=1,
                seen_count=2,
                first_seen_at=T0,
                last_seen_at=T0,
            )
        )

    resp = await api_client.get("/api/v1/stats")
    assert resp.status_code == 200
    StatsResponse.model_validate(resp.json())
    data = resp.json()["data"]
    assert data["total_records_processed"] == 2 + 0 + 4 + 1
    assert data["records"] == {"fetched": 7, "loaded": 4, "unchanged": 0, "rejected": 3}
    gecko = data["sources"]["coingecko"]
    assert gecko["last_run_status"] == "partial"
    assert gecko["last_run_at"] == "2024-05-01T12:20:00.000000Z"
    assert gecko["last_success_at"] == "2024-05-01T12:20:06.000000Z"
    assert gecko["last_failure_at"] == "2024-05-01T12:10:02.000000Z"
    assert gecko["last_duration_s"] == 6.0
    assert gecko["success_rate"] == round(2 / 3, 4) and gecko["success_rate_runs"] == 3
    assert gecko["runs"] == 3
    assert gecko["checkpoint"]["state"] == {"next_page": 2, "in_progress": False}
    assert gecko["next_run_at"] == "2024-05-01T13:00:00.000000Z"
    assert (gecko["drift_events"], gecko["drift_occurrences"]) == (1, 4)
    assert (gecko["quarantined_records"], gecko["quarantine_times_seen"]) == (1, 2)
    assert gecko["running"] is False
    assert data["sources"]["coinpaprika"]["last_run_status"] is None
    assert data["sources"]["coinpaprika"]["success_rate"] is None
    window = await api_client.get("/api/v1/stats", params={"window": 1})
    assert window.json()["data"]["sources"]["coingecko"]["success_rate"] == 1.0


async def test_cache_never_serves_stale_pages(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    await seed_run(engine, "coingecko", [rec("bitcoin", price="1")])
    first = await api_client.get("/api/v1/data")
    again = await api_client.get("/api/v1/data")
    assert first.json()["data"] == again.json()["data"]
    # Fresh meta on every response, even when the page comes from the cache.
    assert first.json()["meta"]["request_id"] != again.json()["meta"]["request_id"]
    await seed_run(engine, "coingecko", [rec("bitcoin", price="2", at=T0 + timedelta(minutes=1))])
    after = await api_client.get("/api/v1/data")
    assert [r["price_usd"] for r in after.json()["data"]] == ["2", "1"]
    latest = await api_client.get("/api/v1/data", params={"latest": "true"})
    assert [r["price_usd"] for r in latest.json()["data"]] == ["2"]
    await seed_run(engine, "coingecko", [rec("bitcoin", price="3", at=T0 + timedelta(minutes=2))])
    latest = await api_client.get("/api/v1/data", params={"latest": "true"})
    assert [r["price_usd"] for r in latest.json()["data"]] == ["3"]
