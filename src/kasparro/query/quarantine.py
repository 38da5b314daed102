"""Quarantined (rejected) records, newest first by id, keyset-paginated.

Records are deduplicated by fingerprint on the write side, so ids grow with the first
rejection; ``run_id`` filters on ``last_run_id`` (``ix_quarantine_last_run``): "what did this
run reject", including records it rejected again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, Integer, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.query.drift import parse_stored_json
from kasparro.query.keyset import SortKey
from kasparro.store.schema import quarantine

q = quarantine.c

QUARANTINE_COLUMNS = (
    q.id,
    q.source,
    q.source_asset_id,
    q.reason,
    q.raw,
    q.first_run_id,
    q.last_run_id,
    q.seen_count,
    q.first_seen_at,
    q.last_seen_at,
)
QUARANTINE_FIELDS = tuple(c.name for c in QUARANTINE_COLUMNS)

# The cursor carries the last id only (same shape as /runs).
ID_SORT_KEY = SortKey("id", q.id, q.id, False, "int", q.id.type)


@dataclass(frozen=True, slots=True)
class QuarantineFilter:
    sources: tuple[str, ...] = ()
    run_id: int | None = None  # matches last_run_id


@dataclass(frozen=True, slots=True)
class QuarantinePage:
    records: list[dict[str, Any]]
    next_id: int | None


@lru_cache(maxsize=8)
def _statement(sources: bool, run_id: bool, cursor: bool) -> Select[Any]:
    stmt = select(*QUARANTINE_COLUMNS)
    if sources:
        stmt = stmt.where(q.source.in_(bindparam("sources", expanding=True)))
    if run_id:
        stmt = stmt.where(q.last_run_id == bindparam("run_id", type_=BigInteger()))
    if cursor:
        stmt = stmt.where(q.id < bindparam("before_id", type_=BigInteger()))
    return stmt.order_by(q.id.desc()).limit(bindparam("lim", type_=Integer()))


def _record(row: Any) -> dict[str, Any]:
    item = dict(zip(QUARANTINE_FIELDS, row, strict=True))
    # The writer stores complete JSON; text that does not parse is returned as-is.
    item["raw"] = parse_stored_json(item["raw"])[0]
    return item


async def list_quarantine(
    conn: AsyncConnection, flt: QuarantineFilter, *, limit: int, before_id: int | None
) -> QuarantinePage:
    stmt = _statement(bool(flt.sources), flt.run_id is not None, before_id is not None)
    params: dict[str, Any] = {"lim": limit + 1}
    if flt.sources:
        params["sources"] = list(flt.sources)
    if flt.run_id is not None:
        params["run_id"] = flt.run_id
    if before_id is not None:
        params["before_id"] = before_id
    rows = (await conn.execute(stmt, params)).all()
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = int(rows[-1][0])
    return QuarantinePage([_record(r) for r in rows], nxt)
