"""The scheduler: claims due ticks in the database and runs each claimed source as a task.

Exclusivity, from the outside in:
1. A tick is claimed with a compare-and-set UPDATE on ``scheduler_state`` (see ``state.claim``),
   so N replicas run each slot exactly once.
2. A source whose previous run is still going is never claimed: locally we track our own tasks
   (the pipeline lease is re-entrant for its owner, so it would not stop us); elsewhere we skip
   sources whose ``source:<name>`` lease is live.
3. The pipeline's lease is the last guard: a lost race ends as a "skipped" result, not a
   second concurrent run.

Shutdown never cancels a run inside a database transaction (see ``runs.stop``).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypedDict

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.identity.service import IdentityService
from kasparro.runs.leases import LeaseLedger
from kasparro.runs.owner import new_owner
from kasparro.runs.pipeline import AlreadyRunning, Pipeline
from kasparro.runs.repository import utcnow
from kasparro.runs.result import RunResult
from kasparro.runs.stop import RunStop
from kasparro.scheduler import state
from kasparro.scheduler.timing import Clock, next_slot, retry_delay_s, system_clock
from kasparro.sources.base import VenueSource
from kasparro.sources.catalog import Catalog
from kasparro.sources.http import Limiters
from kasparro.status import NOT_FAILED, RunStatus

log = structlog.get_logger(__name__)

# /health should treat a heartbeat older than ~3x this as a dead scheduler.
HEARTBEAT_SECONDS = 10.0
# After an abort, a run finishes the page it is committing and writes its final status.
ABORT_GRACE_SECONDS = 10.0
# How often to re-check a due source whose run is held by another replica.
BUSY_POLL_SECONDS = 1.0
# Floor on every loop sleep, so no clock quirk can turn the loop into a busy spin.
_MIN_SLEEP_SECONDS = 0.01

SHUTDOWN_REASON = (
    "cancelled: scheduler shutting down; stopped between pages, every committed page is kept "
    "and the next run resumes from the checkpoint"
)


class SourceStatus(TypedDict):
    interval_s: float
    next_run_at: datetime | None
    last_tick_at: datetime | None
    consecutive_failures: int
    running: bool  # here or in another replica (per the live pipeline lease)
    running_here: bool
    heartbeat_at: datetime | None
    owner: str | None  # the replica that claimed the last tick


@dataclass(frozen=True, slots=True)
class Claim:
    source: str
    slot: datetime | None  # the due next_run_at this claim consumed
    next_run_at: datetime  # what the claim set; outcomes compare-and-set against it
    failures: int  # consecutive failures before this run


class Scheduler:
    def __init__(
        self,
        engine: AsyncEngine,
        catalog: Catalog,
        *,
        http: httpx.AsyncClient,
        limiters: Limiters,
        owner: str | None = None,
        ledger: LeaseLedger | None = None,
        clock: Clock = system_clock,
        retry_base_seconds: float | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        settings = self.settings = catalog.settings
        self.http = http
        self.limiters = limiters
        # Unique per instance: the pipeline lease is re-entrant for its owner, so sharing an
        # owner with another scheduler or an API-triggered pipeline would defeat it.
        self.owner = owner or new_owner()
        self.intervals = catalog.scheduled()
        self.retry_base_seconds = (
            retry_base_seconds
            if retry_base_seconds is not None
            else settings.schedule_retry_base_seconds
        )
        self.heartbeat_seconds = heartbeat_seconds
        self._clock = clock
        self.ledger = ledger if ledger is not None else LeaseLedger()
        self._pipeline = Pipeline(
            engine,
            settings,
            owner=self.owner,
            ledger=self.ledger,
            identity=IdentityService.for_registry(engine, catalog.registry),
        )
        self._log = log.bind(owner=self.owner)
        self._runs: dict[str, asyncio.Task[RunResult]] = {}
        self._rows: dict[str, state.StateRow] = {}
        self._leases: dict[str, state.Lease] = {}
        self._prepared = False
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._stopped = False
        self._wake = asyncio.Event()
        self._force = asyncio.Event()
        self._stop = RunStop()  # tells running runs to stop at their next page boundary

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Prepare the state rows (fails fast on a bad database) and start the loop."""
        if self._loop_task is not None or self._stopping.is_set():
            raise RuntimeError("scheduler already started or stopped")
        await self._prepare()
        self._loop_task = asyncio.create_task(self._loop(), name="kasparro-scheduler")
        self._log.info(
            "scheduler_started", intervals=self.intervals, retry_base_s=self.retry_base_seconds
        )

    # The API contract (lifespan, CLI) is stop(timeout): a deadline, not a cancellation scope.
    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Stop claiming, let running runs finish within ``timeout``, then abort the rest.

        An aborted run ends at its next page boundary (or at once if it is waiting on the
        upstream), is recorded failed ("cancelled: ..."), keeps every committed page, and its
        source is left due so the next scheduler resumes it from the checkpoint.
        """
        if self._stopped:
            return
        self._stopping.set()
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._loop_task is not None:
            # The loop sees the flag between passes; a pass is a few short statements.
            done, _ = await asyncio.wait({self._loop_task}, timeout=max(0.0, timeout))
            if not done:
                self._loop_task.cancel()
                await asyncio.wait({self._loop_task}, timeout=ABORT_GRACE_SECONDS)
        pending = await self._drain(deadline)
        if pending:
            pending = await self._abort_runs(pending)
        if pending:
            # Last resort, e.g. a database call that hangs: cancel wherever the run is.
            names = sorted(self._source_of(t) for t in pending)
            self._log.error("runs_cancelled_mid_page", sources=names)
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=ABORT_GRACE_SECONDS)
        self._stopped = True
        self._log.info("scheduler_stopped")

    def force_stop(self) -> None:
        """Make a pending ``stop()`` abort running runs now (second SIGTERM/Ctrl-C)."""
        self._force.set()

    # -- public queries and the manual pass --------------------------------------------------

    async def tick(self) -> list[RunResult]:
        """One scheduling pass: claim what is due, run it, and return the results."""
        tasks, _ = await self._pass()
        return list(await asyncio.gather(*tasks)) if tasks else []

    def status(self) -> dict[str, SourceStatus]:
        """Per-source schedule as of the last pass (cheap and sync: for /health and /stats)."""
        out: dict[str, SourceStatus] = {}
        for name, interval in self.intervals.items():
            row = self._rows.get(name)
            here = name in self._runs
            out[name] = SourceStatus(
                interval_s=interval,
                next_run_at=row.next_run_at if row else None,
                last_tick_at=row.last_tick_at if row else None,
                consecutive_failures=row.consecutive_failures if row else 0,
                running=here or self._busy_elsewhere(self._leases.get(name)),
                running_here=here,
                heartbeat_at=row.heartbeat_at if row else None,
                owner=row.owner if row else None,
            )
        return out

    # -- the loop ----------------------------------------------------------------------------

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_heartbeat = loop.time()
        while not self._stopping.is_set():
            delay = self.heartbeat_seconds
            try:
                _, delay = await self._pass()
                if loop.time() >= next_heartbeat:
                    await self._heartbeat()
                    next_heartbeat = loop.time() + self.heartbeat_seconds
            except Exception as exc:
                # Database unreachable or similar: keep the process alive and retry at the
                # heartbeat cadence, never in a tight loop.
                self._log.error("scheduler_pass_failed", error=f"{type(exc).__name__}: {exc}")
                delay = self.heartbeat_seconds
            delay = min(delay, next_heartbeat - loop.time())
            with contextlib.suppress(TimeoutError):
                # Woken early by stop() or by a finished run (a failure may move next_run_at).
                await asyncio.wait_for(self._wake.wait(), max(delay, _MIN_SLEEP_SECONDS))

    async def _prepare(self) -> None:
        if self._prepared:
            return
        now = self._clock()
        async with self.engine.begin() as conn:
            await state.ensure_rows(conn, self.intervals, now)
            for name, interval in self.intervals.items():
                # A persisted next run from a longer, older interval would delay the new one.
                await state.cap_next_run(conn, name, now, interval)
        self._prepared = True

    async def _pass(self) -> tuple[list[asyncio.Task[RunResult]], float]:
        """Claim every due source; return the launched runs and seconds until the next due."""
        if self._stopping.is_set() or not self.intervals:
            return [], self.heartbeat_seconds
        await self._prepare()
        # Cleared before reading, so a run finishing during this pass still wakes the loop.
        self._wake.clear()
        now = self._clock()
        claims: list[Claim] = []
        lost: set[str] = set()
        async with self.engine.begin() as conn:
            rows = await state.read_rows(conn, self.intervals)
            missing = [n for n in self.intervals if n not in rows]
            if missing:  # rows deleted by hand while we run: recreate, due now
                await state.ensure_rows(conn, missing, now)
                rows = await state.read_rows(conn, self.intervals)
            held = await state.read_leases(conn, self.intervals)
            for name, interval in self.intervals.items():
                row = rows[name]
                if not self._is_due(row, held.get(name), now):
                    continue
                nxt = next_slot(row.next_run_at, now, interval)
                won = await state.claim(
                    conn, name, seen=row.next_run_at, next_run_at=nxt, now=now, owner=self.owner
                )
                if not won:
                    self._log.debug("claim_lost", source=name, slot=_iso(row.next_run_at))
                    # The winner's schedule, so the loop sleeps until the right moment.
                    rows[name] = (await state.read_rows(conn, [name])).get(name, row)
                    lost.add(name)
                    continue
                claims.append(Claim(name, row.next_run_at, nxt, row.consecutive_failures))
                rows[name] = replace(row, next_run_at=nxt, last_tick_at=now, owner=self.owner)
        self._rows, self._leases = rows, held
        tasks = [self._launch(c) for c in claims]
        return tasks, self._seconds_until_due(now, lost)

    def _is_due(self, row: state.StateRow, lease: state.Lease | None, now: datetime) -> bool:
        if row.source in self._runs:
            return False
        if row.next_run_at is not None and row.next_run_at > now:
            return False
        if self._busy_elsewhere(lease):
            # Leave the tick unclaimed: it is taken as soon as that run ends (or its lease
            # expires), instead of being consumed by a run that would only be skipped.
            self._log.debug(
                "source_busy_elsewhere", source=row.source, holder=lease.owner if lease else None
            )
            return False
        return True

    def _busy_elsewhere(self, lease: state.Lease | None) -> bool:
        if lease is None or lease.owner == self.owner:
            return False
        # Lease expiry is wall-clock time written by the pipeline, not the injected clock.
        return self.ledger.is_live(self.engine, lease.name, lease.owner, lease.expires_at, utcnow())

    def _seconds_until_due(self, now: datetime, lost: set[str]) -> float:
        waits = [self.heartbeat_seconds]
        for name, row in self._rows.items():
            if name in self._runs:
                continue  # our own run: its completion wakes the loop
            if row.next_run_at is not None and row.next_run_at > now:
                # Even if another replica's run holds the source now, wake for the slot:
                # that run usually ends first, and a late wake-up would cede every tick.
                waits.append((row.next_run_at - now).total_seconds())
            elif name in lost or self._busy_elsewhere(self._leases.get(name)):
                # Due but not ours to take: we cannot see when that run ends (and a claim
                # that keeps losing must not spin the loop).
                waits.append(BUSY_POLL_SECONDS)
            else:
                waits.append(0.0)
        return min(waits)

    async def _heartbeat(self) -> None:
        now = self._clock()
        async with self.engine.begin() as conn:
            await state.heartbeat(conn, self.intervals, now)
        self._rows = {n: replace(r, heartbeat_at=now) for n, r in self._rows.items()}

    # -- runs --------------------------------------------------------------------------------

    def _launch(self, claim: Claim) -> asyncio.Task[RunResult]:
        task = asyncio.create_task(self._run(claim), name=f"kasparro-schedule-{claim.source}")
        self._runs[claim.source] = task
        task.add_done_callback(self._on_run_done)
        return task

    def _on_run_done(self, task: asyncio.Task[RunResult]) -> None:
        source = self._source_of(task)
        if self._runs.get(source) is task:
            del self._runs[source]
        self._wake.set()
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._log.error(
                "scheduled_run_task_failed", source=source, error=f"{type(exc).__name__}: {exc}"
            )

    @staticmethod
    def _source_of(task: asyncio.Task[Any]) -> str:
        return task.get_name().removeprefix("kasparro-schedule-")

    async def _run(self, claim: Claim) -> RunResult:
        self._log.info(
            "scheduled_run_claimed",
            source=claim.source,
            slot=_iso(claim.slot),
            next_run_at=_iso(claim.next_run_at),
            failures=claim.failures,
        )
        source = self.catalog.source(claim.source, self.http, self.limiters)
        try:
            # A venue's tickers are read with its market list: when both are due, the list
            # first (a fresh store has none yet; the same order as `kasparro etl run`).
            first = (
                self._runs.get(source.markets_source) if isinstance(source, VenueSource) else None
            )
            if first is not None:
                await asyncio.wait([first])
            result = await self._pipeline.run(source, trigger="schedule", stop=self._stop)
        except AlreadyRunning as exc:  # lost a race for the lease: someone else runs it
            result = RunResult(
                run_id=0, source=claim.source, status=RunStatus.SKIPPED, error=str(exc)
            )
        except asyncio.CancelledError:
            # Delivered once, by stop(); the awaits below still complete.
            await self._record(claim, None, aborted=True)
            raise
        except Exception as exc:  # e.g. the database is down before the run row existed
            error = f"{type(exc).__name__}: {exc}"
            result = RunResult(run_id=0, source=claim.source, status=RunStatus.FAILED, error=error)
        await self._record(claim, result, aborted=claim.source in self._stop.stopped)
        return result

    async def _record(self, claim: Claim, result: RunResult | None, *, aborted: bool) -> None:
        """Fold a run's outcome into the schedule: reset, back off, or leave due (aborted)."""
        now = self._clock()
        bound = self._log.bind(source=claim.source, run_id=result.run_id if result else None)
        values: dict[str, Any]
        if aborted or result is None:
            # Shutdown is not the source's fault: due again now, so whichever scheduler runs
            # next resumes from the checkpoint without waiting a full interval.
            values, event = {"next_run_at": now}, "scheduled_run_aborted"
        elif result.status in NOT_FAILED:
            # "fresh": reference data refreshed recently enough; checked again next slot.
            values, event = {"consecutive_failures": 0}, "scheduled_run_succeeded"
        elif result.status == RunStatus.SKIPPED:  # lost the race for the pipeline lease
            bound.info("scheduled_run_skipped", reason=result.error)
            return
        else:
            failures = claim.failures + 1
            delay = retry_delay_s(failures, self.retry_base_seconds, self.intervals[claim.source])
            retry_at = now + timedelta(seconds=delay)
            values = {"consecutive_failures": failures, "next_run_at": retry_at}
            event = "scheduled_run_failed"
        try:
            async with self.engine.begin() as conn:
                applied = await state.record_outcome(
                    conn, claim.source, claimed_next=claim.next_run_at, values=values
                )
        except Exception as exc:
            bound.error("schedule_outcome_not_recorded", error=f"{type(exc).__name__}: {exc}")
            return
        row = self._rows.get(claim.source)
        if applied and row is not None:
            self._rows[claim.source] = replace(row, **values)
        level = "info" if event == "scheduled_run_succeeded" else "warning"
        getattr(bound, level)(
            event,
            status=result.status if result else "cancelled",
            error=result.error if result else None,
            applied=applied,
            consecutive_failures=values.get("consecutive_failures", claim.failures),
            next_run_at=_iso(values.get("next_run_at", claim.next_run_at)),
        )

    async def _drain(self, deadline: float) -> set[asyncio.Task[RunResult]]:
        """Wait for running runs until ``deadline`` or force_stop(); return the unfinished."""
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Task[RunResult]] = set(self._runs.values())
        if pending:
            self._log.info("waiting_for_runs", sources=sorted(self._runs))
        force = asyncio.ensure_future(self._force.wait())
        try:
            while pending and not self._force.is_set():
                left = deadline - loop.time()
                if left <= 0:
                    break
                done, _ = await asyncio.wait(
                    {*pending, force}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                pending -= done
        finally:
            force.cancel()
        return pending

    async def _abort_runs(
        self, pending: set[asyncio.Task[RunResult]]
    ) -> set[asyncio.Task[RunResult]]:
        """Stop runs at a safe point; return those still running after the grace period."""
        self._log.warning("aborting_runs", sources=sorted(self._source_of(t) for t in pending))
        self._stop.request(SHUTDOWN_REASON)
        for task in pending:
            if self._stop.fetching(self._source_of(task)):
                # Suspended on the upstream, not the database: cancelling here is clean.
                task.cancel()
        _, still = await asyncio.wait(pending, timeout=ABORT_GRACE_SECONDS)
        return still


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
