"""Commit a group of batches in one transaction, through the loader of the source's kind.

Raw payloads, drift events, the records (market observations, a reference snapshot, history
points with their watermark), quarantined rejections, the run's counters and the source's
checkpoint are written together or not at all. Set-based across the group: one statement per
table, whatever the number of pages.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kasparro import metrics
from kasparro.load.assets import resolve_assets
from kasparro.load.backfill import extend_watermarks
from kasparro.load.drift import record_drift
from kasparro.load.observations import LoadResult, insert_observations, observation_row
from kasparro.load.quarantine import quarantine_rejections
from kasparro.load.raw import ArchivedPayload, mark_loaded, save_raws
from kasparro.load.reference import ReferenceBatch, load_reference
from kasparro.load.venues import load_markets, load_quotes
from kasparro.normalize.drift import DriftFinding
from kasparro.runs import repository as repo
from kasparro.runs.batches import Batch, PageLoad
from kasparro.runs.failpoints import FailPoints
from kasparro.runs.maintenance import months_ready
from kasparro.runs.result import RunResult
from kasparro.sources.base import (
    HistorySource,
    ReferenceSource,
    Source,
    VenueMarketsSource,
    VenueSource,
)

log = structlog.get_logger(__name__)


async def _load_market(
    conn: AsyncConnection,
    source: Source,
    group: list[Batch],
    run_id: int,
    now: datetime,
    result: RunResult,
    failpoints: FailPoints,
) -> LoadResult:
    """Market snapshots and history points: assets resolved, observations inserted. History
    never advances the latest observation (a backfill is older than the market snapshot),
    and moves each coin's watermark with the data it covers."""
    records = [r for b in group for r in b.records]
    pages = [b.page.number for b in group for _ in b.records]
    new_ids: list[str] = []
    # Each record's coin is mapped under the record's own source, the listing its row goes
    # to (a backfill's points are CoinGecko's coins, not "coingecko_history"'s): readers of
    # an asset's rows find them through that mapping (store.asset_rows).
    by_source: dict[str, list[int]] = {}
    for i, rec in enumerate(records):
        by_source.setdefault(rec.source, []).append(i)
    asset_ids: dict[tuple[str, str], int] = {}
    for of_source, picked in by_source.items():
        resolved = await resolve_assets(
            conn,
            of_source,
            [records[i] for i in picked],
            run_id,
            pages=[pages[i] for i in picked],
            new_ids=new_ids,
        )
        asset_ids.update(((of_source, sid), asset) for sid, asset in resolved.items())
    failpoints.crash("after_assets", source.name, sorted({b.page.number for b in group}))
    rows = [
        observation_row(r, asset_ids[(r.source, r.source_asset_id)], run_id, now) for r in records
    ]
    history = isinstance(source, HistorySource)
    loaded = await insert_observations(conn, rows, advance_latest=not history)
    result.new_ids += len(new_ids)
    if history:
        covered = [b.page.watermark for b in group if b.last and b.page.watermark]
        if covered:
            await extend_watermarks(conn, source.namespace, covered, run_id, now)
    return loaded


async def _load_reference(
    conn: AsyncConnection, source: ReferenceSource, group: list[Batch], now: datetime
) -> LoadResult:
    batches = []
    for b in group:
        b.load.stored += len(b.records)
        assert b.load.raw_id is not None  # archived by this or an earlier transaction
        batches.append(
            ReferenceBatch(
                scope=b.page.scope or "",
                raw_id=b.load.raw_id,
                records=b.records,
                # An empty or all-rejected listing must not wipe the stored snapshot.
                last=b.last and b.load.stored > 0,
            )
        )
    # Stored under the namespace: the linker joins one API's coins to another's.
    return await load_reference(conn, source.namespace, batches, now)


async def _load_venue_markets(
    conn: AsyncConnection, source: VenueMarketsSource, group: list[Batch], now: datetime
) -> LoadResult:
    total = LoadResult(0, 0)
    for b in group:
        b.load.stored += len(b.records)
        assert b.load.raw_id is not None  # archived by this or an earlier transaction
        # An empty or all-rejected list must not unlist every stored market.
        last = b.last and b.load.stored > 0
        got = await load_markets(conn, source.venue, b.records, b.load.raw_id, now, last=last)
        total.loaded += got.loaded
        total.unchanged += got.unchanged
    return total


async def commit_group(
    engine: AsyncEngine,
    source: Source,
    run_id: int,
    group: list[Batch],
    result: RunResult,
    failpoints: FailPoints,
) -> None:
    """Commit ``group`` (consecutive batches of one source) in one transaction, with the
    checkpoint of the last page it completes."""
    now = repo.utcnow()
    name = source.name
    numbers = sorted({b.page.number for b in group})
    archive: list[tuple[PageLoad, ArchivedPayload]] = []
    completed: list[PageLoad] = []  # pages archived earlier, now loaded whole
    for batch in group:
        load = batch.load
        load.rejected += len(batch.rejections)
        load.drifted += len(batch.findings)
        # Fingerprinted once every item of the payload is stored, none rejected, no drift.
        complete = batch.last and load.rejected == 0 and load.drifted == 0
        if batch.first:
            fp = load.fingerprint if complete else None
            archive.append(
                (load, ArchivedPayload(batch.page.raw, batch.page.number, batch.raw_body, fp))
            )
        elif complete:
            completed.append(load)
    rejections = [r for b in group for r in b.rejections]
    ends = [b for b in group if b.last]
    if not isinstance(source, (VenueMarketsSource, VenueSource, ReferenceSource)):
        observed = [r.observed_at for b in group for r in b.records]
        await months_ready(engine, observed, log.bind(source=name, run_id=run_id))
    async with engine.begin() as conn:
        raw_ids = await save_raws(conn, name, run_id, [a for _, a in archive])
        for (load, _), raw_id in zip(archive, raw_ids, strict=True):
            load.raw_id = raw_id
        for _, payload in archive:
            failpoints.crash("after_raw", name, [payload.page or 0])
        for load in completed:
            if load.raw_id is not None:
                await mark_loaded(conn, load.raw_id, load.fingerprint)
        new_drift: list[tuple[str, DriftFinding]] = []
        for batch in group:
            endpoint = batch.page.raw.endpoint
            found = await record_drift(conn, name, endpoint, batch.findings, run_id, now)
            new_drift += [(endpoint, f) for f in found]
        if isinstance(source, VenueMarketsSource):
            loaded = await _load_venue_markets(conn, source, group, now)
        elif isinstance(source, VenueSource):
            loaded = await load_quotes(conn, [r for b in group for r in b.records], run_id)
        elif isinstance(source, ReferenceSource):
            loaded = await _load_reference(conn, source, group, now)
        else:
            loaded = await _load_market(conn, source, group, run_id, now, result, failpoints)
        failpoints.crash("after_observations", name, numbers)
        await quarantine_rejections(conn, name, rejections, run_id, now)
        fetched = sum(b.fetched for b in group)
        unchanged = loaded.unchanged + sum(b.known_unchanged for b in group)
        await repo.add_page_counts(
            conn,
            run_id,
            fetched=fetched,
            loaded=loaded.loaded,
            unchanged=unchanged,
            rejected=len(rejections),
            pages=len(ends),
        )
        if ends:
            state = {**ends[-1].page.checkpoint, "run_id": run_id}
            await repo.save_checkpoint(conn, name, state, run_id)
        failpoints.crash("before_commit", name, numbers)
    failpoints.crash("after_commit", name, numbers)
    _log_drift(run_id, name, new_drift)
    result.pages += len(ends)
    result.fetched += fetched
    result.loaded += loaded.loaded
    result.unchanged += unchanged
    result.rejected += len(rejections)
    metrics.RECORDS.labels(name, "loaded").inc(loaded.loaded)
    metrics.RECORDS.labels(name, "unchanged").inc(unchanged)
    metrics.RECORDS.labels(name, "rejected").inc(len(rejections))


def _log_drift(run_id: int, name: str, found: list[tuple[str, DriftFinding]]) -> None:
    for endpoint, f in found:
        log.warning(
            "schema_drift_detected",
            run_id=run_id,
            source=name,
            endpoint=endpoint,
            field=f.field,
            kind=f.kind,
            expected=f.expected,
            observed=f.observed,
            suggestion=f.suggestion,
            confidence=None if f.confidence is None else str(f.confidence),
        )
