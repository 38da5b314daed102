"""Closed months' indexes packed full (PostgreSQL): one index per upkeep pass.

The ETL writes one tick of every coin after another, so the idempotency key
``(listing_id, observed_at)`` takes each row in another listing's leaf page and page splits
leave it about 70 % full (43 bytes per observation where packed it needs 28); the
time-ordered primary key fills its pages at the B-tree's default 90 %. A month stops
receiving rows once it is over (a backfill into it later is rare, and then only splits
the pages it touches), so its indexes are rebuilt once with ``fillfactor = 100``:
``REINDEX INDEX CONCURRENTLY``, which neither blocks the ETL's writes nor the API's reads.
About 17 bytes per observation of a closed month (BENCHMARKS.md, 8a). Only the unique
indexes (the primary key and the idempotency key): the source index deduplicates the
rows of one tick already, and rebuilt it came out 11 % bigger.

One index per pass bounds what a run's upkeep costs (a month of a busy store is seconds to
a minute per index here); the pass after picks the next. A session advisory lock keeps two
processes from rebuilding at once. The marker is the index's own ``fillfactor = 100``, set
just before the rebuild and reset if it fails; a rebuild killed half way leaves an invalid
``…_ccnew`` index, which the next pass drops (and retries that index).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kasparro.store import partitions

# Late rows of a month (an upstream's delayed timestamps) land within this of its end.
GRACE: Final = timedelta(days=1)
# How long a rebuild waits for a lock, or for older transactions to end (REINDEX
# CONCURRENTLY waits for both), before it gives up until the next pass: the upkeep runs at
# the end of each ETL run, which must not wait behind a long retention delete.
LOCK_TIMEOUT: Final = "5s"
_LOCK_KEY: Final = 0x6B617370_636F  # "kasp" "co"
_LEFTOVER: Final = re.compile(r"^(.*)_ccnew\d*$")

_INDEXES: Final = """
SELECT c.relname AS partition, ic.relname AS index_name, x.indisvalid AS valid,
       x.indisunique AS is_unique,
       coalesce(ic.reloptions @> ARRAY['fillfactor=100'], false) AS packed
FROM pg_inherits AS i
JOIN pg_class AS c ON c.oid = i.inhrelid
JOIN pg_index AS x ON x.indrelid = c.oid
JOIN pg_class AS ic ON ic.oid = x.indexrelid
JOIN pg_am AS am ON am.oid = ic.relam
WHERE i.inhparent = to_regclass(:parent) AND am.amname = 'btree'
ORDER BY c.relname, ic.relname
"""


@dataclass(slots=True)
class Compacted:
    index: str | None = None  # the index rebuilt by this pass
    month: date | None = None
    leftovers_dropped: list[str] = field(default_factory=list)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def compact_next(engine: AsyncEngine, now: datetime) -> Compacted | None:
    """Rebuild the next closed month's index not packed yet; None: not PostgreSQL, not
    partitioned, or another process is compacting."""
    if engine.dialect.name != "postgresql":
        return None
    async with engine.connect() as conn:
        # REINDEX CONCURRENTLY cannot run inside a transaction block.
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if not await partitions.is_partitioned(conn):
            return None
        got = await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _LOCK_KEY})
        if not got.scalar_one():
            return None
        await conn.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT}'"))
        try:
            return await _compact(conn, now)
        finally:
            await conn.execute(text("RESET lock_timeout"))
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})


async def _compact(conn: AsyncConnection, now: datetime) -> Compacted:
    done = Compacted()
    closed = {
        partitions.partition_name(m): m
        for m in await partitions.months(conn)
        if partitions.month_start(partitions.next_month(m)) + GRACE <= now
    }
    rows = (await conn.execute(text(_INDEXES), {"parent": partitions.PARENT})).all()
    for row in rows:
        leftover = _LEFTOVER.match(row.index_name)
        if row.valid or leftover is None:
            continue
        await conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {_quoted(row.index_name)}"))
        await conn.execute(text(f"ALTER INDEX IF EXISTS {_quoted(leftover[1])} RESET (fillfactor)"))
        done.leftovers_dropped.append(row.index_name)
    if done.leftovers_dropped:  # their indexes are to be rebuilt again
        rows = (await conn.execute(text(_INDEXES), {"parent": partitions.PARENT})).all()
    todo = [r for r in rows if r.partition in closed and r.is_unique and r.valid and not r.packed]
    if not todo:
        return done
    name = todo[0].index_name
    await conn.execute(text(f"ALTER INDEX {_quoted(name)} SET (fillfactor = 100)"))
    try:
        await conn.execute(text(f"REINDEX INDEX CONCURRENTLY {_quoted(name)}"))
    except BaseException:
        with contextlib.suppress(Exception):
            await conn.execute(text(f"ALTER INDEX {_quoted(name)} RESET (fillfactor)"))
        raise
    done.index, done.month = name, closed[todo[0].partition]
    return done
