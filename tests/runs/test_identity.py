"""Cross-source identity end to end: reference runs, linking, re-linking, on both stores.

The emulator's universe is the ground truth: an asset is one real coin, listed under each
API's own id, name, symbol spelling and contracts (kasparro.emulator.identity).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.emulator import EmulatorConfig
from kasparro.emulator.universe import Universe
from kasparro.identity.service import IdentityService
from kasparro.load.rollups import COLUMNS, FOLDED, Fold, fold
from kasparro.store.rollup_schema import observation_rollups
from tests.fixtures.emulator import EmulatorFactory
from tests.fixtures.etl import count, rows, run_etl
from tests.fixtures.settings import builtin_registry
from tests.runs.test_pipeline_http import emu_settings

REFERENCE = ("coingecko_reference", "coinpaprika_reference")
MARKETS = ("coingecko", "coinpaprika")
# Where the measured figures go (the test prints them too); BENCHMARKS-style record.
FIGURES: dict[str, dict[str, Any]] = {}


async def _linked_pairs(engine: AsyncEngine) -> set[tuple[str, str]]:
    found = await rows(
        engine,
        "SELECT g.source_asset_id, p.source_asset_id FROM asset_mappings g"
        " JOIN asset_mappings p ON p.asset_id = g.asset_id"
        " WHERE g.source = 'coingecko' AND p.source = 'coinpaprika'",
    )
    return {(a, b) for a, b in found}


async def _mapped(engine: AsyncEngine, source: str) -> set[str]:
    found = await rows(
        engine, "SELECT source_asset_id FROM asset_mappings WHERE source = :s", s=source
    )
    return {sid for (sid,) in found}


async def measure(engine: AsyncEngine, universe: Universe) -> dict[str, Any]:
    """Precision and recall of the canonical mapping against the universe's truth, over
    the coins both APIs' runs loaded."""
    cg, cp = await _mapped(engine, "coingecko"), await _mapped(engine, "coinpaprika")
    truth = {(a, b) for a, b in universe.cross_listed() if a in cg and b in cp}
    predicted = await _linked_pairs(engine)
    right = predicted & truth
    return {
        "true_pairs": len(truth),
        "linked_pairs": len(predicted),
        "precision": len(right) / len(predicted) if predicted else 1.0,
        "recall": len(right) / len(truth) if truth else 1.0,
        "wrong_merges": sorted(predicted - truth),
        "review_pending": await count(
            engine, "SELECT count(*) FROM identity_review WHERE status = 'pending'"
        ),
    }


@pytest.mark.slow
async def test_canonical_mapping_precision_and_recall_on_a_2500_coin_universe(
    engine: AsyncEngine, db_url: str, dialect: str, emulator_factory: EmulatorFactory
) -> None:
    emu = emulator_factory(EmulatorConfig(coins=2500, seed=1))
    settings = emu_settings(db_url, emu, coingecko_max_coins="all")
    results = await run_etl(engine, settings, *MARKETS, *REFERENCE)
    for name, result in results.items():
        assert result.status in ("success", "partial"), (name, result.error)
        assert result.reconciles, name
    figures = await measure(engine, emu.state.universe)
    FIGURES[dialect] = figures
    print(f"\nidentity on {dialect}: {json.dumps(figures)}")
    assert figures["true_pairs"] > 1700
    assert figures["wrong_merges"] == []
    assert figures["precision"] >= 0.995
    # The emulator carries the disagreements measured on real lists (rebrands, new tickers,
    # dead duplicates, caps off or 0); identity v2's linker got 0.978 here.
    assert figures["recall"] >= 0.98
    # Every id of a linked pair names its method and evidence.
    methods = dict(
        await rows(
            engine,
            "SELECT method, count(*) FROM asset_mappings WHERE source = 'coinpaprika'"
            " GROUP BY method",
        )
    )
    assert {"contract", "name", "override"} <= set(methods)
    no_evidence = await count(
        engine,
        "SELECT count(*) FROM asset_mappings WHERE method IN ('contract', 'name', 'market')"
        " AND evidence IS NULL",
    )
    assert no_evidence == 0


async def test_the_final_grouping_does_not_depend_on_which_run_came_first(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory
) -> None:
    emu = emulator_factory(EmulatorConfig(coins=600, seed=3))
    settings = emu_settings(db_url, emu, coingecko_max_coins="all")
    await run_etl(engine, settings, *MARKETS)  # no reference data yet: symbol+name only
    before = await _linked_pairs(engine)
    observations = await count(engine, "SELECT count(*) FROM observations")
    await run_etl(engine, settings, *REFERENCE)  # now the linker re-links what it knows
    after = await _linked_pairs(engine)
    universe = emu.state.universe
    truth = set(universe.cross_listed())
    assert len(after & truth) > len(before & truth)  # contracts found the renamed tokens
    assert after <= truth
    # Nothing lost, nothing duplicated, every observation on the asset of its source id.
    assert await count(engine, "SELECT count(*) FROM observations") == observations
    assert (
        await count(
            engine,
            "SELECT count(*) FROM observations o JOIN listings li ON li.id = o.listing_id"
            " JOIN asset_mappings m"
            " ON m.source = li.source AND m.source_asset_id = li.source_asset_id"
            " WHERE m.asset_id <> o.asset_id",
        )
        == 0
    )
    # latest_observations points at each mapped id's newest observation, on its asset.
    assert (
        await count(
            engine,
            "SELECT count(*) FROM latest_observations l JOIN observations o"
            " ON o.id = l.observation_id WHERE o.asset_id <> l.asset_id",
        )
        == 0
    )
    assert await count(engine, "SELECT count(*) FROM latest_observations") == await count(
        engine, "SELECT count(*) FROM asset_mappings"
    )
    # The rollups moved with the observations: what the raw rows fold to, on their assets.
    assert await _stored_rollups(engine) == await _rollups_of_raw_rows(engine)
    merged = await count(engine, "SELECT count(*) FROM asset_events WHERE kind = 'merge'")
    assert merged > 0
    # The other order (reference data first) gives the same grouping.
    reverse = await _fresh_grouping(engine, settings)
    assert reverse == after


async def _stored_rollups(engine: AsyncEngine) -> dict[Any, Fold]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(observation_rollups))
        return {
            (m["asset_id"], m["bucket_seconds"], m["bucket"], m["source"]): Fold(
                *(m[c] for c in COLUMNS[4:])
            )
            for m in (row._mapping for row in rows)
        }


async def _rollups_of_raw_rows(engine: AsyncEngine) -> dict[Any, Fold]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(*FOLDED))
        return fold(rows.all())


async def _fresh_grouping(engine: AsyncEngine, settings: Any) -> set[tuple[str, str]]:
    async with engine.begin() as conn:
        for table in (
            "asset_events",
            "coin_details",
            "identity_anomalies",
            "identity_relinks",
            "identity_review",
            "identity_links",
            "latest_observations",
            "observation_rollups",
            "observations",
            "asset_mappings",
            "raw_responses",
            "reference_contracts",
            "reference_coins",
            "reference_platforms",
            "checkpoints",
            "runs",
        ):
            await conn.execute(text(f"DELETE FROM {table}"))
        await conn.execute(text("UPDATE assets SET alias_of = NULL"))
        await conn.execute(text("DELETE FROM assets"))
    await run_etl(engine, settings, *REFERENCE)
    await run_etl(engine, settings, *MARKETS)
    return await _linked_pairs(engine)


async def test_a_failing_reference_source_never_blocks_market_runs(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory
) -> None:
    emu = emulator_factory(
        EmulatorConfig(coins=300, faults=["coingecko:500:/coins/list", "coinpaprika:503:/coins"])
    )
    settings = emu_settings(db_url, emu, http_max_attempts=2)
    results = await run_etl(engine, settings, *MARKETS, *REFERENCE)
    assert results["coingecko"].status == results["coinpaprika"].status == "success"
    assert results["coingecko_reference"].status == "failed"
    assert "HTTP 500" in (results["coingecko_reference"].error or "")
    assert results["coinpaprika_reference"].status == "failed"
    assert await count(engine, "SELECT count(*) FROM identity_relinks") == 0
    # Symbol+name identity still holds the obvious pairs.
    assert len(await _linked_pairs(engine)) > 150


@pytest.mark.parametrize(
    "fault",
    [
        "coingecko:duplicate_contract:/coins/list:rows=60",
        "coingecko:empty_address:/coins/list:rows=60",
        "coingecko:unknown_chain:/coins/list:rows=60",
        "coinpaprika:empty_address:/contracts/{platform}:rows=30",
        "coinpaprika:duplicate_contract:/contracts/{platform}:rows=30",
    ],
)
async def test_bad_reference_data_is_counted_and_visible_and_never_merges_coins(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory, fault: str
) -> None:
    emu = emulator_factory(EmulatorConfig(coins=500, seed=2, faults=[fault]))
    settings = emu_settings(db_url, emu, coingecko_max_coins="all")
    results = await run_etl(engine, settings, *MARKETS, *REFERENCE)
    for name, result in results.items():
        assert result.status in ("success", "partial"), (name, result.error)
        assert result.reconciles, name
    figures = await measure(engine, emu.state.universe)
    assert figures["wrong_merges"] == []
    anomalies = dict(
        await rows(engine, "SELECT kind, count(*) FROM identity_anomalies GROUP BY kind")
    )
    quarantined = await count(
        engine, "SELECT count(*) FROM quarantine WHERE source = 'coinpaprika_reference'"
    )
    kind = fault.split(":")[1]
    if fault.startswith("coinpaprika:empty_address"):
        # An entry with no address is nothing but bad data: quarantined with its reason.
        assert results["coinpaprika_reference"].rejected > 0
        assert quarantined == await count(
            engine,
            "SELECT count(*) FROM quarantine WHERE source = 'coinpaprika_reference'"
            " AND reason = 'address: empty'",
        )
        assert quarantined > 0
    elif kind == "duplicate_contract":
        assert anomalies.get("contract_listed_for_two_coins", 0) > 0
    elif kind == "empty_address":
        assert anomalies.get("empty_address", 0) > 0
    else:
        assert anomalies.get("unknown_chain", 0) > 0


async def test_relinking_is_idempotent_and_recorded(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory
) -> None:
    emu = emulator_factory(EmulatorConfig(coins=400, seed=4))
    settings = emu_settings(db_url, emu, coingecko_max_coins="all")
    await run_etl(engine, settings, *MARKETS, *REFERENCE)
    pairs = await _linked_pairs(engine)
    again = await IdentityService.for_registry(engine, builtin_registry()).relink(trigger="test")
    assert again.status == "success"
    assert again.stats["relinked"]["moved"] == 0
    assert again.stats["relinked"]["relabeled"] == 0
    assert await _linked_pairs(engine) == pairs
    recorded = await rows(engine, "SELECT trigger, status FROM identity_relinks ORDER BY id")
    assert recorded[-1] == ("test", "success")
