"""Run one source end to end: extract pages, normalize, resolve identity, load, checkpoint.

Pages are committed with their checkpoint (``runs.commit``): a crash at any point loses at
most the pages in flight, and the next run resumes right after the last committed page.
Fetching and normalizing run ahead of the commit (``runs.prefetch``), a page in batches
(``runs.batches``). A run holds its source's lease (``runs.leases``) and heartbeats it; a stop
request (``runs.stop``) ends it at a page boundary; ``runs.failpoints`` injects failures and
crashes for demos and the crash matrix.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro import metrics
from kasparro.identity.detail_store import wanted_ids
from kasparro.identity.service import IdentityService
from kasparro.load.backfill import targets as backfill_targets
from kasparro.load.raw import loaded_fingerprints, purge_raw, save_raw
from kasparro.load.venues import listed_markets
from kasparro.rates.service import compute_for_run_quietly
from kasparro.runs import repository as repo
from kasparro.runs.batches import Batch, page_batches
from kasparro.runs.commit import commit_group
from kasparro.runs.failpoints import FailPoints
from kasparro.runs.leases import LeaseLedger, UnrecordedFinish, lease_name
from kasparro.runs.maintenance import maintain_store
from kasparro.runs.owner import new_owner
from kasparro.runs.prefetch import prefetched
from kasparro.runs.result import ProgressCallback, RunResult, one_line_error
from kasparro.runs.stop import RunStop
from kasparro.runs.venue_links import link_venue_quietly
from kasparro.settings import Settings
from kasparro.sources.base import (
    HistorySource,
    Page,
    ReferenceSource,
    Source,
    SourceError,
    VenueSource,
)
from kasparro.sources.history import not_listed
from kasparro.status import OK, RunStatus

log = structlog.get_logger(__name__)


class AlreadyRunning(Exception):
    """Another process holds this source's lease."""


class Pipeline:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        owner: str | None = None,
        ledger: LeaseLedger | None = None,
        identity: IdentityService | None = None,
    ) -> None:
        self.engine = engine
        # Relinks after runs that bring new coins (None: never, e.g. a one-off tool).
        self.identity = identity
        self.settings = settings
        self.owner = owner or new_owner()
        # One per process (the composition root's); a fresh one for a one-off pipeline.
        self.ledger = ledger if ledger is not None else LeaseLedger()
        self.failpoints = FailPoints(settings.fail_at, settings.crash_at)

    async def _acquire(self, lease: str) -> None:
        ttl = self.settings.lease_ttl_seconds
        async with self.engine.begin() as conn:
            if await repo.try_acquire_lease(conn, lease, self.owner, ttl):
                self.ledger.released(self.engine, lease)
                return
            holder, expires_at = await repo.lease_holder(conn, lease)
            live = self.ledger.is_live(self.engine, lease, holder, expires_at, repo.utcnow())
            if not live and await repo.try_acquire_lease(
                conn, lease, self.owner, ttl, steal_from=holder
            ):
                ended = self.ledger.owner_has_ended(self.engine, lease, holder)
                self.ledger.released(self.engine, lease)
                why = "ended_run" if ended else "dead_process"
                log.warning(f"lease_recovered_from_{why}", lease=lease, dead_owner=holder)
                return
        raise AlreadyRunning(
            f"{lease.removeprefix('source:')} is already running (lease held by {holder})"
        )

    async def run(
        self,
        source: Source,
        *,
        trigger: str = "cli",
        progress: ProgressCallback | None = None,
        force: bool = False,
        stop: RunStop | None = None,
    ) -> RunResult:
        """Run ``source`` once; ``force`` runs a reference source even when its data is
        fresh (see ``_still_fresh``); ``stop`` ends the run at a page boundary when
        requested."""
        name = source.name
        fresh, listed_at = (None, None) if force else await self._still_fresh(source)
        wanted = await self._wanted_detail(source)
        if fresh is not None and not wanted:  # not recorded as a run: nothing ran
            return RunResult(run_id=0, source=name, status=RunStatus.FRESH, error=fresh)
        if isinstance(source, ReferenceSource):
            # Fresh lists with coin pages wanted: a run of the pages alone.
            source.want_detail(wanted, only=fresh is not None, listed_at=listed_at)
        lease = lease_name(name)
        await self._acquire(lease)
        try:
            result = await self._run_locked(source, trigger, progress, stop or RunStop())
        finally:
            try:
                async with self.engine.begin() as conn:
                    await repo.release_lease(conn, lease, self.owner)
            except Exception:  # the database is down: let the next run here take it over
                self.ledger.ended_unreleased(self.engine, lease, self.owner)
        if result.status in OK and isinstance(source, VenueSource):
            # The venue's bases -> canonical assets (venue_market_links), after the lease.
            await link_venue_quietly(self.engine, source.venue)
        if result.status in OK and result.run_id and not isinstance(source, HistorySource):
            # The reference rate of the buckets this run's data was observed in (after the
            # venue links: a newly linked market is an input at once). Not after a history
            # backfill: a year of daily closes is no quote of a minute (`kasparro rates
            # recompute` covers a range on request).
            await compute_for_run_quietly(self.engine, result.run_id)
        identity = self.identity
        if (
            identity is not None
            and result.status in OK
            and identity.wants_relink(source, result.new_ids)
        ):
            # After the lease is released: a relink never delays the source's next run.
            outcome = await identity.relink_quietly(trigger=f"{name} run {result.run_id}")
            result.relink = outcome.status
        return result

    async def _still_fresh(self, source: Source) -> tuple[str | None, datetime | None]:
        """Why a run of ``source`` is not needed now (reference data refreshed recently), or
        None, and when its lists were fetched. An interrupted refresh is never fresh: it
        resumes. A run of coin pages alone says when the lists were fetched (``listed_at``
        in its checkpoint): it does not refresh them."""
        if not isinstance(source, ReferenceSource) or not source.refresh_seconds:
            return None, None
        refresh = source.refresh_seconds
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(kasparro_read_only=True)
            checkpoint = await repo.get_checkpoint(conn, source.name)
            finished = await repo.last_success_at(conn, source.name)
        if finished is None or (checkpoint and checkpoint.get("in_progress")):
            return None, None
        if checkpoint and checkpoint.get("listed_at"):
            finished = datetime.fromisoformat(checkpoint["listed_at"])
        age = (repo.utcnow() - finished).total_seconds()
        if age >= refresh:
            return None, None
        reason = (
            f"fresh: refreshed {age / 60:.0f} min ago, next refresh after {refresh / 3600:g} h "
            "(KASPARRO_REFERENCE_REFRESH_SECONDS)"
        )
        return reason, finished

    async def _wanted_detail(self, source: Source) -> list[str]:
        """The coins of ``source``'s namespace whose own pages identity wants, best first
        (``identity.detail_store``; a plain read, before the run)."""
        if not isinstance(source, ReferenceSource) or source.detail_per_run <= 0:
            return []
        if self.identity is None:
            return []  # nothing would relink on them
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(kasparro_read_only=True)
            return await wanted_ids(conn, source.namespace, source.detail_per_run)

    async def _run_locked(
        self, source: Source, trigger: str, progress: ProgressCallback | None, stop: RunStop
    ) -> RunResult:
        name = source.name
        started = time.monotonic()
        unrecorded = self.ledger.unrecorded(self.engine, name)
        async with self.engine.begin() as conn:
            # Record how runs of this process ended while the database was down (before
            # mark_dead_runs, which would otherwise call them crashed).
            for u in unrecorded:
                await repo.finish_run(conn, u.run_id, u.status, u.error, finished_at=u.finished_at)
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
            self.ledger.recorded(self.engine, name, entry)
        self.failpoints.crash("after_run_created", name)
        result = RunResult(
            run_id=run_id,
            source=name,
            status=RunStatus.RUNNING,
            resumed_from=resumed_from,
            crashed_runs=crashed,
        )
        bound = log.bind(run_id=run_id, source=name)
        if crashed:
            bound.warning("dead_runs_marked_crashed", crashed_runs=crashed)
        bound.info("run_started", trigger=trigger, resumed_from=resumed_from)
        metrics.RUNS_IN_PROGRESS.labels(name).inc()
        beat_done = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(lease_name(name), run_id, beat_done))
        status, error = RunStatus.FAILED, None
        try:
            await self._load(source, checkpoint, run_id, result, progress, bound, stop)
            self.failpoints.crash("before_finish", name)
            status = RunStatus.PARTIAL if result.rejected else RunStatus.SUCCESS
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
            error = one_line_error(exc)
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

    async def _load(
        self,
        source: Source,
        checkpoint: dict[str, Any] | None,
        run_id: int,
        result: RunResult,
        progress: ProgressCallback | None,
        bound: Any,
        stop: RunStop,
    ) -> None:
        name = source.name
        if isinstance(source, HistorySource):
            await self._plan_backfill(source)
        elif isinstance(source, VenueSource):
            await self._hand_markets(source)
        known = await self._known(name, run_id)
        size = self.settings.load_batch_rows

        def batches_of(page: Page, first_of_run: bool) -> Any:
            return page_batches(source, page, size=size, first_of_run=first_of_run, known=known)

        groups = prefetched(source, checkpoint, max_items=size, batches_of=batches_of, stop=stop)
        # aclosing: leaving the loop early (an error, a cancellation) must stop the producer
        # task now, not whenever the generator is garbage-collected.
        async with contextlib.aclosing(groups):
            async for group in groups:
                # An injected failure at page N behaves as if the upstream failed there:
                # the pages before it are committed, page N is not.
                failure = None
                for i, batch in enumerate(group):
                    if batch.first and (
                        failure := self.failpoints.failure(name, batch.page.number)
                    ):
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
                stop.check(name)

    async def _plan_backfill(self, source: HistorySource) -> None:
        """A backfill plans from the store (its coins and how far their history already
        goes): a plain read, inside the lease, before the first request."""
        spec = source.spec
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(kasparro_read_only=True)
            found = await backfill_targets(
                conn, source.namespace, spec.interval, asset_ids=spec.asset_ids, top=spec.top
            )
        if not found and spec.asset_ids:
            # Checked before the run (``run_sources``): only a relink moving the coins in
            # between gets here.
            raise SourceError(not_listed(spec.asset_ids, [source.namespace]))
        if not found:
            raise SourceError(
                f"no {source.namespace} coins to backfill: run `kasparro etl run` first (the "
                f"top coins come from the latest market data) or name assets that "
                f"{source.namespace} lists"
            )
        source.plan(found)

    async def _hand_markets(self, source: VenueSource) -> None:
        """A venue's tickers are read with its stored market list (a plain read, inside the
        lease, before the first request)."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(kasparro_read_only=True)
            markets = await listed_markets(conn, source.venue)
        source.use_markets(markets)

    async def _commit_shielded(
        self, source: Source, run_id: int, group: list[Batch], result: RunResult
    ) -> None:
        # A commit is short: on cancellation (shutdown) let the one in flight finish so its
        # batches are committed or rolled back as a whole, never abandoned mid-transaction
        # (an abandoned aiosqlite connection can keep the SQLite write lock until it is
        # garbage-collected).
        commit = asyncio.ensure_future(
            commit_group(self.engine, source, run_id, group, result, self.failpoints)
        )
        try:
            await asyncio.shield(commit)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await commit
            raise

    async def _known(self, source: str, run_id: int) -> set[str]:
        """Payloads recent runs loaded whole (see load.raw.loaded_fingerprints)."""
        # A plain read (on SQLite not BEGIN IMMEDIATE): it must not queue behind, or block,
        # the write transaction of another source's batch being committed meanwhile.
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(kasparro_read_only=True)
            return await loaded_fingerprints(conn, source, run_id)

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
                await repo.release_lease(conn, lease_name(result.source), self.owner)
                await purge_raw(conn, self.settings.raw_retention_days)
        except Exception as exc:  # the database itself may be what failed
            bound.error("run_finish_not_recorded", error=one_line_error(exc))
            # Written by the next run of this source in this process (see _run_locked).
            self.ledger.add_unrecorded(
                self.engine,
                result.source,
                UnrecordedFinish(result.run_id, result.status, result.error, repo.utcnow()),
            )
        await maintain_store(self.engine, self.settings, bound)
        metrics.RUNS.labels(result.source, result.status).inc()
        metrics.RUN_DURATION.labels(result.source).observe(result.duration_s)
        if result.status in OK:
            metrics.LAST_SUCCESS.labels(result.source).set_to_current_time()
        level = "info" if result.status in OK else "error"
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
