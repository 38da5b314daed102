"""The reference rate through the whole chain on both databases: aggregators and the four
emulated venues over HTTP, the pipeline computing rates after each run, every stored value
recomputed from its stored inputs, ``recompute`` giving identical values, and a new
methodology version leaving the old rows alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.emulator import EmulatorConfig
from kasparro.rates.compute import Input, recompute
from kasparro.rates.method import CURRENT
from kasparro.rates.repository import plan_each_statement, save_bucket, stored_values
from kasparro.rates.service import compute_range
from kasparro.store.rate_schema import rate_inputs, rates
from tests.fixtures.etl import VENUE_NAMES, make_settings, run_etl, venue_urls


def on_the_wall_clock(ticks: int, **options: Any) -> EmulatorConfig:
    """An emulator whose data clock reaches the wall clock after ``ticks`` one-minute ticks:
    Kraken and Coinbase send no timestamps (their quotes carry the fetch time), so the
    other venues' timestamps must be near the wall clock for the venues to meet in one
    bucket."""
    now = datetime.now(UTC).replace(microsecond=0)
    return EmulatorConfig(anchor=now - timedelta(minutes=ticks), tick_step_seconds=60, **options)


def etl_settings(db_url: str, emu: Any) -> Any:
    return make_settings(
        db_url,
        coingecko_base_url=emu.coingecko_base_url,
        coinpaprika_base_url=emu.coinpaprika_base_url,
        coingecko_max_coins="all",
        **venue_urls(emu),
    )


async def run_ticks(engine: AsyncEngine, emu: Any, settings: Any, ticks: int) -> None:
    """Aggregators and venues at tick 0, then ``ticks`` more ticks of everything."""
    await run_etl(engine, settings, "coingecko", "coinpaprika")
    await run_etl(engine, settings, *(n for v in VENUE_NAMES for n in (f"{v}_markets", v)))
    for _ in range(ticks):
        emu.state.tick()
        await run_etl(engine, settings, "coingecko", "coinpaprika", *VENUE_NAMES)


async def snapshot(engine: AsyncEngine, version: str = CURRENT.version) -> dict[str, list[Any]]:
    async with engine.connect() as conn:
        values = (
            await conn.execute(
                select(rates)
                .where(rates.c.method_version == version)
                .order_by(rates.c.asset_id, rates.c.interval, rates.c.bucket_start)
            )
        ).all()
        inputs = (
            await conn.execute(
                select(rate_inputs)
                .where(rate_inputs.c.method_version == version)
                .order_by(*rate_inputs.primary_key.columns)
            )
        ).all()
    return {
        "rates": [tuple(v for k, v in r._mapping.items() if k != "computed_at") for r in values],
        "inputs": [tuple(r) for r in inputs],
    }


def as_inputs(rows: list[Any]) -> list[Input]:
    fields = set(Input.__slots__)  # type: ignore[attr-defined]
    return [Input(**{k: v for k, v in r._mapping.items() if k in fields}) for r in rows]


async def test_rates_are_computed_recomputable_and_versioned(
    engine: AsyncEngine, db_url: str, emulator_factory: Any
) -> None:
    emu = emulator_factory(on_the_wall_clock(2, coins=300))
    settings = etl_settings(db_url, emu)
    await run_ticks(engine, emu, settings, 2)
    live = await snapshot(engine)
    assert len(live["rates"]) > 100
    intervals = {r[1] for r in live["rates"]}
    assert intervals == {"1m", "1h"}
    async with engine.connect() as conn:
        stored = (await conn.execute(select(rates))).all()
        inputs = (await conn.execute(select(rate_inputs))).all()
    by_key: dict[Any, list[Any]] = {}
    for i in inputs:
        by_key.setdefault((i.asset_id, i.interval, i.bucket_start), []).append(i)
    primary = 0
    for r in stored:
        listed = as_inputs(by_key[(r.asset_id, r.interval, r.bucket_start)])
        assert recompute(listed) == r.value  # from the stored inputs alone
        assert r.low <= r.value <= r.high
        assert r.n_inputs == sum(i.included for i in listed)
        primary += not r.fallback
    assert primary > 50
    # Bitcoin: four venues, a tight band around the aggregators' price.
    btc = [r for r in stored if r.interval == "1m"]
    assert all(isinstance(r.value, Decimal) for r in btc)

    # Recompute the whole range from the stored quotes: identical values and inputs.
    first = min(r.bucket_start for r in stored)
    last = max(r.bucket_start for r in stored)
    result = await compute_range(engine, first, last + timedelta(minutes=1))
    assert result.restated == 0 and result.values == len(live["rates"])
    assert await snapshot(engine) == live

    # A new methodology version: new rows with their version, the old ones untouched.
    wider = replace(CURRENT, version="test-2", band=Decimal("0.5"))
    await compute_range(engine, first, last + timedelta(minutes=1), method=wider)
    assert await snapshot(engine) == live
    new = await snapshot(engine, "test-2")
    assert len(new["rates"]) == len(live["rates"])


async def test_a_run_computes_back_to_the_lookback_not_to_its_stalest_coin(
    engine: AsyncEngine, db_url: str, emulator_factory: Any
) -> None:
    """Aggregators list coins last updated hours or a year ago: a run computes the buckets
    of its data back to the method's lookback before its newest observation only (every run
    recomputed the store's whole rate history from its stalest coin on)."""
    from sqlalchemy import func

    from kasparro.rates.service import compute_for_run
    from kasparro.store.schema import observations, runs

    emu = emulator_factory(on_the_wall_clock(0, coins=150))
    await run_ticks(engine, emu, etl_settings(db_url, emu), 0)
    async with engine.connect() as conn:
        run_id = (
            await conn.execute(select(func.max(runs.c.id)).where(runs.c.source == "coingecko"))
        ).scalar_one()
        oldest, newest = (
            await conn.execute(
                select(
                    func.min(observations.c.observed_at), func.max(observations.c.observed_at)
                ).where(observations.c.run_id == run_id)
            )
        ).one()
    assert oldest < newest - timedelta(days=1)  # the universe has stale coins
    result = await compute_for_run(engine, run_id)
    assert result is not None
    # Nothing before the hour holding the lookback's start (the 1h bucket), nor any 1m
    # bucket of the stale coins.
    horizon = newest - CURRENT.lookback
    assert result.first is not None
    assert result.first >= horizon.replace(minute=0, second=0, microsecond=0), result


async def test_the_horizon_reaches_back_to_what_the_previous_run_could_see(
    engine: AsyncEngine,
) -> None:
    """An hourly source: its run at 13:30 loads an update observed at 12:10, an hour
    before its newest but after its previous run's newest (12:00). That bucket is computed;
    the lookback before the run's own newest alone would have skipped it."""
    from kasparro.rates.service import compute_for_run
    from tests.fixtures.api import T0, rec, seed_run

    await seed_run(engine, "coingecko", [rec("c0", at=T0)])
    late = await seed_run(
        engine,
        "coingecko",
        [rec("c1", at=T0 + timedelta(minutes=10)), rec("c2", at=T0 + timedelta(minutes=90))],
    )
    result = await compute_for_run(engine, late.run_id)
    assert result is not None and result.first == T0.replace(minute=0)  # 12:00's hour
    alone = await compute_for_run(engine, 1)  # the first run: its own newest
    assert alone is not None and alone.first == T0.replace(minute=0)


async def test_a_runs_span_reads_the_runs_rows_not_the_time_index(
    engine: AsyncEngine, dialect: str
) -> None:
    """min/max(observed_at) of one run: PostgreSQL would answer it by walking the time
    index from each end, filtering on the run (the newest run's rows are at the far end: 80 s
    per ETL run at 100M rows); the span query reads the run's rows by its index instead."""
    from sqlalchemy import text

    from kasparro.rates.repository import span_query
    from kasparro.store.schema import observations
    from kasparro.store.venue_schema import venue_quotes

    if dialect != "postgres":
        return  # SQLite has no such rewrite of min/max into index walks with a filter
    # This test's tables are tiny: scans are switched off to ask what the plan *can* be.
    async with engine.begin() as conn:
        for table, index in ((observations, "run_id_idx"), (venue_quotes, "ix_venue_quotes_run")):
            compiled = span_query(table, 7).compile(
                dialect=conn.dialect, compile_kwargs={"literal_binds": True}
            )
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(r[0] for r in await conn.execute(text(f"EXPLAIN {compiled}")))
            assert index in plan, plan  # the run's rows, by its index
            # Even with the run index out of reach (a BRIN needs a bitmap scan), never
            # min/max by a walk of a time index (an InitPlan per end).
            await conn.execute(text("SET LOCAL enable_bitmapscan = off"))
            plan = "\n".join(r[0] for r in await conn.execute(text(f"EXPLAIN {compiled}")))
            assert "InitPlan" not in plan, plan
            await conn.execute(text("RESET enable_bitmapscan"))


async def test_a_bucket_of_more_assets_than_a_statement_takes_parameters(
    engine: AsyncEngine,
) -> None:
    """A large universe's hourly bucket evaluates ~62,000 assets: more ids than asyncpg
    takes parameters in one statement (32,767). Its stored values are read and replaced in
    lists of a few thousand."""
    bucket = datetime(2026, 12, 7, tzinfo=UTC)
    many = list(range(1, 40_001))
    async with engine.begin() as conn:
        assert await stored_values(conn, "1h", "1", bucket, many) == {}
        assert await save_bucket(conn, "1h", "1", bucket, many, {}, bucket) == 0


async def test_a_rates_transaction_plans_each_statement_with_its_values(
    engine: AsyncEngine,
) -> None:
    """PostgreSQL: inside the transaction only (a cached generic plan of the bucket's
    ``IN`` lists compared every row with every id, benchmark 1); SQLite has no plan cache
    setting and needs none."""
    setting = text("SELECT current_setting('plan_cache_mode')")
    async with engine.begin() as conn:
        await plan_each_statement(conn)
        if conn.dialect.name == "postgresql":
            assert (await conn.execute(setting)).scalar_one() == "force_custom_plan"
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            assert (await conn.execute(setting)).scalar_one() == "auto"
