"""The lake's SQL: what to export, the rows, and the watermarks committed after the files."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Text,
    and_,
    cast,
    delete,
    func,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from kasparro.lake.tables import AppendTable, LakeTable
from kasparro.store.dialect import insert_for
from kasparro.store.lake_schema import lake_partitions, lake_watermarks
from kasparro.store.schema import latest_observations
from kasparro.store.types import ExactDecimal, UTCDateTime

CHUNK_ROWS = 50_000
SORT_MEMORY = "256MB"


@dataclass(frozen=True, slots=True)
class Watermark:
    location: str
    exported_to_id: int
    pending_to_id: int | None
    rows: int


@dataclass(frozen=True, slots=True)
class Partition:
    source: str
    day: date
    rows: int
    max_id: int


def _day(conn: AsyncConnection, column: Any) -> ColumnElement[str]:
    """The UTC calendar day of a timestamp column, as ``YYYY-MM-DD`` text."""
    if conn.dialect.name == "sqlite":  # stored as naive UTC text, 'YYYY-MM-DD HH:MM:SS...'
        return func.substr(column, 1, 10)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def _exported(conn: AsyncConnection, t: LakeTable) -> list[Any]:
    """The table's columns as ``arrow`` converts them fastest: exact decimals as their
    plain text (PostgreSQL's ``numeric::text`` never uses an exponent; SQLite stores the
    canonical text), timestamps as epoch microseconds (PostgreSQL) or the stored naive UTC
    text (SQLite); no per-value processing by SQLAlchemy's types (a third of the export's
    time when it did)."""
    sqlite = conn.dialect.name == "sqlite"
    out: list[Any] = []
    for name in t.columns:
        column = t.column(name)
        if isinstance(column.type, ExactDecimal):
            out.append(type_coerce(column, Text) if sqlite else cast(column, Text))
        elif isinstance(column.type, UTCDateTime) and sqlite:
            out.append(type_coerce(column, Text))
        elif isinstance(column.type, UTCDateTime):
            epoch_us = func.extract("epoch", column) * 1_000_000  # exact: numeric
            out.append(cast(epoch_us, BigInteger).label(name))
        else:
            out.append(column)
    return out


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


async def watermark(conn: AsyncConnection, name: str) -> Watermark | None:
    w = lake_watermarks.c
    row = (
        await conn.execute(
            select(w.location, w.exported_to_id, w.pending_to_id, w.rows).where(
                w.table_name == name
            )
        )
    ).first()
    return None if row is None else Watermark(row[0], int(row[1]), row[2], int(row[3]))


async def plan(conn: AsyncConnection, name: str, location: str, to_id: int, now: datetime) -> None:
    """Record the range an export is about to write, before writing it."""
    stmt = insert_for(conn, lake_watermarks).values(
        table_name=name,
        location=location,
        exported_to_id=0,
        pending_to_id=to_id,
        rows=0,
        updated_at=now,
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["table_name"],
            set_={"pending_to_id": to_id, "location": location, "updated_at": now},
        )
    )


async def reset(conn: AsyncConnection, name: str) -> None:
    """Forget what was exported (``kasparro export --restart``)."""
    await conn.execute(lake_watermarks.delete().where(lake_watermarks.c.table_name == name))
    await conn.execute(lake_partitions.delete().where(lake_partitions.c.table_name == name))


async def high_water(engine: AsyncEngine, t: AppendTable, *, wait_s: float = 60.0) -> int:
    """The highest id below which no row can still appear.

    On SQLite writers take turns, so every committed id is below any id committed later:
    the largest committed id will do. On PostgreSQL ids come from a sequence when a row is
    inserted, and transactions commit in any order: a transaction that started before this
    call may still commit ids below the largest visible one. So the largest id is read
    together with the snapshot, and the transactions that snapshot saw running are awaited
    (those of other databases of the cluster excepted): once they are over, every id up to
    it is committed or never will be (ids allocated later are larger).
    """
    ident = t.table.c[t.id]
    async with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            return int((await conn.execute(select(func.coalesce(func.max(ident), 0)))).scalar_one())
        # One snapshot for the largest id and the transactions it saw running.
        await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        snapshot = str((await conn.execute(text("SELECT pg_current_snapshot()::text"))).scalar())
        hi = await _largest_id(conn, t)
        await conn.rollback()
        running = text(
            "SELECT count(*) FROM pg_snapshot_xip(CAST(CAST(:s AS text) AS pg_snapshot)) AS x(xid) "
            "WHERE pg_xact_status(x.xid) = 'in progress' AND NOT EXISTS ("
            "SELECT 1 FROM pg_stat_activity a WHERE a.backend_xid = CAST(x.xid AS xid) "
            "AND a.datname IS DISTINCT FROM current_database())"
        )
        deadline = time.monotonic() + wait_s
        while True:
            left = int((await conn.execute(running, {"s": snapshot})).scalar_one())
            await conn.rollback()
            if not left:
                return hi
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{left} transaction(s) running since the export started did not end "
                    f"within {wait_s:g} s; rows they insert could land below the watermark"
                )
            await asyncio.sleep(0.05)


async def _largest_id(conn: AsyncConnection, t: AppendTable) -> int:
    """``max(id)`` on PostgreSQL without reading every row: no B-tree leads with the id (the
    primary key leads with the time, migration 0019), but a BRIN on it finds the rows above
    a bound. The bound starts just under the id sequence's last value (every id is at most
    that) and widens until rows are found: the largest id above it is the largest id."""
    ident = t.table.c[t.id]
    seq = (
        await conn.execute(
            text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": t.table.name, "c": t.id}
        )
    ).scalar()
    if seq is None:
        return int((await conn.execute(select(func.coalesce(func.max(ident), 0)))).scalar_one())
    last = int((await conn.execute(text(f"SELECT last_value FROM {seq}"))).scalar_one())
    width = 1 << 16
    while True:
        above = last - width
        found = (await conn.execute(select(func.max(ident)).where(ident > above))).scalar()
        if found is not None:
            return int(found)
        if above <= 0:
            return 0
        width <<= 4


async def pending_partitions(
    conn: AsyncConnection, t: AppendTable, after_id: int, to_id: int
) -> list[Partition]:
    c = t.table.c
    day = _day(conn, c[t.time]).label("day")
    rows = await conn.execute(
        select(c[t.source], day, func.count(), func.max(c[t.id]))
        .where(c[t.id] > after_id, c[t.id] <= to_id)
        .group_by(c[t.source], day)
        .order_by(day, c[t.source])
    )
    return [Partition(r[0], date.fromisoformat(r[1]), int(r[2]), int(r[3])) for r in rows]


def _partition_select(
    conn: AsyncConnection, t: AppendTable, part: Partition, after_id: int, to_id: int
) -> Any:
    c = t.table.c
    start, end = day_bounds(part.day)
    return (
        select(*_exported(conn, t))
        .select_from(t.from_clause())
        .where(
            and_(
                c[t.id] > after_id,
                c[t.id] <= to_id,
                c[t.source] == part.source,
                c[t.time] >= start,
                c[t.time] < end,
            )
        )
        .order_by(*(t.column(n) for n in t.order))
    )


async def partition_rows(
    conn: AsyncConnection, t: AppendTable, part: Partition, after_id: int, to_id: int
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    """The partition's rows with ids in ``(after_id, to_id]``, in file order, in chunks."""
    stmt = _partition_select(conn, t, part, after_id, to_id)
    result = await conn.stream(stmt.execution_options(yield_per=CHUNK_ROWS))
    async for chunk in result.partitions(CHUNK_ROWS):
        yield chunk


async def copy_partition(
    conn: AsyncConnection,
    t: AppendTable,
    part: Partition,
    after_id: int,
    to_id: int,
    path: Path,
) -> None:
    """PostgreSQL: the same rows as CSV into ``path``, by ``COPY (query) TO STDOUT``.
    Decoding 300k rows into Python values took asyncpg 3.2 s; COPY and pyarrow's CSV
    reader take a fraction of that (timestamps come as epoch microseconds)."""
    stmt = _partition_select(conn, t, part, after_id, to_id)
    compiled = stmt.compile(dialect=conn.dialect)
    args = [compiled.params[name] for name in compiled.positiontup or ()]
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    # A day of one source is sorted in file order: in memory, not in temporary files (the
    # default 4 MB spills from about 30k rows on). Only the export's own connections.
    await driver.execute(f"SET work_mem = '{SORT_MEMORY}'")
    try:
        await driver.copy_from_query(compiled.string, *args, output=path, format="csv")
    finally:
        await driver.execute("RESET work_mem")


async def snapshot_rows(
    conn: AsyncConnection, t: LakeTable
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    stmt = (
        select(*_exported(conn, t))
        .select_from(t.from_clause())
        .order_by(*(t.column(n) for n in t.order))
    )
    result = await conn.stream(stmt.execution_options(yield_per=CHUNK_ROWS))
    async for chunk in result.partitions(CHUNK_ROWS):
        yield chunk


async def commit(
    conn: AsyncConnection,
    name: str,
    location: str,
    to_id: int,
    parts: Sequence[Partition],
    now: datetime,
) -> None:
    """The range is in the lake: advance the watermark and count the partitions."""
    added = sum(p.rows for p in parts)
    w = lake_watermarks.c
    await conn.execute(
        update(lake_watermarks)
        .where(w.table_name == name)
        .values(
            exported_to_id=to_id,
            pending_to_id=None,
            rows=w.rows + added,
            location=location,
            updated_at=now,
        )
    )
    if not parts:
        return
    stmt = insert_for(conn, lake_partitions)
    lp = lake_partitions.c
    excluded = stmt.excluded
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["table_name", "source", "day"],
            set_={
                "rows": lp.rows + excluded.rows,
                "files": lp.files + 1,
                "max_id": func.max(lp.max_id, excluded.max_id)
                if conn.dialect.name == "sqlite"
                else func.greatest(lp.max_id, excluded.max_id),
                "exported_at": excluded.exported_at,
            },
        ),
        [
            {
                "table_name": name,
                "source": p.source,
                "day": p.day.isoformat(),
                "rows": p.rows,
                "files": 1,
                "max_id": p.max_id,
                "exported_at": now,
            }
            for p in parts
        ],
    )


async def record_snapshot(
    conn: AsyncConnection, name: str, location: str, rows: int, now: datetime
) -> None:
    stmt = insert_for(conn, lake_watermarks).values(
        table_name=name,
        location=location,
        exported_to_id=0,
        pending_to_id=None,
        rows=rows,
        updated_at=now,
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["table_name"],
            set_={"rows": rows, "location": location, "updated_at": now},
        )
    )


# --- retention -----------------------------------------------------------------------------


async def unexported(
    conn: AsyncConnection, t: AppendTable, *, source: str | None = None, before: date | None = None
) -> list[Partition]:
    """Partitions holding rows that are not in the lake (ids past the watermark), with
    their counts; only ``source``'s, and only days before ``before``, when given."""
    mark = await watermark(conn, t.name)
    after = mark.exported_to_id if mark is not None else 0
    c = t.table.c
    day = _day(conn, c[t.time]).label("day")
    stmt = select(c[t.source], day, func.count(), func.max(c[t.id])).where(c[t.id] > after)
    if source is not None:
        stmt = stmt.where(c[t.source] == source)
    if before is not None:
        stmt = stmt.where(c[t.time] < day_bounds(before)[0])
    rows = await conn.execute(stmt.group_by(c[t.source], day).order_by(day, c[t.source]))
    return [Partition(r[0], date.fromisoformat(r[1]), int(r[2]), int(r[3])) for r in rows]


async def exported_partitions(
    conn: AsyncConnection,
    name: str,
    *,
    source: str | None = None,
    since: date | None = None,
    before: date | None = None,
) -> list[Partition]:
    lp = lake_partitions.c
    stmt = select(lp.source, lp.day, lp.rows, lp.max_id).where(lp.table_name == name)
    if source is not None:
        stmt = stmt.where(lp.source == source)
    # Days are ISO text: their order is the dates' order.
    if since is not None:
        stmt = stmt.where(lp.day >= since.isoformat())
    if before is not None:
        stmt = stmt.where(lp.day < before.isoformat())
    rows = await conn.execute(stmt.order_by(lp.day, lp.source))
    return [Partition(r[0], date.fromisoformat(r[1]), int(r[2]), int(r[3])) for r in rows]


async def oldest_removable(conn: AsyncConnection, t: AppendTable) -> datetime | None:
    """The oldest time of a row retention could remove: the time index walked from its
    start, past the few rows the latest pointers keep for ever (one per asset and source)."""
    c = t.table.c
    pinned = select(latest_observations.c.observation_id)
    return (
        await conn.execute(select(func.min(c[t.time])).where(c[t.id].not_in(pinned)))
    ).scalar_one()


async def delete_exported(
    conn: AsyncConnection, t: AppendTable, before: datetime, *, since: datetime | None = None
) -> int:
    """Delete the rows of ``t`` observed before ``before`` (and at or after ``since``) that
    the lake holds (ids at or below the watermark), keeping those the latest pointers name
    (the newest observation of an asset that stopped updating stays answerable). Returns
    the rows deleted."""
    mark = await watermark(conn, t.name)
    if mark is None or mark.exported_to_id <= 0:
        return 0
    c = t.table.c
    pinned = select(latest_observations.c.observation_id)
    bounds = [c[t.time] < before] + ([c[t.time] >= since] if since is not None else [])
    result = await conn.execute(
        delete(t.table).where(*bounds, c[t.id] <= mark.exported_to_id, c[t.id].not_in(pinned))
    )
    return int(result.rowcount or 0)
