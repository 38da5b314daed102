"""Coin pages for the pairs names and markets leave undecided, end to end on both stores:
a relink wants them, the reference sources fetch them inside their budgets, the next relink
weighs them (issue 16)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.emulator import EmulatorConfig
from kasparro.identity.service import IdentityService
from tests.fixtures.emulator import EmulatorFactory
from tests.fixtures.etl import count, rows, run_etl
from tests.fixtures.settings import builtin_registry
from tests.runs.test_identity import MARKETS, REFERENCE, _linked_pairs
from tests.runs.test_pipeline_http import emu_settings

PER_RUN = {"coingecko": 15, "coinpaprika": 25}


def _page_requests(emu: Any) -> dict[str, int]:
    stats = emu.state.stats()
    return {
        api: stats[api]["routes"].get("/coins/{id}", {}).get("requests", 0)
        for api in ("coingecko", "coinpaprika")
    }


async def _links(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    return await rows(
        engine,
        "SELECT source, source_asset_id, identity_key, method, partners FROM identity_links"
        " ORDER BY source, source_asset_id",
    )


async def test_undecided_pairs_are_settled_by_coin_pages_within_the_budget(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory
) -> None:
    emu = emulator_factory(EmulatorConfig(coins=1500, seed=3))
    settings = emu_settings(
        db_url,
        emu,
        coingecko_max_coins="all",
        reference_refresh_seconds=3600,  # the lists stay fresh: page runs fetch pages alone
        coingecko_detail_per_run=PER_RUN["coingecko"],
        coinpaprika_detail_per_run=PER_RUN["coinpaprika"],
    )
    await run_etl(engine, settings, *MARKETS, *REFERENCE)
    truth = set(emu.state.universe.cross_listed())
    before = await _linked_pairs(engine)
    wanted = await count(engine, "SELECT count(*) FROM coin_details WHERE fetched_at IS NULL")
    assert wanted > 0, "the linker wants no coin pages: the test proves nothing"
    assert _page_requests(emu) == {"coingecko": 0, "coinpaprika": 0}  # none were wanted yet

    # The lists are fresh: each reference run now fetches coin pages alone, at most
    # detail_per_run of them, until no page is wanted.
    runs = 0
    while runs < 12:
        pending = await count(
            engine,
            "SELECT count(*) FROM coin_details WHERE fetched_at IS NULL"
            " AND wanted_rank IS NOT NULL AND source IN ('coingecko', 'coinpaprika')",
        )
        if not pending:
            break
        asked = _page_requests(emu)
        results = await run_etl(engine, settings, *REFERENCE)
        runs += 1
        for name, result in results.items():
            assert result.status in ("success", "partial", "fresh"), (name, result.error)
        got = _page_requests(emu)
        for api, cap in PER_RUN.items():
            assert got[api] - asked[api] <= cap, (api, got, asked)  # the per-run budget
    assert runs >= 1
    fetched = await count(engine, "SELECT count(*) FROM coin_details WHERE fetched_at IS NOT NULL")
    requests = _page_requests(emu)
    assert fetched == sum(requests.values())  # one request per page, no retries needed here
    assert sum(requests.values()) <= runs * sum(PER_RUN.values())
    # Every page is kept as received.
    assert fetched == await count(
        engine, "SELECT count(*) FROM raw_responses WHERE endpoint = '/coins/{id}'"
    )
    # The list refresh time is the lists', not the page runs'.
    state = await rows(engine, "SELECT state FROM checkpoints WHERE source = 'coingecko_reference'")
    assert "listed_at" in json.loads(state[0][0])
    stats = emu.state.stats()
    assert stats["coingecko"]["routes"]["/coins/list"]["requests"] == 1
    assert stats["coinpaprika"]["routes"]["/coins"]["requests"] == 1

    after = await _linked_pairs(engine)
    assert after - truth == set(), "a coin page merged two different coins"
    settled = (after - before) & truth
    evidence = await rows(
        engine, "SELECT evidence FROM identity_links WHERE evidence LIKE '%same_homepage%'"
    )
    reviewed = await rows(
        engine,
        "SELECT evidence FROM identity_review WHERE status = 'pending'"
        " AND (evidence LIKE '%homepage%' OR evidence LIKE '%explorer%')",
    )
    print(
        f"\ncoin pages: runs={runs} fetched={fetched} requests={requests} "
        f"newly linked={len(settled)} links with same_homepage={len(evidence)} "
        f"review items showing pages={len(reviewed)}"
    )
    assert settled, "no undecided pair was settled by its coin pages"
    assert evidence

    # A relink on the same data is the fixpoint: twice changes nothing.
    service = IdentityService.for_registry(engine, builtin_registry())
    await service.relink(trigger="test")
    first = await _links(engine)
    await service.relink(trigger="test")
    assert await _links(engine) == first
    assert await _linked_pairs(engine) == after


async def test_a_failing_coin_page_leaves_its_pair_undecided_and_the_run_whole(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory
) -> None:
    emu = emulator_factory(
        EmulatorConfig(coins=1500, seed=3, faults=["coinpaprika:500:/coins/{id}"])
    )
    settings = emu_settings(
        db_url, emu, coingecko_max_coins="all", http_max_attempts=2, coingecko_detail_per_run=0
    )
    await run_etl(engine, settings, *MARKETS, *REFERENCE)
    before = await _linked_pairs(engine)
    wanted = await count(engine, "SELECT count(*) FROM coin_details WHERE fetched_at IS NULL")
    assert wanted > 0
    results = await run_etl(engine, settings, "coinpaprika_reference")
    result = results["coinpaprika_reference"]
    assert result.status == "success", result.error
    # The first page failed (both attempts): the run stopped asking, nothing was stored.
    assert _page_requests(emu)["coinpaprika"] == 2
    fetched = "SELECT count(*) FROM coin_details WHERE fetched_at IS NOT NULL"
    assert await count(engine, fetched) == 0
    assert (
        await count(engine, "SELECT count(*) FROM coin_details WHERE fetched_at IS NULL") == wanted
    )  # still wanted, for the next run
    assert await _linked_pairs(engine) == before
