"""Schema-drift events, newest ``last_seen_at`` first, keyset-paginated.

``drift_events`` holds one row per (source, endpoint, field, kind) and stays small (it grows
with the number of distinct upstream changes, not with runs), so the filters need no index
beyond the primary key: the keyset predicate only bounds the page, it does not have to be an
index range scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Integer, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.query import keyset
from kasparro.query.cursor import Position
from kasparro.query.keyset import SortKey
from kasparro.store.schema import drift_events

d = drift_events.c


DRIFT_COLUMNS = (
    d.id,
    d.source,
    d.endpoint,
    d.field,
    d.kind,
    d.expected,
    d.observed,
    d.suggestion,
    d.confidence,
    d.sample,
    d.count,
    d.first_seen_at,
    d.last_seen_at,
    d.last_run_id,
)
DRIFT_FIELDS = tuple(c.name for c in DRIFT_COLUMNS)
_LAST_SEEN = DRIFT_FIELDS.index("last_seen_at")

# Newest change first; the id breaks ties between events recorded in the same run.
SORT_KEY = SortKey("last_seen_at", d.last_seen_at, d.id, False, "datetime", d.last_seen_at.type)


@dataclass(frozen=True, slots=True)
class DriftFilter:
    sources: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    since: datetime | None = None  # last_seen_at >= since


@dataclass(frozen=True, slots=True)
class DriftPage:
    events: list[dict[str, Any]]
    next: Position | None


def parse_stored_json(text: str | None) -> tuple[Any, bool]:
    """(value, truncated): the stored JSON text parsed back into a value.

    The write side caps ``drift_events.sample`` at 2000 characters, which can cut a large
    sample mid-document; such text is returned as-is with ``truncated=True`` instead of
    failing the whole page.
    """
    if text is None:
        return None, False
    try:
        return orjson.loads(text), False
    except orjson.JSONDecodeError:
        return text, True


@lru_cache(maxsize=16)
def _statement(sources: bool, kinds: bool, since: bool, cursor: bool) -> Select[Any]:
    # Cached per filter shape: values travel as bind parameters, never in the SQL text.
    stmt = select(*DRIFT_COLUMNS)
    if sources:
        stmt = stmt.where(d.source.in_(bindparam("sources", expanding=True)))
    if kinds:
        stmt = stmt.where(d.kind.in_(bindparam("kinds", expanding=True)))
    if since:
        stmt = stmt.where(d.last_seen_at >= bindparam("since", type_=d.last_seen_at.type))
    if cursor:
        stmt = stmt.where(keyset.after(SORT_KEY, True, value_is_null=False))
    return stmt.order_by(*keyset.order_by(SORT_KEY, True)).limit(bindparam("lim", type_=Integer()))


def _event(row: Any) -> dict[str, Any]:
    item = dict(zip(DRIFT_FIELDS, row, strict=True))
    item["sample"], item["sample_truncated"] = parse_stored_json(item["sample"])
    return item


async def list_drift(
    conn: AsyncConnection, flt: DriftFilter, *, limit: int, after: Position | None
) -> DriftPage:
    stmt = _statement(bool(flt.sources), bool(flt.kinds), flt.since is not None, after is not None)
    params: dict[str, Any] = {"lim": limit + 1}
    if flt.sources:
        params["sources"] = list(flt.sources)
    if flt.kinds:
        params["kinds"] = list(flt.kinds)
    if flt.since is not None:
        params["since"] = flt.since
    if after is not None:
        params[keyset.CURSOR_VALUE] = after.value
        params[keyset.CURSOR_ID] = after.id
    rows = (await conn.execute(stmt, params)).all()
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = Position(rows[-1][_LAST_SEEN], rows[-1][0])
    return DriftPage([_event(r) for r in rows], nxt)
