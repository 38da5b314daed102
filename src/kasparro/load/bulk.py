"""Set-based ``INSERT ... ON CONFLICT`` for many rows, in one statement.

PostgreSQL: the rows travel as one array per column (binary, asyncpg) and are expanded by
``unnest`` inside a single ``INSERT ... SELECT ... ON CONFLICT``: one round trip whatever the
row count, no per-value Python bind processing and no staging table. (A COPY into a temporary
staging table, used before, cost four round trips per insert plus a TRUNCATE of the staging
table at every commit.)
SQLite: SQLAlchemy's executemany / insertmanyvalues inside the caller's transaction (there is no
COPY, and an in-process executemany is already the fastest path).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.store.dialect import insert_for


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@cache
def unnest_select(table: Table, columns: tuple[str, ...]) -> str:
    """``SELECT * FROM unnest($1::<type>[], ...)``: one typed array parameter per column."""
    dialect = postgresql.dialect()
    arrays = ", ".join(
        f"${i}::{table.c[name].type.compile(dialect=dialect)}[]"
        for i, name in enumerate(columns, start=1)
    )
    return f"SELECT * FROM unnest({arrays})"


def column_arrays(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[list[Any]]:
    return [[row[name] for row in rows] for name in columns]


async def driver_connection(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn``, inside the caller's transaction."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    return driver


async def insert_rows(
    conn: AsyncConnection,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    conflict: Sequence[str],
    returning: Sequence[Column[Any]] = (),
) -> Sequence[Any]:
    """Insert ``rows`` (dicts with identical keys), skipping conflicts; return RETURNING rows."""
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        stmt = insert_for(conn, table).on_conflict_do_nothing(index_elements=list(conflict))
        if returning:
            return (await conn.execute(stmt.returning(*returning), rows)).all()
        await conn.execute(stmt, rows)
        return []
    columns = tuple(rows[0])
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) "
        f"{unnest_select(table, columns)} "
        f"ON CONFLICT ({', '.join(map(quote, conflict))}) DO NOTHING"
    )
    driver = await driver_connection(conn)
    args = column_arrays(rows, columns)
    if returning:
        sql += " RETURNING " + ", ".join(quote(c.name) for c in returning)
        return list(await driver.fetch(sql, *args))
    await driver.execute(sql, *args)
    return []
