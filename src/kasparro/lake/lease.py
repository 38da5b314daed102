"""The lake's lease: one export at a time per store, and retention never between an
export's deleting of files and its writing of them again (``--restart``)."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kasparro.runs import repository as runs_repo
from kasparro.runs.owner import is_dead_local_owner, new_owner

LEASE = "lake:export"


class ExportBusy(Exception):
    """Another export of this store is running."""


class ExportLease:
    """One export at a time per store: two would plan overlapping ranges and write the same
    rows into differently named files. The lease is the pipeline's (``leases`` table),
    renewed while the export writes; a holder that died on this host is taken over at
    once, one elsewhere when its lease expires."""

    def __init__(self, engine: AsyncEngine, ttl: float) -> None:
        self.engine = engine
        self.ttl = ttl
        self.owner = new_owner()
        self._renewed = 0.0

    async def acquire(self) -> None:
        async with self.engine.begin() as conn:
            holder, _ = await runs_repo.lease_holder(conn, LEASE)
            steal = holder if is_dead_local_owner(holder) else None
            taken = await runs_repo.try_acquire_lease(
                conn, LEASE, self.owner, self.ttl, steal_from=steal
            )
        if not taken:
            raise ExportBusy(
                f"another export of this store is running ({holder}), or its retention is "
                "reading the lake for a few seconds: try again"
            )
        self._renewed = time.monotonic()

    async def renew(self) -> None:
        if time.monotonic() - self._renewed < self.ttl / 3:
            return
        async with self.engine.begin() as conn:
            await self.renew_in(conn, "the export lost its lease (it stalled longer than its TTL)")

    async def renew_in(self, conn: AsyncConnection, lost: str) -> None:
        """Renew in the caller's transaction (its commit then waits for nobody, and an
        acquire elsewhere waits for its commit), or raise ``ExportBusy(lost)``."""
        if not await runs_repo.renew_lease(conn, LEASE, self.owner, self.ttl):
            raise ExportBusy(lost)
        self._renewed = time.monotonic()

    async def release(self) -> None:
        async with self.engine.begin() as conn:
            await runs_repo.release_lease(conn, LEASE, self.owner)
