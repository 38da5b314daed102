"""Identity over the API: link methods and evidence, merged ids, the review queue, decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.emulator import EmulatorConfig
from tests.fixtures.api import AUTH, make_settings, rec, running_app, seed_reference, seed_run, walk
from tests.fixtures.emulator import EmulatorFactory
from tests.fixtures.etl import rows, run_etl
from tests.runs.test_pipeline_http import emu_settings

ALL = ("coingecko", "coinpaprika", "coingecko_reference", "coinpaprika_reference")


async def _asset_of(client: httpx.AsyncClient, source: str, sid: str) -> dict[str, Any]:
    params: dict[str, str | int] = {"source": source, "latest": "true", "limit": 1000}
    found: list[dict[str, Any]] = []
    while not found:  # the coin may be on any page: every page until it is met
        page = (await client.get("/api/v1/data", params=params)).json()
        found = [r for r in page["data"] if r["source_asset_id"] == sid]
        if not found:
            assert page["meta"]["has_more"], f"{source}:{sid} has no latest observation"
            params["cursor"] = page["meta"]["next_cursor"]
    (row,) = found
    asset = await client.get(f"/api/v1/assets/{row['asset']['id']}")
    assert asset.status_code == 200
    return dict(asset.json()["data"])


async def _loaded(engine: AsyncEngine, db_url: str, emu: Any) -> None:
    settings = emu_settings(db_url, emu, coingecko_max_coins="all")
    results = await run_etl(engine, settings, *ALL)
    assert all(r.status in ("success", "partial") for r in results.values()), results


async def test_an_asset_shows_every_source_id_with_its_link_method_and_evidence(
    engine: AsyncEngine, db_url: str, tmp_path: Path, emulator_factory: EmulatorFactory
) -> None:
    emu = emulator_factory(EmulatorConfig(coins=400, seed=1))
    # Market data first: USD Coin ("USDC" on CoinPaprika) starts as two assets.
    settings = emu_settings(db_url, emu, coingecko_max_coins="all")
    await run_etl(engine, settings, "coingecko", "coinpaprika")
    before = {
        source: dict(
            await rows(
                engine,
                "SELECT source_asset_id, asset_id FROM asset_mappings WHERE source = :s",
                s=source,
            )
        )
        for source in ("coingecko", "coinpaprika")
    }
    assert before["coingecko"]["usd-coin"] != before["coinpaprika"]["usdc-usd-coin"]
    await run_etl(engine, settings, "coingecko_reference", "coinpaprika_reference")
    async with running_app(make_settings(db_url, tmp_path)) as client:
        usdc = await _asset_of(client, "coingecko", "usd-coin")
        ids = {(m["source"], m["source_asset_id"]): m for m in usdc["mappings"]}
        paprika = ids[("coinpaprika", "usdc-usd-coin")]
        assert paprika["method"] == ids[("coingecko", "usd-coin")]["method"] == "contract"
        # The evidence for the pairing, weighed: the shared address on its chain first.
        strongest = paprika["evidence"]["for"][0]
        assert strongest["kind"] == "same_contract" and strongest["weight"] >= 8
        assert "ethereum 0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48" in strongest["detail"]
        assert paprika["evidence"]["with"] == "coingecko:usd-coin"
        assert set(usdc["latest"]) == {"coingecko", "coinpaprika"}
        # The asset CoinPaprika's USDC had answers with a redirect, not 404.
        old = {before["coingecko"]["usd-coin"], before["coinpaprika"]["usdc-usd-coin"]} - {
            usdc["id"]
        }
        (old_id,) = old
        assert {"asset_id": old_id} in [{"asset_id": m["asset_id"]} for m in usdc["merged_from"]]
        moved = await client.get(f"/api/v1/assets/{old_id}")
        assert moved.status_code == 308
        assert moved.headers["location"] == f"/api/v1/assets/{usdc['id']}"
        assert moved.json()["error"]["details"] == {"asset_id": old_id, "merged_into": usdc["id"]}
        history = await client.get(f"/api/v1/assets/{old_id}/history", params={"limit": 5})
        assert history.status_code == 308
        assert history.headers["location"] == f"/api/v1/assets/{usdc['id']}/history?limit=5"
        for _ in range(2):  # the second time from the cached empty page: still a 308
            buckets = await client.get(
                f"/api/v1/assets/{old_id}/history", params={"interval": "1d"}
            )
            assert buckets.status_code == 308
            assert buckets.headers["location"] == (
                f"/api/v1/assets/{usdc['id']}/history?interval=1d"
            )
        rate = await client.get(f"/api/v1/assets/{old_id}/rate", params={"interval": "1h"})
        assert rate.status_code == 308  # not a stale rate, nor a 404
        assert rate.headers["location"] == f"/api/v1/assets/{usdc['id']}/rate?interval=1h"
        followed = await client.get(history.headers["location"])
        assert {r["source"] for r in followed.json()["data"]} == {"coingecko", "coinpaprika"}
        by_old = await client.get("/api/v1/data", params={"asset_id": old_id})
        assert {r["asset"]["id"] for r in by_old.json()["data"]} == {usdc["id"]}
        listed = (await client.get("/api/v1/assets", params={"limit": 1000})).json()["data"]
        assert old_id not in {a["id"] for a in listed}


async def test_summary_review_queue_and_decisions(
    engine: AsyncEngine, db_url: str, tmp_path: Path, emulator_factory: EmulatorFactory
) -> None:
    emu = emulator_factory(EmulatorConfig(coins=2500, seed=1))
    await _loaded(engine, db_url, emu)
    async with running_app(make_settings(db_url, tmp_path)) as client:
        summary = (await client.get("/api/v1/identity")).json()["data"]
        assert summary["last_relink"]["status"] == "success"
        assert summary["reference"]["coingecko"]["coins"] == len(emu.state.universe.coingecko)
        assert summary["reference"]["coinpaprika"]["contracts"] > 500
        assert summary["links"]["coingecko"]["contract"] > 500
        assert summary["review"]["pending"] > 0
        assert summary["anomalies"]["contract_listed_for_two_coins"] > 0
        # A list like the others: the same meta, keyset pages (it had only request_id and
        # latency, and no way past its first page).
        first = (await client.get("/api/v1/identity/anomalies", params={"limit": 3})).json()
        quarantine = (await client.get("/api/v1/quarantine", params={"limit": 3})).json()
        assert set(first["meta"]) == set(quarantine["meta"])
        assert first["meta"]["count"] == 3 and first["meta"]["has_more"] is True
        assert (first["meta"]["sort"], first["meta"]["order"]) == ("id", "asc")
        anomalies = await walk(client, "/api/v1/identity/anomalies", {"limit": 7})
        assert anomalies[:3] == first["data"]
        ids = [a["id"] for a in anomalies]
        assert ids == sorted(set(ids)) and len(ids) == sum(summary["anomalies"].values())
        assert {a["kind"] for a in anomalies} >= {"contract_listed_for_two_coins"}
        one_kind = await walk(
            client,
            "/api/v1/identity/anomalies",
            {"kind": "contract_listed_for_two_coins", "limit": 5},
        )
        assert one_kind == [a for a in anomalies if a["kind"] == "contract_listed_for_two_coins"]

        queue = (await client.get("/api/v1/identity/review")).json()
        item = next(i for i in queue["data"] if i["reason"] == "same_name_but_contracts_differ")
        pair = {c["source"]: c for c in item["coins"]}
        assert set(pair) == {"coingecko", "coinpaprika"}
        assert pair["coingecko"]["contracts"] and pair["coinpaprika"]["contracts"]
        assert pair["coingecko"].get("asset_id") != pair["coinpaprika"].get("asset_id")
        # Weighed: the score and the evidence for and against it.
        assert item["score"] is not None and item["evidence"]["against"]
        # An asset id is there only when the coin is mapped: never a null.
        coins = [c for i in queue["data"] for c in i["coins"]]
        assert all(isinstance(c.get("asset_id", 0), int) for c in coins)
        path = f"/api/v1/identity/review/{item['id']}"
        # Changing identities takes the token, and fails closed without one.
        assert (await client.post(path, json={"decision": "accept"})).status_code == 401
        bad = await client.post(path, json={"decision": "maybe"}, headers=AUTH)
        assert bad.status_code == 422
        accepted = await client.post(
            path, json={"decision": "accept", "note": "migrated contract"}, headers=AUTH
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["data"]["relink"]["status"] == "success"
        cg_id, cp_id = pair["coingecko"]["id"], pair["coinpaprika"]["id"]
        asset = await _asset_of(client, "coingecko", cg_id)
        methods = {(m["source"], m["source_asset_id"]): m for m in asset["mappings"]}
        assert methods[("coinpaprika", cp_id)]["method"] == "manual"
        assert methods[("coinpaprika", cp_id)]["evidence"]["note"] == "migrated contract"
        decided = (
            await client.get("/api/v1/identity/review", params={"status": "accepted"})
        ).json()["data"]
        assert [d["id"] for d in decided] == [item["id"]]

        # Rejecting a linked pair splits it for good, observations included. Two coins of
        # any two sources: `a` and `b`.
        rejected = await client.post(
            "/api/v1/identity/decisions",
            json={
                "a": {"source": "coinpaprika", "id": cp_id},
                "b": {"source": "coingecko", "id": cg_id},
                "decision": "reject",
            },
            headers=AUTH,
        )
        assert rejected.status_code == 200, rejected.text
        out = rejected.json()["data"]
        assert (out["a"], out["b"]) == (
            {"source": "coingecko", "id": cg_id},
            {"source": "coinpaprika", "id": cp_id},
        )
        assert out["review_id"] == item["id"]  # the same pair, whichever order it is named in
        half = await client.post(
            "/api/v1/identity/decisions",
            json={"a": {"source": "coingecko", "id": cg_id}, "decision": "reject"},
            headers=AUTH,
        )
        assert half.status_code == 422
        unknown = await client.post(
            "/api/v1/identity/decisions",
            json={
                "a": {"source": "nosuch", "id": "x"},
                "b": {"source": "coingecko", "id": cg_id},
                "decision": "reject",
            },
            headers=AUTH,
        )
        assert unknown.status_code == 422
        gecko = await _asset_of(client, "coingecko", cg_id)
        assert {m["source"] for m in gecko["mappings"]} == {"coingecko"}
        assert set(gecko["latest"]) == {"coingecko"}
        missing = await client.post(
            "/api/v1/identity/review/999999", json={"decision": "accept"}, headers=AUTH
        )
        assert missing.status_code == 404


async def test_decisions_fail_closed_without_a_configured_token(
    db_url: str, tmp_path: Path
) -> None:
    async with running_app(make_settings(db_url, tmp_path, api_token=None)) as client:
        resp = await client.post(
            "/api/v1/identity/decisions",
            json={"coingecko_id": "a", "coinpaprika_id": "b", "decision": "accept"},
            headers=AUTH,
        )
    assert resp.status_code == 403


async def test_fresh_reference_data_is_not_fetched_again_unless_forced(
    engine: AsyncEngine, db_url: str, tmp_path: Path, emulator_factory: EmulatorFactory
) -> None:
    from tests.fixtures.api import wait_for_run

    emu = emulator_factory(EmulatorConfig(coins=300))
    settings = make_settings(
        db_url,
        tmp_path,
        coingecko_base_url=emu.coingecko_base_url,
        coinpaprika_base_url=emu.coinpaprika_base_url,
        reference_refresh_seconds=3600,
    )
    body = {"source": "coingecko_reference"}
    async with running_app(settings) as client:
        first = await client.post("/api/v1/runs", json=body, headers=AUTH)
        assert first.status_code == 202, first.text
        run = await wait_for_run(client, first.json()["data"]["runs"][0]["run_id"])
        assert run["status"] == "success"
        await _idle(client)  # the relink after the run, done off the lease
        fresh = await client.post("/api/v1/runs", json=body, headers=AUTH)
        assert fresh.status_code == 409
        assert "fresh: refreshed" in fresh.json()["error"]["message"]
        forced = await client.post("/api/v1/runs", json={**body, "force": True}, headers=AUTH)
        assert forced.status_code == 202, forced.text
        await wait_for_run(client, forced.json()["data"]["runs"][0]["run_id"])
    requests = emu.state.stats()["coingecko"]["routes"]["/coins/list"]["requests"]
    assert requests == 2


async def _idle(client: httpx.AsyncClient) -> None:
    """Until the app's run manager has no task left (a finished run's relink included)."""
    import asyncio

    manager = client._transport.app.state.kasparro.runs  # type: ignore[attr-defined]
    for _ in range(1200):
        if not manager.active_sources():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("runs still active after 60 s")


async def test_a_coin_mapped_to_no_asset_has_no_asset_id(
    api_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # A decision may name coins no market run has seen (only in their coin lists): they map
    # to no asset. Their review entry said `"asset_id": null`, and a client (the schemathesis
    # link that follows asset ids) asked for /api/v1/assets/None.
    await seed_reference(engine, "coingecko", ["never-seen"])
    await seed_reference(engine, "coinpaprika", ["nvr-never-seen"])
    decided = await api_client.post(
        "/api/v1/identity/decisions",
        json={
            "coingecko_id": "never-seen",
            "coinpaprika_id": "nvr-never-seen",
            "decision": "reject",
        },
        headers=AUTH,
    )
    assert decided.status_code == 200, decided.text
    (item,) = (await api_client.get("/api/v1/identity/review?status=rejected")).json()["data"]
    coins = {c["source"]: c for c in item["coins"]}
    for side, sid in (("coingecko", "never-seen"), ("coinpaprika", "nvr-never-seen")):
        assert coins[side]["id"] == sid
        assert "asset_id" not in coins[side], coins[side]
    spec = (await api_client.get("/openapi.json")).json()
    coin = spec["components"]["schemas"]["CoinOut"]
    assert coin["properties"]["asset_id"]["type"] == "integer"
    assert "asset_id" not in coin["required"]


UNKNOWN = {"source": "coingecko", "id": "doesnotexist2"}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (
            {
                "a": UNKNOWN,
                "b": {"source": "coinpaprika", "id": "btc-bitcoin"},
                "decision": "accept",
            },
            "body.a.id",
        ),
        (
            {
                "a": {"source": "coinpaprika", "id": "btc-bitcoin"},
                "b": UNKNOWN,
                "decision": "reject",
            },
            "body.b.id",
        ),
        (
            {
                "coingecko_id": "doesnotexist2",
                "coinpaprika_id": "btc-bitcoin",
                "decision": "accept",
            },
            "body.coingecko_id",
        ),
    ],
    ids=["accept", "reject", "older-form"],
)
async def test_a_decision_on_an_unknown_coin_is_a_422_and_stores_nothing(
    api_client: httpx.AsyncClient, engine: AsyncEngine, body: dict[str, Any], loc: str
) -> None:
    # It was accepted (200), stored as a sticky decision that never applied, and counted.
    await seed_reference(engine, "coingecko", ["bitcoin"])
    await seed_run(engine, "coinpaprika", [rec("btc-bitcoin", source="coinpaprika")])
    resp = await api_client.post("/api/v1/identity/decisions", json=body, headers=AUTH)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    reason = "not in coingecko's coin list or market data"
    assert error["code"] == "validation_error"
    assert error["message"] == f"unknown coin coingecko:doesnotexist2 ({reason})"
    assert error["details"] == [
        {"loc": loc, "message": reason, "type": "unknown_coin", "input": "doesnotexist2"}
    ]
    summary = (await api_client.get("/api/v1/identity")).json()["data"]
    assert set(summary["review"].values()) == {0}
    # The same coins, known, as before.
    known = {"coingecko_id": "bitcoin", "coinpaprika_id": "btc-bitcoin", "decision": "accept"}
    resp = await api_client.post("/api/v1/identity/decisions", json=known, headers=AUTH)
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["status"] == "accepted"


async def test_a_decision_naming_one_coin_twice_is_a_422_and_stores_nothing(
    api_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await seed_reference(engine, "coingecko", ["bitcoin"])
    coin = {"source": "coingecko", "id": "bitcoin"}
    body = {"a": coin, "b": coin, "decision": "accept"}
    resp = await api_client.post("/api/v1/identity/decisions", json=body, headers=AUTH)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["message"] == "a decision names two coins: coingecko:bitcoin is named twice"
    assert [(d["loc"], d["type"]) for d in error["details"]] == [("body.b.id", "same_coin")]
    summary = (await api_client.get("/api/v1/identity")).json()["data"]
    assert set(summary["review"].values()) == {0}


async def test_an_unknown_review_status_names_the_statuses(api_client: httpx.AsyncClient) -> None:
    resp = await api_client.get("/api/v1/identity/review", params={"status": "bogus"})
    assert resp.status_code == 422
    message = resp.json()["error"]["message"]
    assert message.startswith("query parameter 'status': ")
    for status in ("pending", "accepted", "rejected", "obsolete"):
        assert f"'{status}'" in message
