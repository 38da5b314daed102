"""Big pages are loaded in several transactions, small pages that are ready together share one;
in-page duplicates are judged per page."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.normalize.coingecko import normalize_market
from kasparro.runs import pipeline as pipeline_module
from kasparro.runs.batches import split_page
from kasparro.runs.commit import commit_group
from kasparro.runs.prefetch import END, Ahead
from kasparro.sources.coingecko import CoinGeckoSource
from tests.fixtures.etl import count, rows, run_etl
from tests.normalize._samples import CG_MARKETS_250, sample_json
from tests.runs.test_pipeline_http import emu_settings


def _split(items: list[Any], earlier: dict[Any, int] | None = None) -> Any:
    """A CoinGecko page split as the pipeline splits it (keyed by id and last_updated)."""
    return split_page(normalize_market, _key, items, earlier)


def _key(record: Any) -> Any:
    return (record.source_asset_id, record.observed_at)


def test_duplicates_across_batches_of_one_page_are_judged_like_within_one() -> None:
    page = sample_json(CG_MARKETS_250)[:4]
    changed = dict(page[0], current_price=page[0]["current_price"] * 2)
    seen: dict[tuple[str, Any], int] = {}
    records, rejections, duplicates = _split(page[:2], seen)
    assert (len(records), len(rejections), duplicates) == (2, 0, 0)
    # Later batches of the same page: an identical repeat is a duplicate, a repeat with
    # other values is rejected, a new key is a record.
    records, rejections, duplicates = _split([page[0], changed, page[2]], seen)
    assert [r.source_asset_id for r in records] == [page[2]["id"]]
    assert duplicates == 1
    assert len(rejections) == 1 and "duplicate key" in rejections[0].reason


async def test_a_page_bigger_than_the_batch_loads_in_batches_with_one_page_counted(
    engine: AsyncEngine, db_url: str, emulator: Any
) -> None:
    settings = emu_settings(db_url, emulator, load_batch_rows=100)
    res = (await run_etl(engine, settings, "coinpaprika"))["coinpaprika"]
    assert res.status in ("success", "partial"), res.error
    assert res.fetched > 300  # several batches of 100
    assert res.pages == 1 and res.reconciles
    stored = await count(engine, "SELECT count(*) FROM observations WHERE source='coinpaprika'")
    assert stored == res.loaded
    assert await count(engine, "SELECT count(*) FROM raw_responses") == 1
    (run,) = await rows(engine, "SELECT pages, fetched, loaded FROM runs")
    assert run == (1, res.fetched, res.loaded)

    again = (await run_etl(engine, settings, "coinpaprika"))["coinpaprika"]
    assert (again.loaded, again.unchanged, again.fetched) == (0, res.loaded, res.fetched)


async def test_an_identical_payload_loaded_before_is_archived_without_normalizing(
    engine: AsyncEngine, db_url: str, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = emu_settings(db_url, emulator, coingecko_max_coins=500)
    first = (await run_etl(engine, settings, "coingecko"))["coingecko"]
    assert first.rejected == 0 and first.pages == 2
    fingerprints = await rows(engine, "SELECT fingerprint FROM raw_responses ORDER BY id")
    assert len(fingerprints) == 2 and all(fp is not None for (fp,) in fingerprints)

    normalized: list[Any] = []
    original = CoinGeckoSource.normalize

    def spy(self: CoinGeckoSource, item: Any) -> Any:
        normalized.append(item)
        return original(self, item)

    monkeypatch.setattr(CoinGeckoSource, "normalize", spy)
    again = (await run_etl(engine, settings, "coingecko"))["coingecko"]
    assert normalized == []  # both pages were known byte for byte
    assert (again.fetched, again.loaded, again.unchanged) == (first.fetched, 0, first.fetched)
    assert again.pages == 2 and again.reconciles
    # Still archived (every payload is kept), and known again for the next run.
    assert await count(engine, "SELECT count(*) FROM raw_responses") == 4
    assert await count(engine, "SELECT count(DISTINCT fingerprint) FROM raw_responses") == 2

    emulator.state.tick()  # new prices: new bytes, normal load
    third = (await run_etl(engine, settings, "coingecko"))["coingecko"]
    assert len(normalized) == third.fetched and third.loaded > 0


async def test_a_payload_with_rejections_is_never_skipped(
    engine: AsyncEngine, db_url: str, emulator_factory: Any
) -> None:
    emu = emulator_factory(coins=300, faults=["coingecko:negative_price:rows=3,first=none"])
    settings = emu_settings(db_url, emu, coingecko_max_coins=250)
    first = (await run_etl(engine, settings, "coingecko"))["coingecko"]
    assert first.rejected > 0
    assert await count(engine, "SELECT count(fingerprint) FROM raw_responses") == 0
    again = (await run_etl(engine, settings, "coingecko"))["coingecko"]
    # Processed again in full: its rejections are quarantined again (seen twice).
    assert again.rejected == first.rejected


async def test_a_known_body_cut_shorter_before_does_not_hide_its_other_items(
    engine: AsyncEngine, db_url: str, emulator: Any
) -> None:
    # Page 2 (coins 251-500) is cut to 150 items under a cap of 400: the same bytes under a
    # cap of 500 hold 100 items that were never loaded, so they are not "known".
    capped = emu_settings(db_url, emulator, coingecko_max_coins=400)
    first = (await run_etl(engine, capped, "coingecko"))["coingecko"]
    assert first.fetched == 400 and first.rejected == 0
    wider = emu_settings(db_url, emulator, coingecko_max_coins=500)
    second = (await run_etl(engine, wider, "coingecko"))["coingecko"]
    assert (second.fetched, second.loaded, second.unchanged) == (500, 100, 400)
    stored = await count(engine, "SELECT count(*) FROM observations WHERE source='coingecko'")
    assert stored == 500


def test_duplicates_whose_values_hash_alike_are_still_told_apart() -> None:
    # hash(Decimal(-1)) == hash(Decimal(-2)) in CPython: values must be compared, not hashed.
    (item,) = sample_json(CG_MARKETS_250)[:1]
    a = dict(item, price_change_percentage_24h=Decimal(-1))
    b = dict(item, price_change_percentage_24h=Decimal(-2))
    _, rejections, duplicates = _split([a, b])
    assert (len(rejections), duplicates) == (1, 0)
    earlier: dict[tuple[str, Any], int] = {}
    _split([a], earlier)
    _, rejections, duplicates = _split([b], earlier)  # the next batch
    assert (len(rejections), duplicates) == (1, 0)


async def test_a_drifting_payload_is_never_skipped(
    engine: AsyncEngine, db_url: str, emulator_factory: Any
) -> None:
    # Skipping it would stop its drift events from counting the occurrences.
    emu = emulator_factory(coins=300, faults=["coingecko:extra_field:first=none"])
    settings = emu_settings(db_url, emu, coingecko_max_coins=250)
    first = (await run_etl(engine, settings, "coingecko"))["coingecko"]
    assert first.rejected == 0
    assert await count(engine, "SELECT count(fingerprint) FROM raw_responses") == 0
    sql = "SELECT sum(count) FROM drift_events WHERE kind = 'unexpected'"
    once = await count(engine, sql)
    assert once > 0
    await run_etl(engine, settings, "coingecko")
    assert await count(engine, sql) == 2 * once  # counted again by the second run


def _slow_commits(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Make every commit wait until the producer is ahead (a slow database): until the
    read-ahead buffer is full, so the producer blocks, or the source has ended. An event,
    not a sleep, so a loaded machine cannot change the grouping. Returns the page numbers
    of each committed group, in commit order."""
    groups: list[list[int]] = []
    original_put = Ahead.put
    ahead = asyncio.Event()
    ended: list[bool] = []

    async def put(self: Ahead, entry: Any, items: int = 0, nbytes: int = 0) -> None:
        if entry is END:
            ended.append(True)  # nothing follows: no commit has anything left to wait for
        if ended or not self.room_for(items, nbytes):
            ahead.set()  # the buffer is as full as its bounds allow
        await original_put(self, entry, items, nbytes)

    async def slow(engine: Any, source: Any, run_id: int, group: Any, *rest: Any) -> None:
        await asyncio.wait_for(ahead.wait(), 60)  # a hang guard only
        if not ended:
            ahead.clear()
        await commit_group(engine, source, run_id, group, *rest)
        groups.append([b.page.number for b in group])

    monkeypatch.setattr(Ahead, "put", put)
    monkeypatch.setattr(pipeline_module, "commit_group", slow)
    return groups


async def test_pages_ready_while_a_commit_runs_share_the_next_transaction(
    engine: AsyncEngine, db_url: str, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = _slow_commits(monkeypatch)
    settings = emu_settings(
        db_url, emulator, coingecko_max_coins=1000, coingecko_per_page=100, load_batch_rows=300
    )
    res = (await run_etl(engine, settings, "coingecko"))["coingecko"]
    assert res.status == "success" and res.reconciles, res.error
    # Every page once, in order; at most 300 items (3 pages) per transaction, and while one
    # commit waited the next pages were ready, so some transactions carried several.
    assert [n for g in groups for n in g] == list(range(1, 11))
    assert max(len(g) for g in groups) == 3
    assert len(groups) < 10
    assert res.pages == 10 and res.fetched == 1000
    stored = await count(engine, "SELECT count(*) FROM observations WHERE source='coingecko'")
    assert stored == res.loaded == 1000
    assert await count(engine, "SELECT count(*) FROM raw_responses") == 10
    assert await count(engine, "SELECT count(*) FROM raw_responses WHERE fingerprint IS NULL") == 0
    (state,) = await rows(engine, "SELECT state FROM checkpoints WHERE source='coingecko'")
    assert '"in_progress":false' in state[0] and '"next_page":1' in state[0]

    # Grouped or not, an unchanged upstream is found unchanged page by page.
    again = (await run_etl(engine, settings, "coingecko"))["coingecko"]
    assert (again.loaded, again.unchanged, again.pages) == (0, 1000, 10)


async def test_a_failure_inside_a_group_commits_the_pages_before_it(
    engine: AsyncEngine, db_url: str, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = _slow_commits(monkeypatch)
    settings = emu_settings(
        db_url,
        emulator,
        coingecko_max_coins=600,
        coingecko_per_page=100,
        load_batch_rows=600,
        fail_at="coingecko:4",
    )
    res = (await run_etl(engine, settings, "coingecko"))["coingecko"]
    assert res.status == "failed" and "injected failure" in (res.error or "")
    # Pages 2 and 3 were ready with page 4 behind them: they were committed, page 4 not.
    assert [n for g in groups for n in g] == [1, 2, 3]
    assert res.pages == 3
    assert await count(engine, "SELECT count(*) FROM observations") == 300
    (state,) = await rows(engine, "SELECT state FROM checkpoints WHERE source='coingecko'")
    assert '"next_page":4' in state[0] and '"in_progress":true' in state[0]
