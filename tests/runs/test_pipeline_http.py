"""End-to-end runs of the API sources against the project's emulator over real HTTP."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.etl import count, make_settings, rows, run_etl


def emu_settings(db_url: str, emu: Any, **overrides: Any) -> Any:
    return make_settings(
        db_url,
        coingecko_base_url=emu.coingecko_base_url,
        coinpaprika_base_url=emu.coinpaprika_base_url,
        **overrides,
    )


async def test_coingecko_run_pages_and_loads_exactly(
    engine: AsyncEngine, db_url: str, emulator: Any
) -> None:
    settings = emu_settings(db_url, emulator, coingecko_max_coins=600, coingecko_per_page=250)
    res = (await run_etl(engine, settings, "coingecko"))["coingecko"]
    assert res.status in ("success", "partial"), res.error
    assert res.pages == 3
    assert res.fetched == 600
    assert res.reconciles
    assert res.loaded + res.unchanged == 600 - res.rejected
    assert (
        await count(engine, "SELECT count(*) FROM observations WHERE source='coingecko'")
        == res.loaded
    )
    assert await count(engine, "SELECT count(*) FROM raw_responses WHERE source='coingecko'") == 3
    checkpoint = await rows(engine, "SELECT state FROM checkpoints WHERE source='coingecko'")
    assert '"in_progress":false' in checkpoint[0][0]


async def test_rerun_without_upstream_change_is_all_unchanged(
    engine: AsyncEngine, db_url: str, emulator: Any
) -> None:
    settings = emu_settings(db_url, emulator, coingecko_max_coins=500)
    first = await run_etl(engine, settings, "coingecko", "coinpaprika")
    before = await count(engine, "SELECT count(*) FROM observations")
    second = await run_etl(engine, settings, "coingecko", "coinpaprika")
    assert await count(engine, "SELECT count(*) FROM observations") == before
    for name in ("coingecko", "coinpaprika"):
        a, b = first[name], second[name]
        assert b.status in ("success", "partial"), b.error
        assert b.loaded == 0
        assert b.unchanged == a.loaded + a.unchanged
        assert b.fetched == a.fetched and b.reconciles


async def test_tick_loads_new_observations(engine: AsyncEngine, db_url: str, emulator: Any) -> None:
    settings = emu_settings(db_url, emulator, coingecko_max_coins=250)
    first = (await run_etl(engine, settings, "coingecko"))["coingecko"]
    emulator.state.tick()
    second = (await run_etl(engine, settings, "coingecko"))["coingecko"]
    assert second.loaded > 0
    assert second.loaded + second.unchanged + second.rejected == second.fetched
    assert await count(engine, "SELECT count(*) FROM observations") == first.loaded + second.loaded


async def test_cross_source_identity_merges_and_collisions_stay_apart(
    engine: AsyncEngine, db_url: str, emulator: Any
) -> None:
    settings = emu_settings(db_url, emulator, coingecko_max_coins="all")
    results = await run_etl(engine, settings, "coingecko", "coinpaprika")
    assert all(r.status in ("success", "partial") for r in results.values())
    # bitcoin (CoinGecko) and btc-bitcoin (CoinPaprika) are one canonical asset.
    btc = await rows(
        engine,
        "SELECT source, source_asset_id, asset_id FROM asset_mappings"
        " WHERE source_asset_id IN ('bitcoin', 'btc-bitcoin') ORDER BY source",
    )
    assert [r[:2] for r in btc] == [("coingecko", "bitcoin"), ("coinpaprika", "btc-bitcoin")]
    assert btc[0][2] == btc[1][2]
    # Many coins are listed by both APIs and resolve to one asset each.
    shared = await count(
        engine,
        "SELECT count(*) FROM (SELECT asset_id FROM asset_mappings GROUP BY asset_id"
        " HAVING count(DISTINCT source) = 2) t",
    )
    assert shared > 100
    # Symbols shared by different coins never merge: every asset with two mappings from
    # different sources has one mapping per source, and 'uni' maps to several assets.
    assert (
        await count(
            engine,
            "SELECT count(*) FROM (SELECT asset_id, source FROM asset_mappings"
            " GROUP BY asset_id, source HAVING count(*) > 1) t",
        )
        == 0
    )
    assert (
        await count(
            engine,
            "SELECT count(DISTINCT asset_id) FROM asset_mappings m"
            " WHERE lower(m.source_symbol) = 'uni'",
        )
        >= 4
    )
