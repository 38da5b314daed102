"""Listings: one per (source, source id), reused across batches, renamed by newer data only,
and what the API shows for every observation of the coin."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.load.assets import resolve_assets
from kasparro.load.observations import insert_observations, observation_row
from kasparro.runs import repository as repo
from kasparro.store.schema import listings, observations
from tests.fixtures.api import T0, rec, seed_run

li = listings.c


async def _listings(engine: AsyncEngine) -> dict[tuple[str, str], tuple[int, str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(li.source, li.source_asset_id, li.id, li.symbol, li.name))
        return {(s, sid): (lid, sym, name) for s, sid, lid, sym, name in rows}


async def test_listings_are_created_once_and_reused_across_batches(engine: AsyncEngine) -> None:
    coins = ["bitcoin", "ethereum", "solana"]
    await seed_run(engine, "coingecko", [rec(c, at=T0) for c in coins])
    first = await _listings(engine)
    assert sorted(first) == [("coingecko", c) for c in coins]
    # The same ids in later batches (and one new id, and another source's id of the same
    # name): the existing listings are referenced, not copied.
    await seed_run(engine, "coingecko", [rec(c, at=T0 + timedelta(minutes=5)) for c in coins])
    await seed_run(
        engine,
        "coingecko",
        [rec(c, at=T0 + timedelta(minutes=10)) for c in [*coins, "dogecoin"]],
    )
    await seed_run(engine, "coinpaprika", [rec("bitcoin", source="coinpaprika", at=T0)])
    after = await _listings(engine)
    assert len(after) == 5
    assert {k: after[k] for k in first} == first  # same ids, same strings
    async with engine.connect() as conn:
        bitcoin = (
            await conn.execute(
                select(observations.c.id).where(
                    observations.c.listing_id == first[("coingecko", "bitcoin")][0]
                )
            )
        ).all()
    assert len(bitcoin) == 3  # bitcoin's three observations reference its one listing


async def test_a_rename_updates_the_listing_and_the_api_shows_it(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    await seed_run(engine, "coingecko", [rec("matic-network", symbol="MATIC", name="Polygon")])
    await seed_run(
        engine,
        "coingecko",
        [rec("matic-network", symbol="POL", name="POL (ex-MATIC)", at=T0 + timedelta(hours=1))],
    )
    (listing,) = (await _listings(engine)).values()
    assert listing[1:] == ("POL", "POL (ex-MATIC)")
    resp = await api_client.get("/api/v1/data", params={"sort": "observed_at"})
    assert resp.status_code == 200, resp.text
    rows = resp.json()["data"]
    assert len(rows) == 2
    # Every observation of the coin shows its listing: the newest symbol and name.
    assert {(r["source_asset_id"], r["symbol"], r["name"]) for r in rows} == {
        ("matic-network", "POL", "POL (ex-MATIC)")
    }
    by_symbol = await api_client.get("/api/v1/data", params={"sort": "symbol"})
    assert [r["symbol"] for r in by_symbol.json()["data"]] == ["POL", "POL"]


async def test_an_older_point_loaded_later_does_not_rename_back(engine: AsyncEngine) -> None:
    await seed_run(engine, "coingecko", [rec("matic-network", symbol="POL", name="POL", at=T0)])
    # A history backfill of last year, when the coin was still called MATIC.
    late = await seed_run(
        engine,
        "coingecko",
        [rec("matic-network", symbol="MATIC", name="Polygon", at=T0 - timedelta(days=365))],
    )
    assert late.loaded == 1
    (listing,) = (await _listings(engine)).values()
    assert listing[1:] == ("POL", "POL")


async def test_the_newest_row_of_a_batch_names_the_listing(engine: AsyncEngine) -> None:
    # Two pages committed together carry the coin before and after its rename.
    await seed_run(
        engine,
        "coingecko",
        [
            rec("x", symbol="NEW", name="New", at=T0 + timedelta(minutes=5)),
            rec("x", symbol="OLD", name="Old", at=T0),
        ],
    )
    (listing,) = (await _listings(engine)).values()
    assert listing[1:] == ("NEW", "New")


async def test_the_unique_keys_reject_duplicates(engine: AsyncEngine) -> None:
    await seed_run(engine, "coingecko", [rec("bitcoin", at=T0)])
    async with engine.connect() as conn:
        row = dict((await conn.execute(select(observations))).one()._mapping)
    row.pop("id")
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(observations).values(**row))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(
                insert(listings).values(
                    source="coingecko",
                    source_asset_id="bitcoin",
                    symbol="B",
                    name="B",
                    named_at=T0,
                )
            )
    # The same coin one minute later is a new observation of the same listing.
    again = await seed_run(engine, "coingecko", [rec("bitcoin", at=T0 + timedelta(minutes=1))])
    assert again.loaded == 1
    assert len(await _listings(engine)) == 1


async def test_history_points_create_listings_but_never_rename_them(engine: AsyncEngine) -> None:
    await seed_run(engine, "coingecko", [rec("matic-network", symbol="POL", name="POL", at=T0)])
    # A backfill's chart points carry whatever symbol the caller had; even the newest
    # point does not rename the coin (market snapshots do), but a coin seen first in
    # history gets its listing from it.
    history = [
        rec("matic-network", symbol="MATIC", name="Polygon", at=T0 + timedelta(minutes=1)),
        rec("new-coin", symbol="NEW", name="New Coin", at=T0),
    ]
    async with engine.begin() as conn:
        run_id = await repo.create_run(
            conn, source="coingecko", trigger="cli", owner="t:0:h", resumed_from=None, start_page=1
        )
        assets = await resolve_assets(conn, "coingecko", history, run_id)
        now = repo.utcnow()
        rows = [observation_row(r, assets[r.source_asset_id], run_id, now) for r in history]
        loaded = await insert_observations(conn, rows, advance_latest=False)
    assert loaded.loaded == 2
    named = {sid: (sym, name) for (_, sid), (_, sym, name) in (await _listings(engine)).items()}
    assert named == {"matic-network": ("POL", "POL"), "new-coin": ("NEW", "New Coin")}
