"""Dialect-aware statement pieces: INSERT ... ON CONFLICT, and key lists bound as one parameter."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Float, String, Table, Text, bindparam, cast, func, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement


def insert_for(conn: AsyncConnection, table: Table) -> Any:
    """An ``Insert`` with ``on_conflict_do_nothing/update`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported dialect {conn.dialect.name}")


def key_table(conn: AsyncConnection, values: list[str]) -> Any:
    """``values`` as a one-column table (``.c.value``) bound as ONE parameter:
    ``unnest(text[])`` on PostgreSQL, ``json_each(json)`` on SQLite.

    Lookups select from it and probe the store per key with a correlated scalar subquery,
    ``SELECT value, (SELECT ... WHERE key_column = value) FROM keys``. Both databases run such a
    subquery once per key through the key column's index, whatever their statistics say.
    Joins or ``IN (subquery)`` leave the plan to the statistics, which are stale while a
    first load grows a table from empty: PostgreSQL then chose a hash join over every mapping
    of the source (30 ms per 250-key lookup at 50k mappings, 200 ms with a cached generic
    plan), and SQLite made the big table the outer loop (2 s per lookup at 100k mappings).
    One parameter also keeps the statement text, and the prepared-statement cache, the same
    for every list length.
    """
    if conn.dialect.name == "postgresql":
        keys = func.unnest(bindparam(None, values, type_=ARRAY(Text))).table_valued("value")
        return keys.render_derived(with_types=False)  # unnest(...) AS keys(value)
    return func.json_each(bindparam(None, orjson.dumps(values).decode(), type_=Text)).table_valued(
        "value"
    )


def decimal_sort(col: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """An exact-decimal column as something that orders numerically: SQLite keeps exact
    decimals as text (``store.types``), so it is compared as a float there (ordering only;
    the value read stays exact)."""
    if dialect == "sqlite":
        return cast(type_coerce(col, String()), Float())
    return col
