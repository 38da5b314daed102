"""Run one source end to end: extract pages, normalize, resolve identity, load, checkpoint.

Pages are committed with their checkpoint: raw payloads + assets/mappings + observations +
quarantine + run counters + checkpoint in one transaction, so a crash at any point loses at
most the pages in flight, and the next run resumes right after the last committed page. A
page larger than ``load_batch_rows`` items is committed in several batches; only its last
batch advances the checkpoint, so a crash in between re-reads the page and finds the earlier
batches unchanged.

Fetching and normalizing run ahead of the commit (a producer task and a buffer bounded by
``load_batch_rows`` items): the next pages are downloaded and parsed while the database works.
Whatever is ready when a commit ends is committed next, together: when the upstream is
slower than the database every page is its own transaction; when it is faster (a local
emulator, a big backfill), small pages share one, up to ``load_batch_rows`` items, instead of
paying a dozen statements and a commit each.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import operator
import os
import signal
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro import metrics
from kasparro.load.assets import resolve_assets
from kasparro.load.backfill import extend_watermarks
from kasparro.load.drift import record_drift
from kasparro.load.identity import LINKED_SOURCES
from kasparro.load.observations import LoadResult, insert_observations, observation_row
from kasparro.load.quarantine import quarantine_rejections
from kasparro.load.raw import (
    ArchivedPayload,
    compress_body,
    fingerprint,
    loaded_fingerprints,
    mark_loaded,
    purge_raw,
    save_raw,
    save_raws,
)
from kasparro.load.reference import ReferenceBatch, load_reference
from kasparro.models import MarketRecord, Rejection
from kasparro.normalize.drift import TYPE_SAMPLE, DriftFinding, detect_drift
from kasparro.runs import repository as repo
from kasparro.runs.identity import relink_quietly
from kasparro.runs.owner import is_dead_local_owner, new_owner
from kasparro.settings import Settings
from kasparro.sources.base import Page, Source, SourceError

log = structlog.get_logger(__name__)


class AlreadyRunning(Exception):
    """Another process holds this source's lease."""


# Run bookkeeping this process could not write because the database was unreachable when
# the run ended (PostgreSQL stopped mid-run, tests/resilience/test_database_outage.py).
# Without it, the lease of such a run stayed held by its finished owner until
# lease_ttl_seconds expired, so the next run of that source in this same long-lived process
# (scheduler, API) was "skipped: already running" although nothing was running, and the
# failed run was later marked "crashed: process died" although the process was alive.
# Both are settled by the next run of the source here, once the database answers again.
# Keyed by store (database URL) too: one process may use several databases (tests do).
_ENDED_LEASE_OWNERS: dict[tuple[str, str], str] = {}  # (store, lease) -> owner whose run ended
_UNRECORDED_FINISHES: dict[tuple[str, str], list[tuple[int, str, str | None, datetime]]] = {}


def _store(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=True)


def lease_owner_has_ended(engine: AsyncEngine, lease: str, owner: str | None) -> bool:
    """True when ``owner`` holds ``lease`` only because this process could not release it
    after its run ended (the lease is as free as a dead process's)."""
    return owner is not None and _ENDED_LEASE_OWNERS.get((_store(engine), lease)) == owner


class InjectedFailure(SourceError):
    """Deterministic failure requested by KASPARRO_FAIL_AT (demos and tests)."""


@dataclass(slots=True)
class RunResult:
    run_id: int
    source: str
    status: str
    pages: int = 0
    fetched: int = 0
    loaded: int = 0
    unchanged: int = 0
    rejected: int = 0
    error: str | None = None
    resumed_from: int | None = None
    crashed_runs: list[int] = field(default_factory=list)
    duration_s: float = 0.0
    # Source ids this run mapped for the first time (not persisted): they may need linking.
    new_ids: int = 0
    relink: str | None = None  # how the identity relink after the run ended, if one ran

    @property
    def reconciles(self) -> bool:
        return self.fetched == self.loaded + self.unchanged + self.rejected


ProgressCallback = Callable[[RunResult, Page | None], None]


def _one_line_error(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one bounded line.

    A database error's text from SQLAlchemy also carries the failed statement and its
    parameters over several lines (for a page insert: kilobytes of market data), which made
    the reason of a run that lost its database neither one line nor readable; keep the
    driver's own message (its first line) instead."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _market_key(rec: Any) -> tuple[str, Any]:
    return (rec.source_asset_id, rec.observed_at)


def split_page(
    source: Source,
    items: list[Any],
    earlier: dict[tuple[str, Any], int] | None = None,
    normalize: Callable[[Any], Any] | None = None,
) -> tuple[list[Any], list[Rejection], int]:
    """Normalize a page; in-page duplicates of a key are unchanged if identical, else rejected.

    Returns (records, rejections, duplicate_count) where duplicates are identical repeats.
    ``earlier`` carries the keys of the page's earlier batches with a hash of their record
    and receives this batch's: records of one batch are compared exactly, a repeat of an
    earlier batch's key by hash (keeping every record of a 50k-item page alive to compare
    exactly would undo the batching's memory bound).
    """
    records: list[Any] = []  # MarketRecord, or a reference source's records
    rejections: list[Rejection] = []
    seen: dict[tuple[str, Any], Any] = {}
    duplicates = 0
    normalize = normalize or source.normalize
    key_of = getattr(source, "record_key", _market_key)
    for item in items:
        out = normalize(item)
        if isinstance(out, Rejection):
            rejections.append(out)
            continue
        key = key_of(out)
        prior = seen.get(key)
        if prior is None and earlier is not None and key in earlier:
            same = earlier[key] == _record_hash(out)
        elif prior is None:
            seen[key] = out
            records.append(out)
            continue
        else:
            same = prior == out
        if same:
            duplicates += 1
        else:
            rejections.append(
                Rejection(
                    "duplicate key in one response with different values "
                    f"({_describe_key(out, key)})",
                    item,
                    getattr(out, "source_asset_id", None),
                )
            )
    if earlier is not None:
        earlier.update((key, _record_hash(rec)) for key, rec in seen.items())
    return records, rejections, duplicates


def _describe_key(rec: Any, key: tuple[str, Any]) -> str:
    if isinstance(rec, MarketRecord):
        return f"id={rec.source_asset_id!r}, last_updated={rec.observed_at.isoformat()}"
    return f"key={key!r}"


# Every field of a record, in order, per record type (read once: dataclasses.fields per
# record was half the cost of hashing a 48k-item page's records).
_FIELDS: Final[dict[type, Callable[[Any], tuple[Any, ...]]]] = {}


def _fields(rec: Any) -> tuple[Any, ...]:
    getter = _FIELDS.get(type(rec))
    if getter is None:
        getter = operator.attrgetter(*(f.name for f in dataclasses.fields(rec)))
        _FIELDS[type(rec)] = getter
    return getter(rec)


def _record_hash(rec: Any) -> int:
    # Numbers hashed with their text: hash(Decimal(-1)) == hash(Decimal(-2)) in CPython.
    return hash(tuple(str(v) if isinstance(v, Decimal) else v for v in _fields(rec)))


@dataclass(slots=True)
class PageLoad:
    """What the batches of one page share while they are committed."""

    fingerprint: str  # see load.raw.fingerprint
    raw_id: int | None = None
    rejected: int = 0
    # Drift findings: a drifting payload is never skipped, so its drift events keep counting.
    drifted: int = 0
    # Records loaded from the page so far (a reference page replaces its scope only if >0).
    stored: int = 0


@dataclass(slots=True)
class Batch:
    """A page, or a slice of a big one, normalized and ready to commit."""

    page: Page
    load: PageLoad
    first: bool  # carries the page's raw payload
    last: bool  # carries the page's checkpoint
    fetched: int
    records: list[MarketRecord]
    rejections: list[Rejection]
    # Items counted unchanged without being loaded: identical in-page repeats, or every item
    # of a payload loaded before.
    known_unchanged: int
    findings: list[DriftFinding]
    raw_body: bytes | None  # the compressed payload, on the first batch

    @property
    def held_bytes(self) -> int:
        """The payload bytes this batch brings along (a page's later batches share them)."""
        if not self.first:
            return 0
        return len(self.page.raw.body) + len(self.raw_body or b"")


_END: Final = object()


# How much the producer may hold ready beyond the items bound: raw bodies (a page of 250
# coins is ~180 KB, but nothing caps what an upstream sends) and pages (an empty page holds
# no items at all).
AHEAD_MAX_BYTES: Final = 32 * 1024 * 1024
AHEAD_MAX_PAGES: Final = 64


class _Ahead:
    """What the producer prepared ahead of the commit: ``put`` waits while the queued batches
    hold ``max_items`` items, ``AHEAD_MAX_BYTES`` of raw bodies or ``AHEAD_MAX_PAGES`` entries
    (one bigger batch still goes alone), ``take`` hands the consumer everything queued at
    once, to commit together.

    (asyncio.Queue bounds the number of entries; here the bound must be items and bytes, so
    that eight 250-item pages may wait where one 2,000-item batch may.)"""

    def __init__(
        self,
        max_items: int,
        *,
        max_bytes: int = AHEAD_MAX_BYTES,
        max_entries: int = AHEAD_MAX_PAGES,
    ) -> None:
        self._entries: list[Any] = []  # batches, then possibly _END or an exception
        self._items = 0
        self._bytes = 0
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._changed = asyncio.Condition()

    def _room_for(self, items: int, nbytes: int) -> bool:
        return not self._entries or (
            self._items + items <= self._max_items
            and self._bytes + nbytes <= self._max_bytes
            and len(self._entries) < self._max_entries
        )

    async def put(self, entry: Any, items: int = 0, nbytes: int = 0) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._room_for(items, nbytes))
            self._entries.append(entry)
            self._items += items
            self._bytes += nbytes
            self._changed.notify_all()

    async def take(self) -> list[Any]:
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._entries))
            taken, self._entries, self._items, self._bytes = self._entries, [], 0, 0
            self._changed.notify_all()
            return taken


class Pipeline:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        owner: str | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.owner = owner or new_owner()

    async def _acquire(self, name: str) -> None:
        ttl = self.settings.lease_ttl_seconds
        async with self.engine.begin() as conn:
            if await repo.try_acquire_lease(conn, name, self.owner, ttl):
                _ENDED_LEASE_OWNERS.pop((_store(self.engine), name), None)
                return
            holder, _ = await repo.lease_holder(conn, name)
            ended = lease_owner_has_ended(self.engine, name, holder)
            if (ended or is_dead_local_owner(holder)) and await repo.try_acquire_lease(
                conn, name, self.owner, ttl, steal_from=holder
            ):
                _ENDED_LEASE_OWNERS.pop((_store(self.engine), name), None)
                why = "ended_run" if ended else "dead_process"
                log.warning(f"lease_recovered_from_{why}", lease=name, dead_owner=holder)
                return
        raise AlreadyRunning(f"{name} is already running (lease held by {holder})")

    async def run(
        self,
        source: Source,
        *,
        trigger: str = "cli",
        progress: ProgressCallback | None = None,
        force: bool = False,
    ) -> RunResult:
        """Run ``source`` once; ``force`` runs a reference source even when its data is
        fresh (see ``_still_fresh``)."""
        name = source.name
        fresh = None if force else await self._still_fresh(source)
        if fresh is not None:  # not recorded as a run: nothing ran
            return RunResult(run_id=0, source=name, status="fresh", error=fresh)
        lease = f"source:{name}"
        await self._acquire(lease)
        try:
            result = await self._run_locked(source, trigger, progress)
        finally:
            try:
                async with self.engine.begin() as conn:
                    await repo.release_lease(conn, lease, self.owner)
            except Exception:  # the database is down: let the next run here take it over
                _ENDED_LEASE_OWNERS[(_store(self.engine), lease)] = self.owner
        if result.status in ("success", "partial") and (
            getattr(source, "reference", False) or (name in LINKED_SOURCES and result.new_ids > 0)
        ):
            # After the lease is released: a relink never delays the source's next run.
            outcome = await relink_quietly(self.engine, trigger=f"{name} run {result.run_id}")
            result.relink = outcome.status
        return result

    async def _still_fresh(self, source: Source) -> str | None:
        """Why a run of ``source`` is not needed now (reference data refreshed recently), or
        None. An interrupted refresh is never fresh: it resumes."""
        refresh = getattr(source, "refresh_seconds", None)
        if not refresh:
            return None
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(kasparro_read_only=True)
            checkpoint = await repo.get_checkpoint(conn, source.name)
            finished = await repo.last_success_at(conn, source.name)
        if finished is None or (checkpoint and checkpoint.get("in_progress")):
            return None
        age = (repo.utcnow() - finished).total_seconds()
        if age >= refresh:
            return None
        return (
            f"fresh: refreshed {age / 60:.0f} min ago, next refresh after {refresh / 3600:g} h "
            "(KASPARRO_REFERENCE_REFRESH_SECONDS)"
        )

    async def _run_locked(
        self, source: Source, trigger: str, progress: ProgressCallback | None
    ) -> RunResult:
        name = source.name
        started = time.monotonic()
        pending_key = (_store(self.engine), name)
        unrecorded = list(_UNRECORDED_FINISHES.get(pending_key, ()))
        async with self.engine.begin() as conn:
            # Record how runs of this process ended while the database was down (before
            # mark_dead_runs, which would otherwise call them crashed).
            for run_id, status, error, finished_at in unrecorded:
                await repo.finish_run(conn, run_id, status, error, finished_at=finished_at)
            crashed = await repo.mark_dead_runs(conn, name, detected_by=f"owner {self.owner}")
            checkpoint = await repo.get_checkpoint(conn, name)
            resuming = bool(checkpoint and checkpoint.get("in_progress"))
            resumed_from = checkpoint.get("run_id") if checkpoint and resuming else None
            run_id = await repo.create_run(
                conn,
                source=name,
                trigger=trigger,
                owner=self.owner,
                resumed_from=resumed_from,
                start_page=int(checkpoint.get("next_page", 1)) if checkpoint and resuming else 1,
            )
        for entry in unrecorded:
            _UNRECORDED_FINISHES[pending_key].remove(entry)
        self._crashpoint("after_run_created", name, 0)
        result = RunResult(
            run_id=run_id,
            source=name,
            status="running",
            resumed_from=resumed_from,
            crashed_runs=crashed,
        )
        bound = log.bind(run_id=run_id, source=name)
        if crashed:
            bound.warning("dead_runs_marked_crashed", crashed_runs=crashed)
        bound.info("run_started", trigger=trigger, resumed_from=resumed_from)
        metrics.RUNS_IN_PROGRESS.labels(name).inc()
        beat_done = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(f"source:{name}", run_id, beat_done))
        status, error = "failed", None
        try:
            await self._load(source, checkpoint, run_id, result, progress, bound)
            self._crashpoint("before_finish", name, 0)
            status = "partial" if result.rejected else "success"
        except asyncio.CancelledError:
            error = (
                "cancelled: shutdown during the run; the transaction in flight was committed "
                "or rolled back whole"
            )
            raise
        except SourceError as exc:
            error = str(exc)
            await self._save_failed_raw(name, run_id, exc)
        except Exception as exc:
            error = _one_line_error(exc)
            bound.exception("run_crashed_unexpectedly")
        finally:
            # Stop the heartbeat by signal, not cancel(): cancelling it mid-write could
            # abandon a transaction (and, on SQLite, the write lock).
            beat_done.set()
            with contextlib.suppress(Exception):
                await asyncio.shield(heartbeat)
            result.status = status
            result.error = error
            result.duration_s = time.monotonic() - started
            await asyncio.shield(self._finish(result, bound))
            metrics.RUNS_IN_PROGRESS.labels(name).dec()
        return result

    def _crashpoint(self, phase: str, name: str, page_number: int) -> None:
        """Test hook: SIGKILL this very process at a named point (KASPARRO_CRASH_AT).

        A real kill -9, not an exception: nothing in this process gets to clean up, exactly
        like an OOM kill or a power cut. Used by the crash-recovery test matrix."""
        target = self.settings.crash_at
        if target and target == f"{phase}:{name}:{page_number}":
            os.kill(os.getpid(), signal.SIGKILL)

    def _crashpoints(self, phase: str, name: str, page_numbers: list[int]) -> None:
        for number in page_numbers:
            self._crashpoint(phase, name, number)

    def _injected_failure(self, name: str, page_number: int) -> InjectedFailure | None:
        target = self.settings.fail_at
        if target and target == f"{name}:{page_number}":
            return InjectedFailure(
                f"injected failure at {name} page {page_number} (KASPARRO_FAIL_AT)"
            )
        return None

    async def _load(
        self,
        source: Source,
        checkpoint: dict[str, Any] | None,
        run_id: int,
        result: RunResult,
        progress: ProgressCallback | None,
        bound: Any,
    ) -> None:
        name = source.name
        prepare = getattr(source, "prepare", None)
        if prepare is not None:
            # Sources that plan from the store (a backfill reads its targets and their
            # watermarks): a plain read, inside the lease, before the first request.
            async with self.engine.connect() as conn:
                await prepare(await conn.execution_options(kasparro_read_only=True))
        groups = self._prefetched(source, checkpoint, await self._known(name, run_id))
        # aclosing: leaving the loop early (an error, a cancellation) must stop the producer
        # task now, not whenever the generator is garbage-collected.
        async with contextlib.aclosing(groups):
            async for group in groups:
                # An injected failure at page N behaves as if the upstream failed there:
                # the pages before it are committed, page N is not.
                failure = None
                for i, batch in enumerate(group):
                    if batch.first and (failure := self._injected_failure(name, batch.page.number)):
                        group = group[:i]
                        break
                if group:
                    await self._commit_shielded(source, run_id, group, result)
                ended = [b.page for b in group if b.last]
                for page in ended:
                    if progress:
                        progress(result, page)
                    # The counts are the run's totals once the transaction that completed
                    # this page committed (shared by the pages committed together).
                    bound.info(
                        "page_committed",
                        page=page.number,
                        items=len(page.items),
                        pages_in_transaction=len(ended),
                        loaded=result.loaded,
                        unchanged=result.unchanged,
                        rejected=result.rejected,
                    )
                if failure is not None:
                    raise failure

    async def _commit_shielded(
        self, source: Source, run_id: int, group: list[Batch], result: RunResult
    ) -> None:
        # A commit is short: on cancellation (shutdown) let the one in flight finish so its
        # batches are committed or rolled back as a whole, never abandoned mid-transaction
        # (an abandoned aiosqlite connection can keep the SQLite write lock until it is
        # garbage-collected).
        commit = asyncio.ensure_future(self._commit_group(source, run_id, group, result))
        try:
            await asyncio.shield(commit)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await commit
            raise

    async def _prefetched(
        self, source: Source, checkpoint: dict[str, Any] | None, known: set[str]
    ) -> AsyncGenerator[list[Batch], None]:
        """The source's batches in order, fetched and normalized ahead of the commit, in
        groups: everything prepared while the previous group was committing (at most
        ``load_batch_rows`` items waiting, or one bigger batch, plus one more being prepared).

        The producer task only reads and computes; everything durable happens in the caller,
        so running ahead never lets a checkpoint pass data that is not committed. An error of
        the producer reaches the caller in its place in the sequence, after every batch
        before it."""
        ahead = _Ahead(self.settings.load_batch_rows)

        async def produce() -> None:
            try:
                first_of_run = True
                async for page in source.pages(checkpoint):
                    async for batch in self._batches(source, page, first_of_run, known):
                        await ahead.put(batch, batch.fetched, batch.held_bytes)
                    first_of_run = False
                await ahead.put(_END)
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise  # stopped by the consumer, which no longer waits for it
                # Raised inside the source without anyone cancelling this task: the consumer
                # is still waiting in take() and must not wait forever.
                await ahead.put(exc)
                raise
            except BaseException as exc:  # whatever ends the producer must reach the consumer
                await ahead.put(exc)
                if not isinstance(exc, Exception):
                    raise

        producer = asyncio.create_task(produce())
        try:
            while True:
                group: list[Batch] = []
                for entry in await ahead.take():
                    if isinstance(entry, Batch):
                        group.append(entry)
                        continue
                    if group:
                        yield group
                    if isinstance(entry, BaseException):
                        raise entry
                    return  # _END
                yield group
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer

    async def _batches(
        self, source: Source, page: Page, first_of_run: bool, known: set[str]
    ) -> AsyncIterator[Batch]:
        """``page`` in batches of at most ``load_batch_rows`` items, each decoded, normalized
        and checked for drift. A schema change shows in every record, so only the run's first
        batch gets the full type-check sample and later ones a few records each (key sets are
        checked on every record, and the normalizers reject any single bad value anyway)."""
        size = self.settings.load_batch_rows
        contract_for = getattr(source, "contract_for", None)
        contract = (
            contract_for(page.raw.endpoint) if contract_for else getattr(source, "contract", None)
        )
        # zlib and hashlib release the GIL: a 36 MB body is compressed and hashed on worker
        # threads while the event loop goes on with the database.
        raw_body, fp = await asyncio.gather(
            asyncio.to_thread(compress_body, page.raw.body),
            asyncio.to_thread(fingerprint, source.name, page),
        )
        load = PageLoad(fp)
        total = len(page.items)
        if fp in known:
            # Byte for byte a payload whose every item is already stored: archive it and
            # count its items unchanged, without decoding, normalizing or looking them up.
            yield Batch(page, load, True, True, total, [], [], total, [], raw_body)
            return
        earlier: dict[tuple[str, Any], int] | None = {} if total > size else None
        for start in range(0, max(total, 1), size):
            items = list(page.items[start : start + size])  # decodes this slice only
            records, rejections, duplicates = split_page(source, items, earlier, page.normalize)
            yield Batch(
                page=page,
                load=load,
                first=start == 0,
                last=start + size >= total,
                fetched=len(items),
                records=records,
                rejections=rejections,
                known_unchanged=duplicates,
                findings=(
                    detect_drift(
                        contract,
                        items,
                        type_sample=TYPE_SAMPLE if first_of_run and start == 0 else 4,
                    )
                    if contract is not None
                    else []
                ),
                raw_body=raw_body if start == 0 else None,
            )
            del items, records, rejections

    async def _known(self, source: str, run_id: int) -> set[str]:
        """Payloads recent runs loaded whole (see load.raw.loaded_fingerprints)."""
        # A plain read (on SQLite not BEGIN IMMEDIATE): it must not queue behind, or block,
        # the write transaction of another source's batch being committed meanwhile.
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(kasparro_read_only=True)
            return await loaded_fingerprints(conn, source, run_id)

    async def _commit_group(
        self, source: Source, run_id: int, group: list[Batch], result: RunResult
    ) -> None:
        """Commit ``group`` (consecutive batches of one source) in one transaction, with the
        checkpoint of the last page it completes. Set-based across the group: one statement
        per table, whatever the number of pages."""
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
        records = [r for b in group for r in b.records]
        rejections = [r for b in group for r in b.rejections]
        ends = [b for b in group if b.last]
        async with self.engine.begin() as conn:
            raw_ids = await save_raws(conn, name, run_id, [a for _, a in archive])
            for (load, _), raw_id in zip(archive, raw_ids, strict=True):
                load.raw_id = raw_id
            for _, payload in archive:
                self._crashpoint("after_raw", name, payload.page or 0)
            for load in completed:
                if load.raw_id is not None:
                    await mark_loaded(conn, load.raw_id, load.fingerprint)
            new_drift: list[tuple[str, DriftFinding]] = []
            for batch in group:
                endpoint = batch.page.raw.endpoint
                found = await record_drift(conn, name, endpoint, batch.findings, run_id, now)
                new_drift += [(endpoint, f) for f in found]
            if getattr(source, "reference", False):
                # Stored under the API's name: the linker joins CoinGecko to CoinPaprika.
                loaded = await self._load_reference(conn, getattr(source, "api", name), group, now)
            else:
                history = getattr(source, "history", False)
                loaded = await self._load_market(
                    conn, name, group, records, run_id, now, result, history=history
                )
                covered = [b.page.watermark for b in group if b.last and b.page.watermark]
                if covered:  # a backfill's watermark moves with the data it covers
                    await extend_watermarks(
                        conn, getattr(source, "api", name), covered, run_id, now
                    )
            self._crashpoints("after_observations", name, numbers)
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
            self._crashpoints("before_commit", name, numbers)
        self._crashpoints("after_commit", name, numbers)
        for endpoint, f in new_drift:
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
        result.pages += len(ends)
        result.fetched += fetched
        result.loaded += loaded.loaded
        result.unchanged += unchanged
        result.rejected += len(rejections)
        metrics.RECORDS.labels(name, "loaded").inc(loaded.loaded)
        metrics.RECORDS.labels(name, "unchanged").inc(unchanged)
        metrics.RECORDS.labels(name, "rejected").inc(len(rejections))

    async def _load_market(
        self,
        conn: Any,
        name: str,
        group: list[Batch],
        records: list[MarketRecord],
        run_id: int,
        now: datetime,
        result: RunResult,
        *,
        history: bool = False,
    ) -> LoadResult:
        new_ids: list[str] = []
        asset_ids = (
            await resolve_assets(
                conn,
                name,
                records,
                run_id,
                pages=[b.page.number for b in group for _ in b.records],
                new_ids=new_ids,
            )
            if records
            else {}
        )
        self._crashpoints("after_assets", name, sorted({b.page.number for b in group}))
        rows = [observation_row(r, asset_ids[r.source_asset_id], run_id, now) for r in records]
        loaded = await insert_observations(conn, rows, advance_latest=not history)
        result.new_ids += len(new_ids)
        return loaded

    async def _load_reference(
        self, conn: Any, name: str, group: list[Batch], now: datetime
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
        return await load_reference(conn, name, batches, now)

    async def _save_failed_raw(self, name: str, run_id: int, exc: SourceError) -> None:
        raw = getattr(exc, "raw", None)
        if raw is None:
            return
        with contextlib.suppress(Exception):
            async with self.engine.begin() as conn:
                await save_raw(conn, name, run_id, None, raw)

    async def _finish(self, result: RunResult, bound: Any) -> None:
        try:
            async with self.engine.begin() as conn:
                await repo.finish_run(conn, result.run_id, result.status, result.error)
                # Released with the final status in one commit: whoever sees the run finished
                # can start the next one at once (no window where it looks "already running").
                await repo.release_lease(conn, f"source:{result.source}", self.owner)
                await purge_raw(conn, self.settings.raw_retention_days)
        except Exception as exc:  # the database itself may be what failed
            bound.error("run_finish_not_recorded", error=_one_line_error(exc))
            # Written by the next run of this source in this process (see _run_locked).
            _UNRECORDED_FINISHES.setdefault((_store(self.engine), result.source), []).append(
                (result.run_id, result.status, result.error, repo.utcnow())
            )
        metrics.RUNS.labels(result.source, result.status).inc()
        metrics.RUN_DURATION.labels(result.source).observe(result.duration_s)
        if result.status in ("success", "partial"):
            metrics.LAST_SUCCESS.labels(result.source).set_to_current_time()
        level = "info" if result.status in ("success", "partial") else "error"
        getattr(bound, level)(
            "run_finished",
            status=result.status,
            pages=result.pages,
            fetched=result.fetched,
            loaded=result.loaded,
            unchanged=result.unchanged,
            rejected=result.rejected,
            error=result.error,
            duration_s=round(result.duration_s, 3),
        )

    async def _heartbeat(self, lease: str, run_id: int, done: asyncio.Event) -> None:
        interval = max(1.0, self.settings.lease_ttl_seconds / 3)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), interval)
                return
            try:
                async with self.engine.begin() as conn:
                    await repo.renew_lease(conn, lease, self.owner, self.settings.lease_ttl_seconds)
                    await repo.heartbeat(conn, run_id)
            except Exception as exc:  # keep running; the page commit will surface DB errors
                log.warning("heartbeat_failed", run_id=run_id, error=str(exc))
