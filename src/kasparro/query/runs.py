"""Run history reads: lists, single runs, and the inputs of run comparison."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.query.keyset import SortKey
from kasparro.status import OK
from kasparro.store.schema import assets, observations, runs

r = runs.c
o = observations.c

RUN_COLUMNS = (
    r.id,
    r.source,
    r.trigger,
    r.status,
    r.started_at,
    r.finished_at,
    r.heartbeat_at,
    r.owner,
    r.resumed_from_run_id,
    r.start_page,
    r.pages,
    r.fetched,
    r.loaded,
    r.unchanged,
    r.rejected,
    r.error,
)
RUN_FIELDS = tuple(c.name for c in RUN_COLUMNS)
OK_STATUSES = tuple(sorted(OK))
# Runs page newest first by id (ids grow with start time); the cursor carries the last id.
ID_SORT_KEY = SortKey("id", r.id, r.id, False, "int", r.id.type)


def with_duration(run: dict[str, Any]) -> dict[str, Any]:
    started, finished = run.get("started_at"), run.get("finished_at")
    run["duration_s"] = (
        round((finished - started).total_seconds(), 3) if started and finished else None
    )
    return run


async def list_runs(
    conn: AsyncConnection,
    *,
    sources: tuple[str, ...],
    statuses: tuple[str, ...],
    limit: int,
    before_id: int | None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Newest first by id (ids grow with start time); returns (runs, next before_id)."""
    stmt = select(*RUN_COLUMNS)
    if sources:
        stmt = stmt.where(r.source.in_(sources))
    if statuses:
        stmt = stmt.where(r.status.in_(statuses))
    if before_id is not None:
        stmt = stmt.where(r.id < before_id)
    rows = (await conn.execute(stmt.order_by(r.id.desc()).limit(limit + 1))).all()
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = rows[-1][0]
    return [with_duration(dict(zip(RUN_FIELDS, row, strict=True))) for row in rows], nxt


async def get_run(conn: AsyncConnection, run_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(select(*RUN_COLUMNS).where(r.id == run_id))).first()
    return with_duration(dict(zip(RUN_FIELDS, row, strict=True))) if row else None


@dataclass(frozen=True, slots=True)
class AssetPrice:
    asset_id: int
    symbol: str
    name: str
    price: Decimal | None
    observed_at: datetime


async def run_asset_prices(conn: AsyncConnection, run_id: int) -> dict[int, AssetPrice]:
    """Assets a run loaded observations for, with the run's newest price for each.

    A run "has" an asset when it inserted at least one new observation of it: re-fetched,
    identical rows are counted as unchanged and stay attributed to the run that first loaded
    them. Uses ``ix_observations_run``.
    """
    rows = await conn.execute(
        select(o.asset_id, assets.c.symbol, assets.c.name, o.price_usd, o.observed_at)
        .select_from(observations.join(assets, assets.c.id == o.asset_id))
        .where(o.run_id == run_id)
        .order_by(o.asset_id, o.observed_at, o.id)
    )
    out: dict[int, AssetPrice] = {}
    for asset_id, symbol, name, price, observed_at in rows:
        out[asset_id] = AssetPrice(asset_id, symbol, name, price, observed_at)  # last wins
    return out


async def previous_ok_runs(
    conn: AsyncConnection, source: str, before_id: int, n: int
) -> list[dict[str, Any]]:
    """The ``n`` finished successful/partial runs of ``source`` before ``before_id``."""
    rows = await conn.execute(
        select(*RUN_COLUMNS)
        .where(
            r.source == source,
            r.id < before_id,
            r.status.in_(OK_STATUSES),
            r.finished_at.is_not(None),
        )
        .order_by(r.id.desc())
        .limit(n)
    )
    return [with_duration(dict(zip(RUN_FIELDS, row, strict=True))) for row in rows]


async def run_id_for_owner(conn: AsyncConnection, source: str, owner: str) -> int | None:
    """The run a given pipeline owner created (owners are unique per trigger)."""
    row = (
        await conn.execute(
            select(r.id).where(r.source == source, r.owner == owner).order_by(r.id.desc()).limit(1)
        )
    ).first()
    return int(row[0]) if row else None
