"""Monthly partitions of ``observations`` on PostgreSQL: created ahead, split out of the
default partition, dropped by retention. All the partition DDL lives here.

Layout (migration 0017): ``observations`` is ``PARTITION BY RANGE (observed_at)`` with one
partition per UTC calendar month (``observations_p202612`` holds December 2026) and a
``DEFAULT`` partition, ``observations_default``, that catches a row whose month has no
partition yet. Before committing a batch the pipeline creates the months the batch's rows
fall in (:func:`ensure`, its own short transaction; the loader's transaction never runs DDL),
so rows go straight to their month, a backfill of 2019 included; after each run
:func:`maintain` creates the current month and two ahead, and moves rows that reached the
default partition anyway (written around the pipeline, or while upkeep could not get its
lock) into months of their own.

Why hand-written rather than pg_partman: four statements cover what Kasparro needs (create
ahead, split the default, drop an exported month), the suite then runs on a stock
PostgreSQL, and the retention rule (drop only what the lake holds, keep the rows the latest
pointers name) is Kasparro's own and has to be checked here anyway.

Locks, taken in one order so that upkeep never deadlocks with a run: the advisory lock (one
maintainer at a time), then ``assets`` SHARE ROW EXCLUSIVE (attaching or dropping a month
adds or removes its foreign key to ``assets``; the loader holds ``assets`` before
``observations``, so this comes first too), then ACCESS EXCLUSIVE on the parent ``ONLY``
(not on every month: autovacuum working on one must not make upkeep give up), under which a
month is created (rows moved out of the default partition, attached) or dropped: no query
plans with a partition list that is changing under it. Each lock is requested under a
``lock_timeout`` shorter than PostgreSQL's ``deadlock_timeout`` (1 s by default): in any
wait cycle the upkeep gives up first, so a run is never the deadlock's victim; it is retried
after the next run, and the API's reads queue behind a waiting request for at most that
long. The statements under the lock are catalogue changes and the move of what the default
partition holds; scans (the row counts of a month to drop) run before it. Nothing is locked
when nothing is to be done (the common case: every run checks, a month needs creating once
a month).

SQLite is never partitioned: every function here is a no-op there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

PARENT = "observations"
DEFAULT = f"{PARENT}_default"
AHEAD_MONTHS = 2  # months created before they start, besides the current one
LOCK_TIMEOUT = "500ms"  # < deadlock_timeout: see the module docstring
_MONTH = re.compile(rf"^{PARENT}_p(\d{{4}})(\d{{2}})$")
# One key for every process: two schedulers maintaining at once would race on CREATE TABLE.
_ADVISORY_KEY = 0x6B70_6172_7473  # "kparts"


def month_of(at: datetime | date) -> date:
    return date(at.year, at.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_p{month.year:04d}{month.month:02d}"


def is_partition(name: str) -> bool:
    """A table Kasparro created as a partition (not part of the schema model)."""
    return name == DEFAULT or _MONTH.match(name) is not None


def include_object_for(dialect: str) -> Callable[[object, str | None, str, bool, object], bool]:
    """Alembic's ``include_object`` for a database of ``dialect``: autogenerate and the
    schema test ignore the partitions (created and dropped at run time, the model has the
    parent only), and a model index declared for other dialects only
    (``info={"dialects": ...}``: PostgreSQL's time-ordered primary key serves it, 0019)."""

    def include(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        if type_ == "table" and reflected and compare_to is None and is_partition(name or ""):
            return False
        only = getattr(obj, "info", {}).get("dialects") if type_ == "index" else None
        return reflected or not only or dialect in only

    return include


def _bound(month: date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'"


def month_start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


async def is_partitioned(conn: AsyncConnection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    kind = (
        await conn.execute(
            text("SELECT relkind::text FROM pg_class WHERE oid = to_regclass(:t)"), {"t": PARENT}
        )
    ).scalar_one_or_none()
    return kind == "p"


async def months(conn: AsyncConnection) -> list[date]:
    """The months that have a partition, oldest first (empty when not partitioned)."""
    if not await is_partitioned(conn):
        return []
    names = (
        await conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = to_regclass(:t)"
            ),
            {"t": PARENT},
        )
    ).scalars()
    found = [_MONTH.match(n) for n in names]
    return sorted(date(int(m[1]), int(m[2]), 1) for m in found if m)


async def _begin(conn: AsyncConnection) -> bool:
    """One maintainer at a time, taken before anything else is read or locked (a maintainer
    holding a table lock while queueing here could deadlock with the one it waits for).
    False when another process is maintaining: it does this run's work too."""
    await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    got = await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
    return bool(got.scalar_one())


async def _lock(conn: AsyncConnection, *tables: tuple[str, str]) -> None:
    for table, mode in tables:
        await conn.execute(text(f"LOCK TABLE ONLY {table} IN {mode} MODE"))


async def _create(conn: AsyncConnection, month: date) -> int:
    """Create ``month``'s partition, moving in the rows the default partition holds for it;
    returns the rows moved. Created standalone and attached (the CHECK constraint lets ATTACH
    skip scanning the new table); the caller holds the parent's lock."""
    name, lo, hi = partition_name(month), _bound(month), _bound(next_month(month))
    await conn.execute(
        text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    moved = await conn.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE observed_at >= {lo}"
            f" AND observed_at < {hi} RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        )
    )
    await conn.execute(
        text(
            f"ALTER TABLE {name} ADD CONSTRAINT {name}_range"
            f" CHECK (observed_at >= {lo} AND observed_at < {hi})"
        )
    )
    await conn.execute(
        text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})")
    )
    await conn.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range"))
    return int(moved.rowcount or 0)


@dataclass(frozen=True, slots=True)
class Maintained:
    created: list[date]
    moved_from_default: int


async def ensure(conn: AsyncConnection, wanted: Iterable[date]) -> Maintained:
    """Create the partitions of ``wanted`` months that do not exist yet (the pipeline calls
    it before committing a batch, so a batch's rows go straight to their month). Cheap when
    they all exist: one catalogue read, no lock."""
    wanted = {month_of(m) for m in wanted}
    if not await is_partitioned(conn) or not wanted - set(await months(conn)):
        return Maintained([], 0)
    if not await _begin(conn):
        return Maintained([], 0)
    return await _ensure(conn, wanted)


async def _ensure(conn: AsyncConnection, wanted: Iterable[date]) -> Maintained:
    missing = sorted({month_of(m) for m in wanted} - set(await months(conn)))
    if not missing:
        return Maintained([], 0)
    # ACCESS EXCLUSIVE on the parent (ONLY: the months' own locks, e.g. autovacuum's, are
    # not waited for): a query planned without the new month must not run after rows moved
    # into it from the default partition, and a loader must not route rows to the default
    # partition meanwhile. Checking for parked rows first and taking a weaker lock when
    # there were none raced with a loader parking some in between. Brief: the new months
    # are empty or hold what the default partition parked (rare: rows written around the
    # pipeline, or while upkeep could not get its lock).
    await _lock(conn, ("assets", "SHARE ROW EXCLUSIVE"), (PARENT, "ACCESS EXCLUSIVE"))
    moved = 0
    for month in missing:
        moved += await _create(conn, month)
    return Maintained(missing, moved)


async def parked_months(conn: AsyncConnection) -> list[date]:
    """Months with rows waiting in the default partition."""
    rows = await conn.execute(
        text(f"SELECT DISTINCT date_trunc('month', observed_at AT TIME ZONE 'UTC') FROM {DEFAULT}")
    )
    return sorted(month_of(r) for (r,) in rows)


async def maintain(conn: AsyncConnection, now: datetime) -> Maintained:
    """The current month and :data:`AHEAD_MONTHS` after it exist, and the default partition
    is emptied into partitions of their own. The caller owns the (short) transaction."""
    if not await is_partitioned(conn):
        return Maintained([], 0)
    if not await _begin(conn):
        return Maintained([], 0)
    wanted = [month_of(now.astimezone(UTC))]
    for _ in range(AHEAD_MONTHS):
        wanted.append(next_month(wanted[-1]))
    return await _ensure(conn, wanted + await parked_months(conn))


@dataclass(frozen=True, slots=True)
class Dropped:
    months: list[date]
    rows: int
    kept: list[date]  # old enough, but not exported yet or holding a latest observation


async def drop_exported(
    conn: AsyncConnection,
    before: datetime,
    exported_to_id: int,
    *,
    not_before: datetime | None = None,
) -> Dropped:
    """Drop every month that ends at or before ``before`` whose rows all have ids at or below
    ``exported_to_id`` (the lake's watermark: they are in the lake) and that holds no row a
    latest pointer names (the newest observation of an asset that stopped updating stays
    answerable; row-level retention trims such a month instead). ``not_before``: only
    months that start at or after it (what the lake's check covered)."""
    if not await is_partitioned(conn):
        return Dropped([], 0, [])
    if not await _begin(conn):
        return Dropped([], 0, [])
    candidates = [
        m
        for m in await months(conn)
        if month_start(next_month(m)) <= before
        and (not_before is None or month_start(m) >= not_before)
    ]
    # Checked before any lock (cheap: the latest pointers' time index, a BRIN range of
    # ids), and again under the lock: a backfill may have written into a month since.
    kept = [m for m in candidates if not await _droppable(conn, m, exported_to_id)]
    if len(kept) == len(candidates):
        return Dropped([], 0, kept)
    # Counted before the lock (a scan of a month must not hold the table): a row written
    # since has a newer id than the watermark, and the check under the lock keeps its month.
    counts = {
        m: int((await conn.execute(text(f"SELECT count(*) FROM {partition_name(m)}"))).scalar_one())
        for m in candidates
        if m not in kept
    }
    await _lock(conn, ("assets", "SHARE ROW EXCLUSIVE"), (PARENT, "ACCESS EXCLUSIVE"))
    dropped: list[date] = []
    for month in counts:
        if not await _droppable(conn, month, exported_to_id):
            kept.append(month)
            continue
        await conn.execute(text(f"DROP TABLE {partition_name(month)}"))
        dropped.append(month)
    return Dropped(dropped, sum(counts[m] for m in dropped), sorted(kept))


async def _droppable(conn: AsyncConnection, month: date, exported_to_id: int) -> bool:
    pinned = (
        await conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM latest_observations"
                " WHERE observed_at >= :lo AND observed_at < :hi)"
            ),
            {"lo": month_start(month), "hi": month_start(next_month(month))},
        )
    ).scalar_one()
    if pinned:
        return False
    # "Any id past the watermark?", not max(id): ix_observations_id (a BRIN) answers the
    # range, while nothing serves max(id) in order since the primary key leads with time.
    beyond = (
        await conn.execute(
            text(f"SELECT EXISTS (SELECT 1 FROM {partition_name(month)} WHERE id > :wm)"),
            {"wm": exported_to_id},
        )
    ).scalar_one()
    return not beyond
