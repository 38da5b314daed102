"""All SQL on ``scheduler_state``. Functions take a connection and never commit.

The claim is a compare-and-set UPDATE: a replica may run a source's tick only if its UPDATE
moved ``next_run_at`` from the exact value it read (and that value was due). Both dialects
serialise writers on the row (PostgreSQL re-checks the WHERE clause against the committed row
after waiting on the lock; SQLite has one writer at a time), so among N replicas racing for
the same slot exactly one sees ``rowcount == 1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.runs.leases import lease_name
from kasparro.store.dialect import insert_for
from kasparro.store.schema import leases, scheduler_state

_s = scheduler_state.c


@dataclass(frozen=True, slots=True)
class StateRow:
    source: str
    next_run_at: datetime | None
    last_tick_at: datetime | None
    consecutive_failures: int
    heartbeat_at: datetime | None
    owner: str | None


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    owner: str | None
    expires_at: datetime | None


async def ensure_rows(conn: AsyncConnection, names: Iterable[str], now: datetime) -> None:
    """Create missing rows, due at ``now``: a fresh deployment ingests at once. Existing rows
    keep their persisted schedule, so restarts do not trigger an extra burst of runs."""
    rows = [
        {
            "source": n,
            "next_run_at": now,
            "consecutive_failures": 0,
            "last_tick_at": None,
            "heartbeat_at": None,
            "owner": None,
        }
        for n in names
    ]
    if rows:
        stmt = insert_for(conn, scheduler_state).on_conflict_do_nothing(index_elements=["source"])
        await conn.execute(stmt, rows)


async def cap_next_run(
    conn: AsyncConnection, source: str, now: datetime, interval_s: float
) -> bool:
    """Pull a persisted next run to at most one ``interval_s`` after ``now`` (the interval was
    shortened), keeping it on its slot grid.

    Moved by whole intervals, not to ``now + interval``: another replica may have claimed a
    slot and moved the next run between our clock read and this statement, and snapping to our
    own clock would then shift every later slot off the grid the replicas share. Compare and
    set on the value read, so a concurrent claim wins.

    Never onto or before the slot last claimed (``last_tick_at``): a replica whose clock reads
    a little behind another's (or that read it just before the other claimed) would otherwise
    see the fresh next run as "too far" and move it back onto the slot just consumed, and that
    slot would run twice (seen in CI with two processes starting together)."""
    found = (
        await conn.execute(select(_s.next_run_at, _s.last_tick_at).where(_s.source == source))
    ).one_or_none()
    if found is None or found.next_run_at is None:
        return False
    row, consumed = found.next_run_at, found.last_tick_at
    step = timedelta(seconds=interval_s)
    latest = now + step
    if row <= latest:
        return False
    target = row - math.ceil((row - latest) / step) * step
    if consumed is not None and target <= consumed:
        target += (math.floor((consumed - target) / step) + 1) * step
        if target >= row:
            return False
    result = await conn.execute(
        update(scheduler_state)
        .where(_s.source == source, _s.next_run_at == row)
        .values(next_run_at=target)
    )
    return (result.rowcount or 0) == 1


async def read_rows(conn: AsyncConnection, names: Iterable[str]) -> dict[str, StateRow]:
    result = await conn.execute(select(scheduler_state).where(_s.source.in_(list(names))))
    return {m["source"]: StateRow(**m) for m in result.mappings()}


async def read_leases(conn: AsyncConnection, names: Iterable[str]) -> dict[str, Lease]:
    by_lease = {lease_name(n): n for n in names}
    result = await conn.execute(
        select(leases.c.name, leases.c.owner, leases.c.expires_at).where(
            leases.c.name.in_(list(by_lease))
        )
    )
    return {by_lease[name]: Lease(name, owner, expires) for name, owner, expires in result}


async def claim(
    conn: AsyncConnection,
    source: str,
    *,
    seen: datetime | None,
    next_run_at: datetime,
    now: datetime,
    owner: str,
) -> bool:
    """Atomically take the tick for ``source``; True only for the one replica that wins it.

    ``next_run_at = :seen`` makes it a compare-and-set that does not depend on replicas'
    clocks agreeing; ``next_run_at <= :now`` keeps a not-yet-due row untouchable even if a
    caller passes a stale ``seen``.
    """
    unchanged = _s.next_run_at.is_(None) if seen is None else _s.next_run_at == seen
    result = await conn.execute(
        update(scheduler_state)
        .where(
            _s.source == source,
            unchanged,
            or_(_s.next_run_at.is_(None), _s.next_run_at <= now),
        )
        .values(next_run_at=next_run_at, owner=owner, last_tick_at=now)
    )
    return (result.rowcount or 0) == 1


async def record_outcome(
    conn: AsyncConnection, source: str, *, claimed_next: datetime, values: dict[str, Any]
) -> bool:
    """Apply a finished run's outcome, unless another replica has claimed the source since
    (then the row's schedule is theirs and this stale outcome must not overwrite it)."""
    result = await conn.execute(
        update(scheduler_state)
        .where(_s.source == source, _s.next_run_at == claimed_next)
        .values(**values)
    )
    return (result.rowcount or 0) == 1


async def heartbeat(conn: AsyncConnection, names: Iterable[str], now: datetime) -> None:
    await conn.execute(
        update(scheduler_state).where(_s.source.in_(list(names))).values(heartbeat_at=now)
    )
