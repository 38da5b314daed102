"""Dialect-aware INSERT ... ON CONFLICT (PostgreSQL and SQLite share the same syntax)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Table, Text, bindparam, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_for(conn: AsyncConnection, table: Table) -> Any:
    """An ``Insert`` with ``on_conflict_do_nothing/update`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported dialect {conn.dialect.name}")


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    """Split IN-lists so no statement exceeds the driver's bind-parameter limit."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def key_list(conn: AsyncConnection, values: list[str]) -> tuple[Any, Any]:
    """A one-column table of ``values`` to JOIN against, with its column.

    Why not ``col IN (...)``: on a table that grew during the run PostgreSQL's stale stats
    can pick a sequential scan that tests every row against every list element (measured:
    120 ms per 250-key lookup at 17k rows). Joining a table-valued list lets the planner
    hash or index-probe, binds ONE parameter (no statement per list length, no bind limit),
    and works the same way on both dialects: ``unnest(text[])`` / ``json_each(json)``.
    """
    if conn.dialect.name == "postgresql":
        tv = func.unnest(bindparam(None, values, type_=ARRAY(Text))).table_valued("k")
        keys = tv.render_derived(name="keys")  # renders: unnest(...) AS keys(k)
        return keys, keys.c.k
    tv = func.json_each(bindparam(None, orjson.dumps(values).decode(), type_=Text)).table_valued(
        "value"
    )
    keys = tv.alias("keys")
    return keys, keys.c.value
