"""Runs, checkpoints and leases: all SQL for run bookkeeping lives here.

Functions take a connection and never commit: the caller owns the transaction, so a page's
rows, its run counters and its checkpoint are committed together or not at all.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.status import OK, RunStatus
from kasparro.store.dialect import insert_for
from kasparro.store.schema import checkpoints, leases, runs

ACTIVE = RunStatus.RUNNING


def utcnow() -> datetime:
    return datetime.now(UTC)


async def create_run(
    conn: AsyncConnection,
    *,
    source: str,
    trigger: str,
    owner: str,
    resumed_from: int | None,
    start_page: int,
) -> int:
    now = utcnow()
    result = await conn.execute(
        insert(runs).returning(runs.c.id),
        {
            "source": source,
            "trigger": trigger,
            "status": ACTIVE,
            "started_at": now,
            "heartbeat_at": now,
            "owner": owner,
            "resumed_from_run_id": resumed_from,
            "start_page": start_page,
            "pages": 0,
            "fetched": 0,
            "loaded": 0,
            "unchanged": 0,
            "rejected": 0,
        },
    )
    return int(result.scalar_one())


async def add_page_counts(
    conn: AsyncConnection,
    run_id: int,
    *,
    fetched: int,
    loaded: int,
    unchanged: int,
    rejected: int,
    pages: int = 1,
) -> None:
    """Add a batch's counts; ``pages`` is 0 for a batch that does not end its page."""
    await conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(
            pages=runs.c.pages + pages,
            fetched=runs.c.fetched + fetched,
            loaded=runs.c.loaded + loaded,
            unchanged=runs.c.unchanged + unchanged,
            rejected=runs.c.rejected + rejected,
            heartbeat_at=utcnow(),
        )
    )


async def finish_run(
    conn: AsyncConnection,
    run_id: int,
    status: str,
    error: str | None = None,
    *,
    finished_at: datetime | None = None,
) -> None:
    """``finished_at``: when the run really ended, for an outcome recorded late (the
    database was unreachable at the time); default now."""
    await conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(status=status, finished_at=finished_at or utcnow(), error=error)
    )


async def heartbeat(conn: AsyncConnection, run_id: int) -> None:
    await conn.execute(update(runs).where(runs.c.id == run_id).values(heartbeat_at=utcnow()))


async def mark_dead_runs(conn: AsyncConnection, source: str, detected_by: str) -> list[int]:
    """Runs still 'running' for ``source`` while we hold its lease are dead: mark them crashed."""
    ids = [
        r[0]
        for r in await conn.execute(
            select(runs.c.id).where(runs.c.source == source, runs.c.status == ACTIVE)
        )
    ]
    if ids:
        await conn.execute(
            update(runs)
            .where(runs.c.id.in_(ids))
            .values(
                status=RunStatus.CRASHED,
                finished_at=utcnow(),
                error=f"process died mid-run; detected by {detected_by}, work resumes "
                "from the last committed page",
            )
        )
    return ids


async def get_run(conn: AsyncConnection, run_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(select(runs).where(runs.c.id == run_id))).mappings().first()
    return dict(row) if row else None


async def get_checkpoint(conn: AsyncConnection, source: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(select(checkpoints.c.state).where(checkpoints.c.source == source))
    ).first()
    return orjson.loads(row[0]) if row else None


async def save_checkpoint(
    conn: AsyncConnection, source: str, state: dict[str, Any], run_id: int
) -> None:
    ins = insert_for(conn, checkpoints)
    stmt = ins.on_conflict_do_update(
        index_elements=["source"],
        set_={
            "state": ins.excluded.state,
            "run_id": ins.excluded.run_id,
            "updated_at": ins.excluded.updated_at,
        },
    )
    await conn.execute(
        stmt,
        {
            "source": source,
            "state": orjson.dumps(state).decode(),
            "run_id": run_id,
            "updated_at": utcnow(),
        },
    )


async def try_acquire_lease(
    conn: AsyncConnection, name: str, owner: str, ttl: float, *, steal_from: str | None = None
) -> bool:
    """Take the lease if it is free, expired, already ours, or held by ``steal_from``
    (a holder known to be dead). One UPDATE decides atomically on both dialects."""
    now = utcnow()
    await conn.execute(
        insert_for(conn, leases).on_conflict_do_nothing(index_elements=["name"]),
        {"name": name, "owner": None, "acquired_at": None, "expires_at": None},
    )
    free = or_(leases.c.owner.is_(None), leases.c.expires_at < now, leases.c.owner == owner)
    if steal_from is not None:
        free = or_(free, leases.c.owner == steal_from)
    result = await conn.execute(
        update(leases)
        .where(and_(leases.c.name == name, free))
        .values(owner=owner, acquired_at=now, expires_at=now + timedelta(seconds=ttl))
    )
    return (result.rowcount or 0) == 1


async def renew_lease(conn: AsyncConnection, name: str, owner: str, ttl: float) -> bool:
    result = await conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.owner == owner)
        .values(expires_at=utcnow() + timedelta(seconds=ttl))
    )
    return (result.rowcount or 0) == 1


async def release_lease(conn: AsyncConnection, name: str, owner: str) -> None:
    await conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.owner == owner)
        .values(owner=None, expires_at=None)
    )


async def lease_holder(conn: AsyncConnection, name: str) -> tuple[str | None, datetime | None]:
    row = (
        await conn.execute(select(leases.c.owner, leases.c.expires_at).where(leases.c.name == name))
    ).first()
    return (row[0], row[1]) if row else (None, None)


async def last_success_at(conn: AsyncConnection, source: str) -> datetime | None:
    """When the source's last successful (or partial) run finished."""
    r = runs.c
    found = await conn.execute(
        select(r.finished_at)
        .where(r.source == source, r.status.in_(sorted(OK)))
        .order_by(r.finished_at.desc())
        .limit(1)
    )
    return found.scalar_one_or_none()
