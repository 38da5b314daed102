"""Compute and store the reference rate for a range of buckets.

Reads the quotes and observations of a chunk of buckets (plus the lookback before it), then
computes bucket after bucket in time order, carrying the re-inclusion state from the bucket
before, and commits the chunk as its own batch: a bucket is idempotent (its rows are
replaced), so a crash between two chunks loses nothing a rerun does not redo. Used after
every venue or aggregator run (the buckets its data fell in) and by
``kasparro rates recompute`` (any range, from the stored data: identical values on
unchanged data).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kasparro.rates import repository as repo
from kasparro.rates.compute import Candidate, Rate, compute_bucket
from kasparro.rates.inputs import PartitionView, Window
from kasparro.rates.method import CURRENT, INTERVALS, Method

log = structlog.get_logger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def floor(t: datetime, step: timedelta) -> datetime:
    return EPOCH + ((t - EPOCH) // step) * step


@dataclass
class RangeResult:
    buckets: int = 0
    values: int = 0
    restated: int = 0
    by_interval: dict[str, int] = field(default_factory=dict)
    first: datetime | None = None  # the earliest bucket computed (of any interval)


# Buckets read and written per transaction: an hour of 1m buckets, three 1h buckets (what
# a chunk reads: its quotes and the lookback before it).
CHUNK: Final = {"1m": 60, "1h": 3}


async def compute_range(
    engine: AsyncEngine,
    since: datetime,
    until: datetime,
    *,
    intervals: tuple[str, ...] = tuple(INTERVALS),
    method: Method = CURRENT,
    now: datetime | None = None,
) -> RangeResult:
    """Every bucket of ``intervals`` overlapping ``[since, until]`` with data observed in
    it, computed with ``method`` and stored; and every stored bucket after them (a value
    that changes can change the re-inclusion state the next bucket starts from)."""
    result = RangeResult()
    for interval in intervals:
        step = INTERVALS[interval]
        start = floor(since, step)
        async with engine.connect() as conn:
            conn = await conn.execution_options(kasparro_read_only=True)
            newest = await repo.newest_bucket(conn, interval, method.version)
        end = max(floor(until, step), newest or start) + step
        chunk = step * CHUNK[interval]
        while start < end:
            async with engine.connect() as conn:
                conn = await conn.execution_options(kasparro_read_only=True)
                next_data = await repo.next_observed(conn, start)
            if next_data is None or next_data >= end:
                break
            start = max(start, floor(next_data, step))  # skip stretches without data
            stop = min(start + chunk, end)
            async with engine.begin() as conn:
                await repo.rates_lock(conn)
                await repo.plan_each_statement(conn)
                await _chunk(conn, interval, start, stop, method, now, result)
            start = stop
    return result


async def _chunk(
    conn: AsyncConnection,
    interval: str,
    start: datetime,
    end: datetime,
    method: Method,
    now: datetime | None,
    result: RangeResult,
) -> None:
    """The buckets in ``[start, end)`` with data, in time order, in the caller's
    transaction (which holds the rates lock: two computations never interleave, so the
    last one of a bucket sees all of its data)."""
    step = INTERVALS[interval]
    quotes = await repo.quotes_observed(conn, start - method.lookback, end)
    observations = await repo.observations_observed(conn, start - method.lookback, end)
    state = await repo.out_before(conn, interval, method.version, start)
    ids = {q.asset_id for q in quotes if q.asset_id is not None}
    ids |= {o.asset_id for o in observations}
    symbols = await repo.symbols(conn, ids)
    window = Window(quotes, observations)
    buckets = sorted({floor(t, step) for t in window.observed_times() if start <= t < end})
    for bucket in buckets:
        # CPU-bound for a large universe (seconds per bucket): off the event loop, so an API
        # served by the same process (`kasparro up`) keeps answering meanwhile.
        views = await asyncio.to_thread(bucket_partitions, window, interval, bucket, method)
        result.by_interval.setdefault(interval, 0)
        assets = observed_assets(views)
        for i in range(0, len(assets), ASSETS_PER_STEP):
            evaluated, values = await asyncio.to_thread(
                asset_values, views, assets[i : i + ASSETS_PER_STEP], state, symbols, method
            )
            for asset_id, rate in values.items():
                state[asset_id] = rate.out
            result.restated += await repo.save_bucket(
                conn, interval, method.version, bucket, evaluated, values, now or datetime.now(UTC)
            )
            result.values += len(values)
            result.by_interval[interval] += len(values)
        result.buckets += 1
        result.first = bucket if result.first is None else min(result.first, bucket)


# Assets computed and stored at a time within a bucket: each asset's value depends on its own
# candidates only, and a large universe's hourly bucket built at once (~62,000 assets' 12
# partitions of candidates, then ~33,000 values with their ~140,000 published inputs) was the
# ETL's peak memory (BENCHMARKS.md, benchmark 1).
ASSETS_PER_STEP: Final = 4000


def bucket_partitions(
    window: Window, interval: str, bucket: datetime, method: Method
) -> list[tuple[datetime, PartitionView]]:
    """The bucket's partitions, in time order: each one's end and its view of the window."""
    length = method.partitions(interval)
    n = INTERVALS[interval] // length
    return [
        (
            bucket + (k + 1) * length,
            window.partition(bucket + k * length, bucket + (k + 1) * length, method.lookback),
        )
        for k in range(n)
    ]


def observed_assets(views: list[tuple[datetime, PartitionView]]) -> list[int]:
    """Every asset observed in one of the bucket's partitions, in id order."""
    return sorted(set().union(*(view.observed for _, view in views)))


def asset_values(
    views: list[tuple[datetime, PartitionView]],
    assets: Sequence[int],
    state: dict[int, frozenset[str]],
    symbols: dict[int, str],
    method: Method,
) -> tuple[list[int], dict[int, Rate]]:
    """Of ``assets``, those evaluated (observed in one of the bucket's partitions) and the
    value of each one that gets one."""
    parts: dict[int, list[tuple[int, datetime, list[Candidate]]]] = {}
    for k, (end, view) in enumerate(views):
        for asset_id, candidates in view.candidates(assets).items():
            parts.setdefault(asset_id, []).append((k, end, candidates))
    values: dict[int, Rate] = {}
    # A value needs two distinct sources in one partition (venues for a primary value, any
    # for a fallback): an asset seen by fewer across the whole bucket gets none, and leaves
    # no state (only valued assets carry theirs), so it is not computed at all (a long tail
    # of coins quoted by one aggregator only: most of the time computing nothing).
    enough = min(method.min_venues, method.min_sources)
    for asset_id, partitions in parts.items():
        if len({c.source for _, _, candidates in partitions for c in candidates}) < enough:
            continue
        rate = compute_bucket(
            partitions,
            symbol=symbols.get(asset_id, ""),
            out_before=state.get(asset_id, frozenset()),
            method=method,
        )
        if rate is not None:
            values[asset_id] = rate
    return sorted(parts), values


def bucket_values(
    window: Window,
    interval: str,
    bucket: datetime,
    state: dict[int, frozenset[str]],
    symbols: dict[int, str],
    method: Method,
) -> tuple[list[int], dict[int, Rate]]:
    """The bucket's assets evaluated (those with something observed in one of its
    partitions) and every asset's value, all at once."""
    views = bucket_partitions(window, interval, bucket, method)
    return asset_values(views, observed_assets(views), state, symbols, method)


async def compute_for_run(
    engine: AsyncEngine, run_id: int, *, method: Method = CURRENT
) -> RangeResult | None:
    """The buckets the data of run ``run_id`` was observed in, back to the method's
    ``lookback`` before the newest observation of the source's previous run (or of this
    one, the first time; None: it loaded nothing).

    The live restatement horizon: an aggregator lists coins whose last update is hours or
    a year old, and computing from the oldest one (and every stored bucket after it, which
    a restatement carries into) made each run recompute the store's whole rate history:
    half of an ingest run's time in benchmark 1, growing with the store. Measured from the
    previous run, the horizon still covers everything observed since that run could see
    it, however long the interval between runs (an hourly schedule, a day of downtime).
    Data observed before it is stored and counts in ``kasparro rates recompute``."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(kasparro_read_only=True)
        span = await repo.run_span(conn, run_id)
        previous = await repo.previous_newest(conn, run_id) if span else None
    if span is None:
        return None
    low, high = span
    since = min(high, previous or high) - method.lookback
    return await compute_range(engine, max(low, since), high, method=method)


async def compute_for_run_quietly(engine: AsyncEngine, run_id: int) -> RangeResult | None:
    """:func:`compute_for_run` that never fails the run that triggered it (the values stay
    missing until the next run of the bucket or ``kasparro rates recompute``)."""
    try:
        result = await compute_for_run(engine, run_id)
    except Exception as exc:
        log.warning("rates_failed", run_id=run_id, error=f"{type(exc).__name__}: {exc}")
        return None
    if result is not None:
        log.info(
            "rates_computed",
            run_id=run_id,
            buckets=result.buckets,
            values=result.values,
            since=result.first.isoformat() if result.first else None,
        )
    return result
