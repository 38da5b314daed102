"""Reads from a real hot standby (``pg_basebackup -R``, streaming from a throwaway primary):
what is served from where, the page cache under replication lag, a client that reads right
after triggering a run, and the standby going away.

Replication lag is made on demand by pausing WAL replay on the standby
(``pg_wal_replay_pause()``): the primary's commits wait in the standby's WAL, exactly as
they do behind a slow or distant replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.store.engine import create_engine
from tests.fixtures.api import AUTH, T0, make_settings, rec, running_app, seed_run, wait_for_run
from tests.fixtures.api import write_csv as write_markets_csv
from tests.fixtures.replica import StandbyPair, set_replay, standby_pair, wait_replayed

__all__ = ["standby_pair"]  # the module-scoped fixture, used below

pytestmark = pytest.mark.slow


def url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture
def database(standby_pair: StandbyPair) -> Iterator[str]:
    """A fresh migrated database on the primary (and so on the standby), the standby
    running and replaying whatever an earlier test left it doing."""
    if not standby_pair.standby.running():
        standby_pair.standby.start()
    asyncio.run(set_replay(standby_pair.standby_dsn("postgres"), paused=False))
    yield standby_pair.create_database()
    asyncio.run(set_replay(standby_pair.standby_dsn("postgres"), paused=False))


@pytest.fixture
async def primary(standby_pair: StandbyPair, database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url(standby_pair.primary_dsn(database)), pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


def replica_settings(pair: StandbyPair, database: str, tmp_path: Path, **extra: Any) -> Any:
    return make_settings(
        url(pair.primary_dsn(database)),
        tmp_path,
        read_database_url=[url(pair.standby_dsn(database))],
        **extra,
    )


async def symbols(client: httpx.AsyncClient, **params: Any) -> list[str]:
    resp = await client.get("/api/v1/data", params={"limit": 100, **params})
    assert resp.status_code == 200, resp.text
    return sorted(row["symbol"] for row in resp.json()["data"])


async def test_reads_come_from_the_standby_and_its_pages_follow_its_own_replay(
    standby_pair: StandbyPair, database: str, primary: AsyncEngine, tmp_path: Path
) -> None:
    standby = standby_pair.standby_dsn(database)
    await seed_run(primary, "coingecko", [rec("alpha", symbol="AAA")])
    await wait_replayed(standby_pair.primary_dsn(database), standby)
    async with running_app(replica_settings(standby_pair, database, tmp_path)) as client:
        assert await symbols(client) == ["AAA"]

        await set_replay(standby, paused=True)
        await seed_run(primary, "coingecko", [rec("beta", symbol="BBB", at=T0)])
        # The primary has BBB; the reads do not: they are served by the paused standby.
        # (Asked twice: the second answer comes from the page cache, filed under the
        # standby's data version, which the primary's commit did not change.)
        assert await symbols(client) == ["AAA"]
        assert await symbols(client) == ["AAA"]
        health = (await client.get("/health")).json()
        assert health["status"] == "ok"
        assert health["reads"]["from"] == "replica 1"
        (replica,) = health["reads"]["replicas"]
        assert replica["status"] == "ok"
        assert replica["in_recovery"] is True
        assert replica["replay_paused"] is True
        assert replica["replay_lag_s"] > 0

        await set_replay(standby, paused=False)
        await wait_replayed(standby_pair.primary_dsn(database), standby)
        # The standby replayed the commit: its data version moved, the cached page is gone.
        # (A cache tagged with the primary's version would serve the stale page forever:
        # the primary has not changed since that page was filed.)
        assert await symbols(client) == ["AAA", "BBB"]
        health = (await client.get("/health")).json()
        assert health["reads"]["replicas"][0]["replay_lag_s"] == 0


async def test_a_client_that_triggers_a_run_sees_the_run_at_once_and_its_rows_after_replay(
    standby_pair: StandbyPair, database: str, tmp_path: Path
) -> None:
    """The documented behaviour under lag: run state is read on the primary, market data on
    the replica, which shows a run's rows once it has replayed them."""
    standby = standby_pair.standby_dsn(database)
    write_markets_csv(tmp_path / "markets.csv", 5)
    async with running_app(replica_settings(standby_pair, database, tmp_path)) as client:
        await set_replay(standby, paused=True)
        resp = await client.post("/api/v1/runs", json={"source": "csv"}, headers=AUTH)
        assert resp.status_code == 202, resp.text
        run_id = resp.json()["data"]["runs"][0]["run_id"]
        run = await wait_for_run(client, run_id)  # /runs/{id}: the primary, found at once
        assert (run["status"], run["loaded"]) == ("success", 5)
        assert await symbols(client, source="csv") == []  # not replayed yet
        stats = (await client.get("/api/v1/stats")).json()["data"]
        assert stats["sources"]["csv"]["last_run_status"] == "success"  # the primary

        await set_replay(standby, paused=False)
        await wait_replayed(standby_pair.primary_dsn(database), standby)
        assert await symbols(client, source="csv") == ["C0", "C1", "C2", "C3", "C4"]


async def _concurrent_pages(client: httpx.AsyncClient, names: list[str]) -> list[httpx.Response]:
    return list(
        await asyncio.gather(
            *(client.get("/api/v1/data", params={"symbol": n, "limit": 10}) for n in names)
        )
    )


async def test_the_standby_going_away_falls_back_to_the_primary_and_back(
    standby_pair: StandbyPair, database: str, primary: AsyncEngine, tmp_path: Path
) -> None:
    names = [f"S{i}" for i in range(8)]
    await seed_run(primary, "coingecko", [rec(n.lower(), symbol=n) for n in names])
    await wait_replayed(standby_pair.primary_dsn(database), standby_pair.standby_dsn(database))
    settings = replica_settings(standby_pair, database, tmp_path, read_retry_seconds=0.5)
    async with running_app(settings) as client:
        assert [r.status_code for r in await _concurrent_pages(client, names)] == [200] * 8
        try:
            await asyncio.to_thread(standby_pair.standby.stop)  # immediate: like a crash
            for _ in range(3):
                # Every page is its own query's, whichever database answered it.
                for name, resp in zip(names, await _concurrent_pages(client, names), strict=True):
                    assert resp.status_code == 200, resp.text
                    assert [row["symbol"] for row in resp.json()["data"]] == [name]
            health = await client.get("/health")
            assert health.status_code == 200
            body = health.json()
            assert body["status"] == "degraded"
            assert body["reads"]["from"] == "primary"
            assert body["reads"]["replicas"][0]["status"] == "error"
        finally:
            await asyncio.to_thread(standby_pair.standby.start)
        await asyncio.sleep(0.6)  # the retry delay: the replica is tried again
        assert await symbols(client, symbol="S3") == ["S3"]
        body = (await client.get("/health")).json()
        assert (body["status"], body["reads"]["from"]) == ("ok", "replica 1")


async def test_without_fallback_a_missing_standby_is_a_clean_503(
    standby_pair: StandbyPair, database: str, primary: AsyncEngine, tmp_path: Path
) -> None:
    await seed_run(primary, "coingecko", [rec("alpha", symbol="AAA")])
    await wait_replayed(standby_pair.primary_dsn(database), standby_pair.standby_dsn(database))
    settings = replica_settings(standby_pair, database, tmp_path, read_fallback="fail")
    async with running_app(settings) as client:
        assert await symbols(client) == ["AAA"]  # cached on the standby's version
        try:
            await asyncio.to_thread(standby_pair.standby.stop)
            for path in ("/api/v1/data", "/api/v1/assets", "/api/v1/assets/top"):
                resp = await client.get(path)
                assert resp.status_code == 503, (path, resp.text)
                error = resp.json()["error"]
                assert error["code"] == "database_unavailable"
                assert resp.headers["Retry-After"] == "5"
            health = await client.get("/health")
            assert health.status_code == 503
            body = health.json()
            assert body["database"]["status"] == "ok"  # the primary is fine...
            assert body["reads"]["replicas"][0]["status"] == "error"  # ...reads are not
            # Run state is still the primary's.
            assert (await client.get("/api/v1/runs")).status_code == 200
        finally:
            await asyncio.to_thread(standby_pair.standby.start)
