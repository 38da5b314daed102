"""/health (200 healthy, 503 quickly when the database is down) and /metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.api.config import ApiConfig
from kasparro.api.ops_schemas import HealthResponse
from kasparro.scheduler import state as scheduler_state
from tests.fixtures.api import make_settings, rec, running_app, seed_run


async def test_health_ok_reports_db_runs_and_scheduler(
    engine: AsyncEngine, api_client: httpx.AsyncClient, dialect: str
) -> None:
    run = await seed_run(engine, "coingecko", [rec("bitcoin")], status="partial", rejected=1)
    resp = await api_client.get("/health")
    assert resp.status_code == 200
    body = resp.json()
    HealthResponse.model_validate(body)
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["database"]["dialect"] == ("sqlite" if dialect == "sqlite" else "postgresql")
    assert body["sources"]["coingecko"]["last_run_status"] == "partial"
    assert body["sources"]["coingecko"]["last_run_id"] == run.run_id
    assert body["sources"]["csv"]["last_run_status"] is None
    assert body["scheduler"]["in_process"] is False
    head = await api_client.head("/health")
    assert head.status_code == 200


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never answers (a hung database)."""

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def _unreachable_urls(tmp_path: Path) -> list[str]:
    return [
        "postgresql://postgres@127.0.0.1:1/kasparro",  # nothing listens on port 1
        f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/kasparro.db",
    ]


async def test_health_is_503_when_database_is_down(tmp_path: Path) -> None:
    for url in _unreachable_urls(tmp_path):
        async with running_app(make_settings(url, tmp_path)) as client:
            start = time.monotonic()
            resp = await client.get("/health")
            assert time.monotonic() - start < 5
            assert resp.status_code == 503, url
            body = resp.json()
            assert body["status"] == "unavailable"
            assert body["database"]["status"] == "error" and body["database"]["error"]
            assert body["error"]["code"] == "database_unavailable"
            assert resp.headers["retry-after"]
            # Other endpoints say so in the standard error shape.
            for path in ("/api/v1/data", "/api/v1/assets", "/api/v1/runs", "/api/v1/stats"):
                down = await client.get(path)
                assert down.status_code == 503, (url, path, down.text)
                assert down.json()["error"]["code"] == "database_unavailable"


async def test_health_does_not_hang_on_a_silent_database(
    silent_server: int, tmp_path: Path
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{silent_server}/kasparro"
    config = ApiConfig(health_timeout_seconds=0.5)
    async with running_app(make_settings(url, tmp_path), config=config) as client:
        start = time.monotonic()
        resp = await client.get("/health")
        assert resp.status_code == 503
        assert time.monotonic() - start < 3
        assert "no answer within 0.5 s" in resp.json()["database"]["error"]


async def test_unmigrated_database_is_503_with_a_hint(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    (tmp_path / "empty.db").write_bytes(b"")
    async with running_app(make_settings(url, tmp_path)) as client:
        resp = await client.get("/api/v1/data")
        assert resp.status_code == 503
        assert resp.json()["error"]["code"] == "database_not_migrated"
        assert "kasparro migrate" in resp.json()["error"]["message"]
        assert (await client.get("/health")).status_code == 503


async def _beat(engine: AsyncEngine, at: datetime) -> None:
    """What a scheduler process (`kasparro scheduler`, another replica) records."""
    async with engine.begin() as conn:
        await scheduler_state.ensure_rows(conn, ["coingecko", "csv"], at)
        await scheduler_state.heartbeat(conn, ["coingecko", "csv"], at)


async def test_a_dead_scheduler_is_stale_and_degrades_health(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    """`kasparro serve` has no scheduler of its own: the heartbeat a scheduler process
    recorded decides. One that stopped beating 125 s ago is dead."""
    await _beat(engine, datetime.now(UTC) - timedelta(seconds=125))
    body = (await api_client.get("/health")).json()
    assert body["scheduler"]["in_process"] is False
    assert body["scheduler"]["heartbeat_age_s"] > body["scheduler"]["stale_after_s"] == 30
    assert body["scheduler"]["stale"] is True
    assert body["status"] == "degraded"
    # Beating again: alive.
    await _beat(engine, datetime.now(UTC))
    body = (await api_client.get("/health")).json()
    assert body["scheduler"]["stale"] is False and body["status"] == "ok"
    assert 0 <= body["scheduler"]["heartbeat_age_s"] < 30


async def test_metrics_by_route_template(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    await seed_run(engine, "coingecko", [rec("bitcoin")])
    await api_client.get("/api/v1/data", params={"limit": 5})
    await api_client.get("/api/v1/assets/424242")
    await api_client.get("/api/v1/assets/1/history")
    await api_client.get("/definitely/not/here/123")
    resp = await api_client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert 'kasparro_http_requests_total{method="GET",route="/api/v1/data",status="200"}' in text
    assert 'route="/api/v1/assets/{asset_id}",status="404"' in text
    assert 'route="/api/v1/assets/{asset_id}/history"' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "/api/v1/assets/424242" not in text and "/definitely" not in text
    assert (
        'kasparro_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/data"}'
        in text
    )
    # The ETL metrics are exposed by the same endpoint.
    for name in (
        "kasparro_etl_runs_total",
        "kasparro_etl_records_total",
        "kasparro_etl_run_duration_seconds",
        "kasparro_upstream_requests_total",
    ):
        assert f"# TYPE {name}" in text
