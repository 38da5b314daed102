"""Triggering runs: fail-closed auth, 202 with run ids, 409 on conflicts, rate limits."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.api.config import ApiConfig
from kasparro.runs import repository as repo
from kasparro.runs.pipeline import Pipeline
from kasparro.runs.result import RunResult
from kasparro.settings import Settings
from tests.fixtures.api import (
    AUTH,
    TOKEN,
    make_settings,
    offline_settings,
    running_app,
    wait_for_run,
    write_csv,
)
from tests.fixtures.etl import VENUE_NAMES

OTHER_OWNER = "another-host:4242:cafebabe"  # a live holder on another machine


async def _hold_lease(engine: AsyncEngine, source: str) -> None:
    async with engine.begin() as conn:
        assert await repo.try_acquire_lease(conn, f"source:{source}", OTHER_OWNER, 120)


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_no_token_configured_fails_closed(db_url: str, tmp_path: Path, method: str) -> None:
    settings = make_settings(db_url, tmp_path, api_token=None)
    async with running_app(settings) as client:
        for headers in ({}, AUTH, {"Authorization": "Bearer "}):
            if method == "POST":
                resp = await client.post("/api/v1/runs", json={"source": "csv"}, headers=headers)
            else:
                resp = await client.get(
                    "/api/v1/trigger-etl", params={"source": "csv"}, headers=headers
                )
            assert resp.status_code == 403
            err = resp.json()["error"]
            assert err["code"] == "trigger_disabled"
            assert err["message"] == "KASPARRO_API_TOKEN is not set; triggering runs is disabled"
        runs = await client.get("/api/v1/runs")
        assert runs.json()["data"] == []


async def test_blank_token_also_means_disabled(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path, api_token=SecretStr("   "))
    async with running_app(settings) as client:
        resp = await client.post(
            "/api/v1/runs", json={"source": "csv"}, headers={"Authorization": "Bearer    "}
        )
        assert resp.status_code == 403


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_missing_or_wrong_token_is_401(api_client: httpx.AsyncClient, method: str) -> None:
    cases = [
        ({}, 'Bearer realm="kasparro"', "missing bearer token"),
        ({"Authorization": f"Bearer {TOKEN}x"}, 'error="invalid_token"', "invalid bearer token"),
        ({"Authorization": f"Bearer {TOKEN[:-1]}"}, 'error="invalid_token"', "invalid bearer"),
        ({"Authorization": f"Basic {TOKEN}"}, "Bearer", "missing bearer token"),
        ({"Authorization": TOKEN}, "Bearer", "missing bearer token"),
    ]
    for headers, challenge, message in cases:
        if method == "POST":
            # An invalid body too: authentication is decided first.
            resp = await api_client.post("/api/v1/runs", json={"source": "nope"}, headers=headers)
        else:
            resp = await api_client.get(
                "/api/v1/trigger-etl", params={"source": "csv"}, headers=headers
            )
        assert resp.status_code == 401, (headers, resp.text)
        assert challenge in resp.headers["www-authenticate"]
        assert resp.json()["error"]["code"] == "unauthorized"
        assert message in resp.json()["error"]["message"]
        assert TOKEN not in resp.text


async def test_trigger_csv_run_end_to_end(
    api_client: httpx.AsyncClient, api_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    write_csv(api_settings.sources["csv"]["paths"][0], 12)
    resp = await api_client.post("/api/v1/runs", json={"source": "csv"}, headers=AUTH)
    assert resp.status_code == 202, resp.text
    (run,) = resp.json()["data"]["runs"]
    assert run["status"] == "started" and run["source"] == "csv"
    assert resp.headers["location"] == f"/api/v1/runs/{run['run_id']}" == run["url"]
    finished = await wait_for_run(api_client, run["run_id"])
    assert finished["status"] == "success" and finished["trigger"] == "api"
    assert finished["loaded"] == 12
    data = await api_client.get("/api/v1/data", params={"source": "csv", "limit": 1000})
    assert data.json()["meta"]["count"] == 12
    assert TOKEN not in capsys.readouterr().out + capsys.readouterr().err


async def test_get_alias_triggers_too(
    api_client: httpx.AsyncClient, api_settings: Settings
) -> None:
    write_csv(api_settings.sources["csv"]["paths"][0], 3)
    resp = await api_client.get("/api/v1/trigger-etl", params={"source": "csv"}, headers=AUTH)
    assert resp.status_code == 202
    run_id = resp.json()["data"]["runs"][0]["run_id"]
    assert (await wait_for_run(api_client, run_id))["status"] == "success"


async def test_invalid_requests_are_422(api_client: httpx.AsyncClient) -> None:
    for body in ({"source": "bitstamp"}, {}, {"source": "csv", "extra": 1}, {"source": 3}, []):
        resp = await api_client.post("/api/v1/runs", json=body, headers=AUTH)
        assert resp.status_code == 422, body
        assert resp.json()["error"]["code"] == "validation_error"
    unknown = await api_client.post("/api/v1/runs", json={"source": "bitstamp"}, headers=AUTH)
    assert "Input should be 'coingecko'" in unknown.json()["error"]["message"]
    broken = await api_client.post(
        "/api/v1/runs", content=b"{not json", headers={**AUTH, "content-type": "application/json"}
    )
    assert broken.status_code == 422
    alias = await api_client.get("/api/v1/trigger-etl", params={"source": "bitstamp"}, headers=AUTH)
    assert alias.status_code == 422


async def test_409_while_another_process_holds_the_lease(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    async with running_app(offline_settings(db_url, tmp_path)) as client:
        write_csv(tmp_path / "markets.csv", 2)
        await _hold_lease(engine, "csv")
        resp = await client.post("/api/v1/runs", json={"source": "csv"}, headers=AUTH)
        assert resp.status_code == 409
        err = resp.json()["error"]
        assert err["code"] == "already_running"
        assert err["details"][0]["lease_holder"] == OTHER_OWNER
        alias = await client.get("/api/v1/trigger-etl", params={"source": "csv"}, headers=AUTH)
        assert alias.status_code == 409

        # "all": busy sources are skipped, the free one starts.
        venues = [n for v in VENUE_NAMES for n in (v, f"{v}_markets")]
        for busy in ("coingecko", "coinpaprika", "coingecko_reference", "coinpaprika_reference",
                     *venues):  # fmt: skip
            await _hold_lease(engine, busy)
        async with engine.begin() as conn:
            await repo.release_lease(conn, "source:csv", OTHER_OWNER)
        resp = await client.post("/api/v1/runs", json={"source": "all"}, headers=AUTH)
        assert resp.status_code == 202
        by_source = {r["source"]: r for r in resp.json()["data"]["runs"]}
        assert by_source["csv"]["status"] == "started"
        assert by_source["coingecko"]["status"] == by_source["coinpaprika"]["status"] == "skipped"
        assert "location" in resp.headers
        await wait_for_run(client, by_source["csv"]["run_id"])


async def test_expired_lease_does_not_block(
    engine: AsyncEngine, api_client: httpx.AsyncClient, api_settings: Settings
) -> None:
    write_csv(api_settings.sources["csv"]["paths"][0], 2)
    async with engine.begin() as conn:
        await repo.try_acquire_lease(conn, "source:csv", OTHER_OWNER, 120)
        from sqlalchemy import update

        from kasparro.store.schema import leases

        await conn.execute(update(leases).values(expires_at=repo.utcnow() - timedelta(seconds=1)))
    resp = await api_client.post("/api/v1/runs", json={"source": "csv"}, headers=AUTH)
    assert resp.status_code == 202


async def test_409_while_this_app_runs_it_and_shutdown_stops_it(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    write_csv(tmp_path / "markets.csv", 3000)
    # One row per page and per transaction (pages ready together would share one): 3000
    # transactions, slow.
    settings = make_settings(db_url, tmp_path, csv_batch_rows=1, load_batch_rows=1)
    async with running_app(settings) as client:
        first = await client.post("/api/v1/runs", json={"source": "csv"}, headers=AUTH)
        assert first.status_code == 202
        run_id = first.json()["data"]["runs"][0]["run_id"]
        again = await client.post("/api/v1/runs", json={"source": "csv"}, headers=AUTH)
        assert again.status_code == 409
        assert "already running" in again.json()["error"]["message"]
        stats = (await client.get("/api/v1/stats")).json()["data"]["sources"]["csv"]
        assert stats["running"] is True
        await asyncio.sleep(0.2)  # let a few pages commit
    # Lifespan shutdown stopped the run between pages: recorded with its reason, lease freed,
    # checkpoint kept for the next run to resume.
    async with engine.connect() as conn:
        run = await repo.get_run(conn, run_id)
        holder, _ = await repo.lease_holder(conn, "source:csv")
        checkpoint = await repo.get_checkpoint(conn, "csv")
    assert run is not None and run["status"] == "failed"
    assert "API is shutting down" in (run["error"] or "")
    assert 0 < run["pages"] < 3000
    assert holder is None
    assert checkpoint is not None and checkpoint["in_progress"] is True


async def test_rate_limit_429_with_retry_after(db_url: str, tmp_path: Path) -> None:
    write_csv(tmp_path / "markets.csv", 2)
    config = ApiConfig(trigger_rate_per_minute=1, trigger_burst=2)
    async with running_app(make_settings(db_url, tmp_path), config=config) as client:
        for _ in range(5):  # failed authentication does not spend the caller's budget
            assert (await client.post("/api/v1/runs", json={"source": "csv"})).status_code == 401
        first = await client.post("/api/v1/runs", json={"source": "csv"}, headers=AUTH)
        assert first.status_code == 202
        await wait_for_run(client, first.json()["data"]["runs"][0]["run_id"])
        second = await client.get("/api/v1/trigger-etl", params={"source": "csv"}, headers=AUTH)
        assert second.status_code == 202
        third = await client.post("/api/v1/runs", json={"source": "csv"}, headers=AUTH)
        assert third.status_code == 429
        assert third.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(third.headers["retry-after"]) <= 60
        await wait_for_run(client, second.json()["data"]["runs"][0]["run_id"])
    # Budgets are per client address.
    async with running_app(
        make_settings(db_url, tmp_path), config=config, client_host="198.51.100.1"
    ) as other:
        assert (
            await other.post("/api/v1/runs", json={"source": "csv"}, headers=AUTH)
        ).status_code == 202


async def test_a_run_seen_finished_can_be_triggered_again_at_once(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run's final status and its lease release commit together; its task then still has a
    # tail (another lease release, metrics, logging). Stretch that tail: a client that saw
    # the run finish and triggers again straight away got a spurious 409 from it.
    original = Pipeline.run

    async def slow_tail(self: Pipeline, *args: object, **kwargs: object) -> RunResult:
        result = await original(self, *args, **kwargs)  # type: ignore[arg-type]
        await asyncio.sleep(0.5)
        return result

    monkeypatch.setattr(Pipeline, "run", slow_tail)
    write_csv(tmp_path / "markets.csv", 2)
    async with running_app(make_settings(db_url, tmp_path)) as client:
        first = await client.post("/api/v1/runs", json={"source": "csv"}, headers=AUTH)
        assert first.status_code == 202
        run = await wait_for_run(client, first.json()["data"]["runs"][0]["run_id"])
        assert run["status"] == "success"
        again = await client.post("/api/v1/runs", json={"source": "csv"}, headers=AUTH)
        assert again.status_code == 202, again.text
        await wait_for_run(client, again.json()["data"]["runs"][0]["run_id"])


async def test_malformed_json_is_described_as_the_body(api_client: httpx.AsyncClient) -> None:
    # The decoder's character offset came back as a field name: "request body field '23'".
    headers = {**AUTH, "Content-Type": "application/json"}
    for path, raw, position in [
        ("/api/v1/runs", b'{"source": "coingecko",,}', 23),
        ("/api/v1/backfills", b'{"top": 3', 9),
        ("/api/v1/identity/decisions", b"{'decision': 'accept'}", 1),
    ]:
        resp = await api_client.post(path, content=raw, headers=headers)
        assert resp.status_code == 422, resp.text
        error = resp.json()["error"]
        assert error["message"].startswith("request body: not valid JSON: "), error
        assert error["message"].endswith(f" at character {position}"), error
        assert "field" not in error["message"]
        assert error["details"] == [
            {
                "loc": "body",
                "message": error["message"].removeprefix("request body: "),
                "type": "json_invalid",
                "position": position,
            }
        ]
