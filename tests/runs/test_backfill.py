"""History backfill end to end: watermarks, idempotency, kill -9 and resume, priority."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import kasparro
from kasparro.emulator import EmulatorConfig, EmulatorServer
from kasparro.normalize.common import loads_exact
from kasparro.query.fastread import open_reader
from kasparro.query.observations import FIELDS, ObservationFilter, list_observations
from kasparro.runs.result import RunResult
from kasparro.runs.service import run_sources
from kasparro.settings import Settings
from kasparro.sources.history import (
    WHEN_PATTERN,
    BackfillError,
    BackfillSpec,
    Target,
    depth_floor,
    missing_ranges,
    parse_when,
    within_depth,
)
from kasparro.sources.history import plan_chunks as plan
from kasparro.sources.http import RequestPacer
from tests.fixtures.emulator import EmulatorFactory
from tests.fixtures.etl import count, rows, run_etl
from tests.fixtures.settings import runtime_for
from tests.runs.test_pipeline_http import emu_settings

# The emulator's clock (tick 0 is the recording's Date): a year of daily history before it,
# with the emulator's now as the current time the plans count back from.
UNTIL = datetime(2022, 2, 23, 11, 31, 45, tzinfo=UTC)
SINCE = datetime(2021, 2, 23, tzinfo=UTC)
DAILY = BackfillSpec("1d", SINCE, UNTIL, top=12, now=UNTIL)


async def backfill(
    engine: AsyncEngine, settings: Settings, spec: BackfillSpec, *apis: str
) -> dict[str, RunResult]:
    runtime = runtime_for(settings)
    async with httpx.AsyncClient(timeout=10) as http:
        results = await run_sources(
            engine,
            runtime.catalog,
            list(apis or ("coingecko", "coinpaprika")),
            http=http,
            limiters=runtime.limiters(),
            backfill=spec,
        )
    return {r.source: r for r in results}


def _chart_requests(emu: EmulatorServer) -> int:
    routes = emu.state.stats()["coingecko"]["routes"]
    return int(routes.get("/coins/{id}/market_chart/range", {}).get("requests", 0))


async def test_a_year_of_daily_history_loads_once_and_a_second_backfill_fetches_nothing(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory
) -> None:
    emu = emulator_factory(EmulatorConfig(coins=300, cg_plan="paid"))
    settings = emu_settings(db_url, emu)
    await run_etl(engine, settings, "coingecko", "coinpaprika")
    market = await count(engine, "SELECT count(*) FROM observations")
    first = await backfill(engine, settings, DAILY)
    for name in ("coingecko_history", "coinpaprika_history"):
        result = first[name]
        assert result.status == "success", result.error
        assert result.pages == 12 and result.reconciles
        assert result.loaded > 12 * 300  # about 364 points per coin, minus gaps
    assert _chart_requests(emu) == 12
    assert await count(engine, "SELECT count(*) FROM observations") == market + sum(
        r.loaded for r in first.values()
    )
    # One watermark per coin and source, covering what was asked (the free plans: the last
    # year only).
    marks = await rows(
        engine,
        "SELECT source, count(*), min(covered_from), max(covered_to) FROM backfill_watermarks"
        " GROUP BY source ORDER BY source",
    )
    assert [(s, n) for s, n, _, _ in marks] == [("coingecko", 12), ("coinpaprika", 12)]
    second = await backfill(engine, settings, DAILY)
    assert all(r.status == "success" and r.pages == r.fetched == 0 for r in second.values())
    assert _chart_requests(emu) == 12  # nothing fetched again
    # A longer range asks only for the new part, per coin (a paid plan serves it).
    longer = BackfillSpec("1d", SINCE - timedelta(days=30), UNTIL, top=12, now=UNTIL)
    paid = settings.model_copy(
        update={
            "sources": {
                **settings.sources,
                "coingecko": {**settings.sources["coingecko"], "plan": "analyst"},
            }
        }
    )
    third = await backfill(engine, paid, longer, "coingecko")
    assert third["coingecko_history"].pages == 12
    assert third["coingecko_history"].fetched < 12 * 40


async def test_history_points_are_exact_observations_of_the_mapped_asset(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory
) -> None:
    emu = emulator_factory(EmulatorConfig(coins=300))
    settings = emu_settings(db_url, emu)
    await run_etl(engine, settings, "coingecko")
    since = UNTIL - timedelta(days=360)
    bitcoin = (await _asset(engine, "bitcoin"),)
    spec = BackfillSpec("1d", since, UNTIL, asset_ids=bitcoin, now=UNTIL)
    result = (await backfill(engine, settings, spec, "coingecko"))["coingecko_history"]
    assert result.status == "success" and result.pages == 1
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{emu.coingecko_base_url}/coins/bitcoin/market_chart/range",
            params={
                "vs_currency": "usd",
                "from": int(since.timestamp()),
                "to": int(UNTIL.timestamp()),
            },
        )
    body = answer.content
    chart = {
        datetime.fromtimestamp(t / 1000, UTC): price for t, price in loads_exact(body)["prices"]
    }
    stored = dict(
        await rows(
            engine,
            "SELECT observed_at, price_usd FROM observations WHERE listing_id ="
            " (SELECT id FROM listings WHERE source = 'coingecko' AND source_asset_id = 'bitcoin')"
            " AND run_id = :run",
            run=result.run_id,
        )
    )
    assert len(stored) == len(chart) > 300
    # Exact to the digit the upstream sent (floats' text, parsed as Decimal, never as float).
    as_stored = {_aware(k): Decimal(str(v)) for k, v in stored.items()}
    assert as_stored == chart
    # The points' coin is CoinGecko's: mapped under "coingecko" (the listing's source), never
    # under the history source's name, and an asset's history (read through its listings'
    # mappings on PostgreSQL) serves them.
    sources = {s for (s,) in await rows(engine, "SELECT DISTINCT source FROM asset_mappings")}
    assert sources == {"coingecko"}
    reader = open_reader(db_url.replace("+aiosqlite", "").replace("+asyncpg", ""))
    try:
        page = await list_observations(
            reader,
            ObservationFilter(asset_ids=bitcoin, until=UNTIL - timedelta(days=1)),
            sort="observed_at",
            descending=True,
            limit=500,
            after=None,
        )
    finally:
        await reader.close()
    served = {
        datetime.fromisoformat(r[FIELDS.index("observed_at")].replace("Z", "+00:00"))
        for r in page.rows
    }
    assert served == {t for t in chart if t < UNTIL - timedelta(days=1)}
    assert len(served) > 300


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite hands raw SQL results back as text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _asset(engine: AsyncEngine, cg_id: str) -> int:
    (asset_id,) = (
        await rows(
            engine,
            "SELECT asset_id FROM asset_mappings WHERE source = 'coingecko'"
            " AND source_asset_id = :s",
            s=cg_id,
        )
    )[0]
    return int(asset_id)


async def test_a_backfill_killed_mid_way_resumes_with_nothing_lost_or_duplicated(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    # The CLI's plans count from the wall clock: an emulator anchored in the recent past, and
    # fixed dates so that the resumed run asks for exactly what the killed one did.
    anchor = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    emu = emulator_factory(EmulatorConfig(coins=300, anchor=anchor))
    settings = emu_settings(db_url, emu)
    await run_etl(engine, settings, "coingecko")
    env = _cli_env(db_url, emu, KASPARRO_CRASH_AT="after_commit:coingecko_history:5")
    since = anchor - timedelta(days=300)
    args = ["--source", "coingecko", "--top", "12"]
    args += ["--since", since.isoformat(), "--until", anchor.isoformat()]
    killed = await _cli(env, tmp_path, args)
    assert killed == -9  # SIGKILLed by itself after committing page 5
    done = await count(engine, "SELECT count(*) FROM backfill_watermarks")
    assert 5 <= done < 12  # page 5 committed (with whatever pages shared its transaction)
    env.pop("KASPARRO_CRASH_AT")
    assert await _cli(env, tmp_path, args) == 0
    # Only the coins without a committed watermark were fetched again.
    resumed = await rows(
        engine, "SELECT pages FROM runs WHERE source = 'coingecko_history' ORDER BY id DESC"
    )
    assert resumed[0][0] == 12 - done
    duplicates = await count(
        engine,
        "SELECT count(*) FROM (SELECT listing_id, observed_at FROM observations"
        " GROUP BY listing_id, observed_at HAVING count(*) > 1) d",
    )
    assert duplicates == 0
    crashed = await rows(
        engine, "SELECT status FROM runs WHERE source = 'coingecko_history' ORDER BY id"
    )
    assert [s for (s,) in crashed] == ["crashed", "success"]
    # The same store as a backfill never interrupted: every coin's year, once.
    assert await count(engine, "SELECT count(*) FROM backfill_watermarks") == 12


def _cli_env(db_url: str, emu: EmulatorServer, **extra: str) -> dict[str, str]:
    src = str(Path(kasparro.__file__).resolve().parents[1])
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
        KASPARRO_DATABASE_URL=db_url,
        KASPARRO_COINGECKO_BASE_URL=emu.coingecko_base_url,
        KASPARRO_COINPAPRIKA_BASE_URL=emu.coinpaprika_base_url,
        KASPARRO_COINGECKO_REQUESTS_PER_MINUTE="60000",
        KASPARRO_COINPAPRIKA_REQUESTS_PER_MINUTE="60000",
        KASPARRO_LOG_JSON="true",
        **extra,
    )
    return env


async def _cli(env: dict[str, str], cwd: Path, args: list[str]) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kasparro",
        "backfill",
        *args,
        "--no-migrate",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    if proc.returncode not in (0, -9):
        raise AssertionError(err.decode(errors="replace")[-2000:])
    assert proc.returncode is not None
    return proc.returncode


async def test_no_coins_to_backfill_is_a_clear_failure(
    engine: AsyncEngine, db_url: str, emulator: Any
) -> None:
    result = (await backfill(engine, emu_settings(db_url, emulator), DAILY, "coingecko"))[
        "coingecko_history"
    ]
    assert result.status == "failed"
    assert "run `kasparro etl run` first" in (result.error or "")


async def test_the_coinpaprika_free_plan_has_no_five_minute_history(
    engine: AsyncEngine, db_url: str, emulator: Any
) -> None:
    spec = BackfillSpec("5m", UNTIL - timedelta(hours=3), UNTIL, top=3)
    result = (await backfill(engine, emu_settings(db_url, emulator), spec, "coinpaprika"))[
        "coinpaprika_history"
    ]
    assert result.status == "failed" and "free plan has no 5m history" in (result.error or "")


async def _history_span(engine: AsyncEngine, source: str, run_id: int) -> tuple[Any, Any, int]:
    ((first, last, n),) = await rows(
        engine,
        "SELECT min(observed_at), max(observed_at), count(*) FROM observations"
        " WHERE source = :s AND run_id = :run",
        s=source,
        run=run_id,
    )
    return _aware(first) if first else None, _aware(last) if last else None, int(n)


async def test_a_recent_backfill_loads_rows_from_a_wall_clock_emulator(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory
) -> None:
    """What the demo's POST /api/v1/backfills {"top": 3, "since": "7d"} does: its emulator's
    data is current, so the last week of history is there on both APIs."""
    emu = emulator_factory(EmulatorConfig(coins=300, anchor="now"))
    settings = emu_settings(db_url, emu)
    await run_etl(engine, settings, "coingecko", "coinpaprika")
    end = parse_when("now", relative_to=datetime.now(UTC))
    spec = BackfillSpec("1d", parse_when("7d", relative_to=end), end, top=3)
    results = await backfill(engine, settings, spec)
    for name in ("coingecko_history", "coinpaprika_history"):
        result = results[name]
        assert result.status == "success" and result.pages == 3, result.error
        first, last, loaded = await _history_span(engine, name.split("_")[0], result.run_id)
        assert loaded == result.loaded > 0
        assert 3 * 5 <= loaded <= 3 * 8  # a week of daily points per coin (outages aside)
        assert spec.since <= first and last <= end


async def test_plan_depth_is_counted_back_from_now_not_from_until(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory
) -> None:
    """A range ending 200 days ago on the free plans (a year of daily history): what is
    loaded starts a year before *now*, as the APIs count it; counted from ``until`` the
    request would ask for 565 days ago and the APIs would refuse it (401 / 402)."""
    emu = emulator_factory(EmulatorConfig(coins=300, anchor="now"))
    settings = emu_settings(db_url, emu)
    await run_etl(engine, settings, "coingecko", "coinpaprika")
    now = datetime.now(UTC)
    spec = BackfillSpec("1d", now - timedelta(days=500), now - timedelta(days=200), top=3)
    results = await backfill(engine, settings, spec)
    for name in ("coingecko_history", "coinpaprika_history"):
        result = results[name]
        assert result.status == "success", result.error
        first, last, loaded = await _history_span(engine, name.split("_")[0], result.run_id)
        assert loaded > 3 * 150  # about 164 daily points per coin
        assert now - timedelta(days=365) <= first <= now - timedelta(days=362)
        assert last <= spec.until
    # A range the plan does not reach at all is refused with the reason, not loaded empty.
    old = BackfillSpec("1d", now - timedelta(days=900), now - timedelta(days=400), top=3)
    refused = await backfill(engine, settings, old)
    for name in ("coingecko_history", "coinpaprika_history"):
        assert refused[name].status == "failed"
        assert "plan serves 1d history for the last 365 days only" in (refused[name].error or "")


# --- planning (pure) -----------------------------------------------------------------------


def _t(sid: str, covered: tuple[datetime, datetime] | None = None) -> Target:
    return Target(sid, sid.upper(), sid.title(), covered)


def test_chunks_grow_the_covered_range_outwards_and_widen_short_requests() -> None:
    spec = BackfillSpec("1h", datetime(2022, 1, 1, tzinfo=UTC), datetime(2022, 6, 1, tzinfo=UTC))
    covered = (datetime(2022, 3, 1, tzinfo=UTC), datetime(2022, 5, 31, tzinfo=UTC))
    chunks = plan([_t("a", covered)], spec, max_span=timedelta(days=40), min_span=timedelta(days=2))
    spans = [(c.start.date().isoformat(), c.end.date().isoformat()) for c in chunks]
    # Before the covered range, newest first (every request touches what is covered).
    assert spans == [
        ("2022-01-20", "2022-03-01"),
        ("2022-01-01", "2022-01-20"),
        ("2022-05-31", "2022-06-01"),
    ]
    assert chunks[-1].fetch_start == chunks[-1].end - timedelta(days=2)  # widened
    assert chunks[0].fetch_start == chunks[0].start
    assert missing_ranges(covered, covered[0], covered[1]) == []


def test_the_depth_cut_counts_from_now_with_a_margin_for_the_requests() -> None:
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    spec = BackfillSpec("1d", now - timedelta(days=500), now - timedelta(days=200), now=now)
    cut = within_depth(spec, timedelta(days=365), "the free plan")
    assert cut.since == now - timedelta(days=364)  # a day's margin, not until - 365 days
    assert cut.until == spec.until
    assert within_depth(spec, None, "a paid plan") == spec
    hourly = BackfillSpec("1h", now - timedelta(days=3), now, now=now)
    assert within_depth(hourly, timedelta(days=1), "x").since == now - timedelta(hours=23)
    with pytest.raises(BackfillError, match="serves 1d history for the last 100 days only"):
        within_depth(spec, timedelta(days=100), "the free plan")


def test_a_short_chunk_is_widened_forwards_when_backwards_leaves_the_plan() -> None:
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    spec = BackfillSpec("1d", now - timedelta(days=364), now - timedelta(days=300), now=now)
    floor = depth_floor(spec, timedelta(days=365))
    (chunk,) = plan(
        [_t("a")], spec, max_span=timedelta(days=400), min_span=timedelta(days=91), floor=floor
    )
    assert floor is not None and chunk.fetch_start >= floor
    assert chunk.fetch_end is not None and chunk.fetch_end - chunk.fetch_start >= timedelta(days=91)
    assert (chunk.start, chunk.end) == (spec.since, spec.until)  # the watermark: what was asked


def test_when_and_spec_parsing() -> None:
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    assert parse_when("now", relative_to=now) == now
    assert parse_when("365d", relative_to=now) == now - timedelta(days=365)
    assert parse_when("2021-02-23", relative_to=now) == datetime(2021, 2, 23, tzinfo=UTC)
    assert parse_when("2021-02-23T10:00:00+02:00", relative_to=now).hour == 10
    with pytest.raises(BackfillError) as info:
        parse_when("yesterday-ish", relative_to=now)
    assert info.value.kind == "datetime_parsing"
    # Out of datetime's range is an error of the input, never an OverflowError (a 500).
    for text in ("99999d", "9999-12-31T23:00-05:00", "0001-01-01T00:00+01:00"):
        with pytest.raises(BackfillError) as info:
            parse_when(text, relative_to=datetime(80, 1, 1, tzinfo=UTC))
        assert info.value.kind == "datetime_range", text
    # What the documented pattern refuses is refused, even where fromisoformat reads it.
    for text in ("999999d", "9" * 20 + "h", "20210223", "2021-02-23T10:00:00.1234567"):
        with pytest.raises(BackfillError) as info:
            parse_when(text, relative_to=now)
        assert info.value.kind == "datetime_parsing", text
    with pytest.raises(BackfillError):
        BackfillSpec("2d", SINCE, UNTIL)
    with pytest.raises(BackfillError) as info:
        BackfillSpec("1d", UNTIL, SINCE)
    assert info.value.kind == "range"


@pytest.mark.parametrize(
    "text",
    [
        "now",
        "365d",
        "12h",
        "30m",
        "2021-02-23",
        "2021-02-23T10",
        "2021-02-23 10:00:00.5",
        "2021-02-23T10:00:00,123456Z",
        "2021-02-23T10:00+05",
        "2021-02-23T10:00-05:30",
    ],
)
def test_what_the_api_documents_is_what_is_parsed(text: str) -> None:
    assert re.fullmatch(WHEN_PATTERN, text)
    assert parse_when(text, relative_to=datetime(2026, 12, 4, tzinfo=UTC)).tzinfo is not None


@pytest.mark.parametrize("text", ["soon", " now", "2021-02-23Z", "1y", "2021-2-3", "-5d"])
def test_what_the_api_pattern_refuses(text: str) -> None:
    assert not re.fullmatch(WHEN_PATTERN, text)


async def test_backfill_requests_yield_to_scheduled_ones() -> None:
    pacer = RequestPacer(0.01)
    order: list[str] = []
    first_in_flight = asyncio.Event()
    release_first = asyncio.Event()

    async def request(label: str, priority: int) -> None:
        async with pacer.slot(priority):
            order.append(label)
            if label == "b0":
                first_in_flight.set()
                await release_first.wait()

    backfills = [asyncio.create_task(request(f"b{i}", 1)) for i in range(5)]
    await first_in_flight.wait()  # b0 holds the slot; b1..b4 queue behind it
    scheduled = [asyncio.create_task(request(f"s{i}", 0)) for i in range(2)]
    for _ in range(3):
        await asyncio.sleep(0)  # s0 and s1 queue too
    release_first.set()
    await asyncio.gather(*backfills, *scheduled)
    assert order == ["b0", "s0", "s1", "b1", "b2", "b3", "b4"]
    # Cancelled waiters never hold the slot up.
    waiter = asyncio.create_task(request("gone", 0))
    holder = asyncio.create_task(request("held", 1))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(holder, return_exceptions=True)
    assert order[-1] == "held"
