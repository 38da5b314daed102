"""POST /api/v1/backfills: a caller's mistake (an asset id that names no asset, assets no
chosen source lists, a time that is not one) is a 422 naming it, and no run is recorded;
a merged asset's id means the asset it was merged into, as everywhere in the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.emulator import EmulatorConfig
from kasparro.timetext import WHEN_PATTERN
from tests.fixtures.api import (
    AUTH,
    make_settings,
    offline_settings,
    rec,
    running_app,
    seed_run,
    wait_for_run,
)
from tests.fixtures.emulator import EmulatorFactory
from tests.fixtures.etl import rows, run_etl
from tests.runs.test_pipeline_http import emu_settings

WHEN = "not a date, timestamp or duration (e.g. 7d, 2024-05-01, 2024-05-01T00:00:00Z)"


async def _history_runs(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    return await rows(
        engine, "SELECT source, status FROM runs WHERE source LIKE '%_history' ORDER BY id"
    )


async def _refused(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/api/v1/backfills", json=body, headers=AUTH)
    assert resp.status_code == 422, resp.text
    error: dict[str, Any] = resp.json()["error"]
    assert error["code"] == "validation_error", error
    return error


async def test_unknown_and_unlisted_assets_are_422_and_record_no_run(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    gecko = (await seed_run(engine, "coingecko", [rec("bitcoin", symbol="BTC")])).asset_ids
    mine = (await seed_run(engine, "csv", [rec("my-token", source="csv", symbol="MYT")])).asset_ids
    bitcoin, token = gecko["bitcoin"], mine["my-token"]
    async with running_app(offline_settings(db_url, tmp_path)) as client:
        error = await _refused(client, {"asset_ids": [999999], "since": "2d"})
        assert error["message"] == "asset 999999 does not exist"
        assert error["details"] == [
            {
                "loc": "body.asset_ids",
                "message": "asset 999999 does not exist",
                "type": "unknown_asset",
                "asset_ids": [999999],
            }
        ]
        # Every unknown id is named (once), whatever else is asked.
        error = await _refused(client, {"asset_ids": [999999, bitcoin, 999998, 999999]})
        assert error["message"] == "assets 999999, 999998 do not exist"
        assert error["details"][0]["asset_ids"] == [999999, 999998]
        # An asset that exists but no chosen source lists: nothing to backfill, said as such
        # (not "run kasparro etl run first": its market data is there).
        error = await _refused(client, {"asset_ids": [token]})
        assert error["message"] == (
            f"nothing to backfill: asset {token} is not listed by coingecko or coinpaprika"
        )
        assert error["details"][0]["type"] == "not_listed"
        assert error["details"][0]["loc"] == "body.asset_ids"
        error = await _refused(client, {"source": "coinpaprika", "asset_ids": [bitcoin]})
        assert error["message"] == (
            f"nothing to backfill: asset {bitcoin} is not listed by coinpaprika "
            "(listed by coingecko)"
        )
        listed = (await client.get("/api/v1/runs", params={"limit": 100})).json()["data"]
        assert {r["source"] for r in listed} == {"coingecko", "csv"}  # the seeded runs only
    assert await _history_runs(engine) == []


async def test_a_time_that_is_not_one_is_the_clis_sentence_not_a_pattern(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    async with running_app(offline_settings(db_url, tmp_path)) as client:
        for field, value in [("since", "yesterday"), ("until", "tomorrow"), ("since", "1y")]:
            error = await _refused(client, {"top": 3, field: value})
            assert error["message"] == f"{field}: {WHEN}", error
            assert error["details"] == [
                {
                    "loc": f"body.{field}",
                    "message": f"{field}: {WHEN}",
                    "type": "datetime_parsing",
                    "input": value,
                }
            ]
        # A date not on the calendar passes the pattern and is refused by the same parser.
        error = await _refused(client, {"top": 3, "since": "2024-02-30"})
        assert error["message"] == f"since: {WHEN}"
        # The schema still publishes exactly the forms the parser reads.
        spec = (await client.get("/openapi.json")).json()
        fields = spec["components"]["schemas"]["BackfillRequest"]["properties"]
        assert fields["since"]["pattern"] == fields["until"]["pattern"] == WHEN_PATTERN
    assert await _history_runs(engine) == []


async def test_merged_ids_resolve_and_a_source_that_lists_none_is_skipped(
    engine: AsyncEngine, db_url: str, tmp_path: Path, emulator_factory: EmulatorFactory
) -> None:
    # The universe where CoinPaprika's USDC starts as an asset of its own, merged into
    # CoinGecko's once reference data links them (tests/api/test_identity.py).
    emu = emulator_factory(EmulatorConfig(coins=400, seed=1, anchor="now"))
    settings = emu_settings(db_url, emu, coingecko_max_coins="all")
    await run_etl(engine, settings, "coingecko", "coinpaprika")
    await run_etl(engine, settings, "coingecko_reference", "coinpaprika_reference")
    ((merged, usdc),) = await rows(
        engine,
        "SELECT a.id, a.alias_of FROM assets a JOIN asset_events e ON e.from_asset_id = a.id"
        " WHERE e.kind = 'merge' AND a.alias_of = (SELECT asset_id FROM asset_mappings"
        " WHERE source = 'coingecko' AND source_asset_id = 'usd-coin')",
    )
    gecko_only = (
        await rows(
            engine,
            "SELECT asset_id FROM asset_mappings m WHERE source = 'coingecko' AND NOT EXISTS"
            " (SELECT 1 FROM asset_mappings p WHERE p.asset_id = m.asset_id"
            " AND p.source = 'coinpaprika') ORDER BY asset_id",
        )
    )[0][0]
    app_settings = make_settings(
        db_url,
        tmp_path,
        coingecko_base_url=emu.coingecko_base_url,
        coinpaprika_base_url=emu.coinpaprika_base_url,
    )
    async with running_app(app_settings) as client:
        # The merged id has no mapping of its own: it backfills the asset it resolves to.
        body = {"source": "coinpaprika", "asset_ids": [merged], "since": "7d"}
        started = await client.post("/api/v1/backfills", json=body, headers=AUTH)
        assert started.status_code == 202, started.text
        (run,) = started.json()["data"]["runs"]
        done = await wait_for_run(client, run["run_id"], within=60)
        assert done["status"] == "success" and done["pages"] == 1, done
        # All sources: the one that lists the asset runs; the other is skipped, with the
        # reason, and no run of it is recorded.
        body = {"asset_ids": [gecko_only], "since": "7d"}
        resp = await client.post("/api/v1/backfills", json=body, headers=AUTH)
        assert resp.status_code == 202, resp.text
        gecko, paprika = resp.json()["data"]["runs"]
        assert gecko["source"] == "coingecko_history" and gecko["status"] == "started"
        assert paprika == {
            "source": "coinpaprika_history",
            "status": "skipped",
            "run_id": None,
            "reason": f"nothing to backfill: asset {gecko_only} is not listed by coinpaprika",
            "url": None,
            "lease_holder": None,
            "lease_expires_at": None,
        }
        done = await wait_for_run(client, gecko["run_id"], within=60)
        assert done["status"] == "success" and done["pages"] == 1, done
        # Both listed somewhere: each source backfills the ones it lists, and its run says
        # which it leaves out.
        body = {"asset_ids": [gecko_only, merged], "since": "7d"}
        resp = await client.post("/api/v1/backfills", json=body, headers=AUTH)
        assert resp.status_code == 202, resp.text
        gecko, paprika = resp.json()["data"]["runs"]
        assert gecko["status"] == paprika["status"] == "started"
        assert gecko["reason"] is None
        assert paprika["reason"] == (
            f"asset {gecko_only} is not listed by coinpaprika: not backfilled from it"
        )
        for run in (gecko, paprika):
            done = await wait_for_run(client, run["run_id"], within=60)
            assert done["status"] == "success", done
    assert sorted(await _history_runs(engine)) == [
        *[("coingecko_history", "success")] * 2,
        *[("coinpaprika_history", "success")] * 2,
    ]
    assert usdc != merged
