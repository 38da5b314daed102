"""Runs started through the API: background tasks owned by the app.

A trigger starts one asyncio task per source and answers as soon as each run's row exists,
so the caller gets real run ids (202) without waiting for the run. Conflicts are detected
twice: a cheap pre-check (this app's own tasks and the source's DB lease) gives a clear 409,
and the pipeline's atomic lease acquisition settles any race with another process.
Shutdown stops runs *between pages* (``runs.stop``): the run ends as failed with a clear
reason, its lease released and its checkpoint intact; the next run resumes from the last
committed page. Only runs stuck inside one page past the grace period are cancelled:
cancelling mid-transaction is the last resort because, on SQLite, a connection interrupted
inside a transaction can keep the write lock until the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.identity.service import IdentityService
from kasparro.query.runs import run_id_for_owner
from kasparro.runs import repository as repo
from kasparro.runs.leases import LeaseLedger, lease_name
from kasparro.runs.owner import new_owner
from kasparro.runs.pipeline import Pipeline
from kasparro.runs.result import RunResult
from kasparro.runs.service import run_sources
from kasparro.runs.stop import RunStop
from kasparro.sources.catalog import Catalog
from kasparro.sources.history import BackfillSpec
from kasparro.sources.http import Limiters
from kasparro.status import RunStatus

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    source: str
    status: Literal["started", "skipped", "failed"]
    run_id: int | None = None
    reason: str | None = None
    lease_holder: str | None = None
    lease_expires_at: datetime | None = None
    invalid_request: bool = False  # refused because of what was asked (see RunResult)


class ShuttingDown(Exception):
    pass


STOP_MESSAGE = (
    "stopped: the API is shutting down; the next run resumes from the last committed page"
)
CANCEL_GRACE_SECONDS = 5.0
# How long a trigger waits for a run task whose lease is already released (its final status is
# committed with that release) to return. Triggers are serialized and each waits for its run
# row, created after the lease is taken, so a live task without a lease holder is finishing.
TASK_TAIL_SECONDS = 2.0


class RunManager:
    def __init__(
        self,
        write_engine: AsyncEngine,
        read_engine: AsyncEngine,
        catalog: Catalog,
        *,
        http: httpx.AsyncClient,
        limiters: Limiters,
        ledger: LeaseLedger | None = None,
        start_timeout: float = 15.0,
        poll_interval: float = 0.02,
    ) -> None:
        self.write_engine = write_engine
        self.read_engine = read_engine
        self.catalog = catalog
        self.settings = catalog.settings
        self.http = http
        self.limiters = limiters
        self.ledger = ledger if ledger is not None else LeaseLedger()
        self.stop = RunStop()
        self.start_timeout = start_timeout
        self.poll_interval = poll_interval
        self._tasks: dict[str, asyncio.Task[RunResult]] = {}
        self._lock = asyncio.Lock()
        self._closing = False

    def active_sources(self) -> list[str]:
        return sorted(name for name, task in self._tasks.items() if not task.done())

    async def trigger(
        self, names: list[str], *, force: bool = False, backfill: BackfillSpec | None = None
    ) -> list[Outcome]:
        """Start runs of ``names`` (sources; with ``backfill``, APIs whose history source
        runs that backfill) and report each as soon as its run row exists."""
        async with self._lock:  # one trigger at a time per process: pre-checks stay valid
            if self._closing:
                raise ShuttingDown("the API is shutting down")
            outcomes: dict[str, Outcome] = {}
            pending: list[tuple[str, str, asyncio.Task[RunResult]]] = []
            runs = {n: f"{n}_history" if backfill else n for n in names}
            for name, run_name in runs.items():
                busy = await self._busy(run_name)
                if busy is not None:
                    outcomes[run_name] = busy
                    continue
                owner = new_owner()
                task = asyncio.create_task(
                    self._execute(name, owner, force, backfill), name=f"api-run:{run_name}"
                )
                self._tasks[run_name] = task
                task.add_done_callback(functools.partial(self._finished, run_name))
                pending.append((run_name, owner, task))
            for run_name, owner, task in pending:
                outcomes[run_name] = await self._started(run_name, owner, task)
            return [outcomes[runs[n]] for n in names]

    async def _busy(self, name: str) -> Outcome | None:
        lease = lease_name(name)
        async with self.read_engine.connect() as conn:
            holder, expires_at = await repo.lease_holder(conn, lease)
        task = self._tasks.get(name)
        if task is not None and not task.done() and holder is None:
            # The run's final status and its lease release commit together, but its task
            # still has a tail to run (closing the run, metrics): a client that saw the run
            # finish and triggers the next one at once must not get a spurious 409.
            await asyncio.wait({task}, timeout=TASK_TAIL_SECONDS)
        if task is not None and not task.done():
            return Outcome(
                name, "skipped", reason=f"{name} is already running (started by this API)"
            )
        if self.ledger.is_live(self.write_engine, lease, holder, expires_at, repo.utcnow()):
            return Outcome(
                name,
                "skipped",
                reason=f"{name} is already running",
                lease_holder=holder,
                lease_expires_at=expires_at,
            )
        return None

    async def _execute(
        self,
        name: str,
        owner: str,
        force: bool = False,
        backfill: BackfillSpec | None = None,
    ) -> RunResult:
        pipeline = Pipeline(
            self.write_engine,
            self.settings,
            owner=owner,
            ledger=self.ledger,
            identity=IdentityService.for_registry(self.write_engine, self.catalog.registry),
        )
        results = await run_sources(
            self.write_engine,
            self.catalog,
            [name],
            http=self.http,
            limiters=self.limiters,
            trigger="api",
            pipeline=pipeline,
            force=force,
            backfill=backfill,
            stop=self.stop,
        )
        return results[0]

    async def _started(self, name: str, owner: str, task: asyncio.Task[RunResult]) -> Outcome:
        """Wait until the run row exists (or the task ended first) and report it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while True:
            if task.done():
                return self._from_result(name, task)
            async with self.read_engine.connect() as conn:
                run_id = await run_id_for_owner(conn, name, owner)
            if run_id is not None:
                return Outcome(name, "started", run_id=run_id)
            if loop.time() >= deadline:
                # Still acquiring (e.g. a locked SQLite file): it runs on; report no id yet.
                return Outcome(name, "started", reason="run accepted; its id is not known yet")
            await asyncio.wait({task}, timeout=self.poll_interval)

    @staticmethod
    def _from_result(name: str, task: asyncio.Task[RunResult]) -> Outcome:
        if task.cancelled():
            return Outcome(name, "failed", reason="cancelled before it started")
        exc = task.exception()
        if exc is not None:
            return Outcome(name, "failed", reason=f"{type(exc).__name__}: {exc}")
        result = task.result()
        if result.status == RunStatus.SKIPPED:  # the pipeline lost the lease race
            return Outcome(name, "skipped", reason=result.error or f"{name} is already running")
        if result.status == RunStatus.FRESH:  # reference data refreshed recently: nothing to do
            return Outcome(name, "skipped", reason=result.error)
        if not result.run_id:
            reason = result.error or "run could not start"
            return Outcome(name, "failed", reason=reason, invalid_request=result.invalid_request)
        return Outcome(name, "started", run_id=result.run_id)

    def _finished(self, name: str, task: asyncio.Task[RunResult]) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]
        if task.cancelled():
            log.info("api_run_cancelled", source=name)
            return
        exc = task.exception()
        if exc is not None:
            log.error("api_run_crashed", source=name, error=f"{type(exc).__name__}: {exc}")
            return
        result = task.result()
        log.info("api_run_finished", source=name, run_id=result.run_id, status=result.status)

    async def shutdown(self, grace_seconds: float) -> None:
        """Stop runs at their next page boundary; cancel what is still running after
        ``grace_seconds`` (e.g. a page stuck in upstream retries)."""
        async with self._lock:
            self._closing = True
            self.stop.request(STOP_MESSAGE)
        tasks = [t for t in self._tasks.values() if not t.done()]
        if not tasks:
            return
        _, still = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in still:
            task.cancel()
        if still:
            _, stuck = await asyncio.wait(still, timeout=CANCEL_GRACE_SECONDS)
            if stuck:
                log.warning("api_runs_not_stopped", runs=[t.get_name() for t in stuck])
        for task in tasks:
            if task.done() and not task.cancelled():
                with contextlib.suppress(BaseException):
                    task.result()
