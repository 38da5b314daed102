"""Who may run a source now: the lease, and what this process knows about its own leases.

A source runs under the lease ``source:<name>`` (``runs.repository``), renewed by the run's
heartbeat. Whether a held lease is *live* is decided by :meth:`LeaseLedger.is_live` alone:
the pipeline (may it take the lease over?), the API (is a trigger a 409?) and the scheduler
(is the source busy elsewhere?) all ask it.

The ledger remembers the run bookkeeping this process could not write because the database
was unreachable when a run ended (PostgreSQL stopped mid-run, tests/resilience/
test_database_outage.py). Without it, the lease of such a run stayed held by its finished
owner until ``lease_ttl_seconds`` expired, so the next run of that source in this same
long-lived process (scheduler, API) was "skipped: already running" although nothing was
running, and the failed run was later marked "crashed: process died" although the process was
alive. Both are settled by the next run of the source here, once the database answers again.
One ledger per process, built by the composition root and passed to everything that runs
sources; keyed by store (database URL) too, since one process may use several databases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.runs.owner import is_dead_local_owner


def lease_name(source: str) -> str:
    return f"source:{source}"


def store_of(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=True)


@dataclass(frozen=True, slots=True)
class UnrecordedFinish:
    run_id: int
    status: str
    error: str | None
    finished_at: datetime


@dataclass(slots=True)
class LeaseLedger:
    # (store, lease) -> the owner whose run ended without releasing it
    _ended: dict[tuple[str, str], str] = field(default_factory=dict)
    # (store, source) -> finished runs whose final status is not recorded yet
    _unrecorded: dict[tuple[str, str], list[UnrecordedFinish]] = field(default_factory=dict)

    def owner_has_ended(self, engine: AsyncEngine, lease: str, owner: str | None) -> bool:
        """True when ``owner`` holds ``lease`` only because this process could not release it
        after its run ended (the lease is as free as a dead process's)."""
        return owner is not None and self._ended.get((store_of(engine), lease)) == owner

    def is_live(
        self,
        engine: AsyncEngine,
        lease: str,
        holder: str | None,
        expires_at: datetime | None,
        now: datetime,
    ) -> bool:
        """Whether ``holder`` really holds ``lease``: held, not expired, its process alive
        (when it ran on this host) and its run not ended here."""
        if holder is None or expires_at is None or expires_at <= now:
            return False
        return not (is_dead_local_owner(holder) or self.owner_has_ended(engine, lease, holder))

    def ended_unreleased(self, engine: AsyncEngine, lease: str, owner: str) -> None:
        self._ended[(store_of(engine), lease)] = owner

    def released(self, engine: AsyncEngine, lease: str) -> None:
        self._ended.pop((store_of(engine), lease), None)

    def unrecorded(self, engine: AsyncEngine, source: str) -> list[UnrecordedFinish]:
        return list(self._unrecorded.get((store_of(engine), source), ()))

    def add_unrecorded(self, engine: AsyncEngine, source: str, finish: UnrecordedFinish) -> None:
        self._unrecorded.setdefault((store_of(engine), source), []).append(finish)

    def recorded(self, engine: AsyncEngine, source: str, finish: UnrecordedFinish) -> None:
        pending = self._unrecorded.get((store_of(engine), source))
        if pending and finish in pending:
            pending.remove(finish)
