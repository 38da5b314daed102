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
def _pg_types(table: Table, columns: tuple[str, ...]) -> tuple[str, ...]:
    dialect = postgresql.dialect()
    return tuple(table.c[name].type.compile(dialect=dialect) for name in columns)


@cache
def unnest_select(table: Table, columns: tuple[str, ...]) -> str:
    """``SELECT * FROM unnest($1::<type>[], ...)``: one typed array parameter per column.

    NUMERIC columns travel as text (``$n::text[]::numeric[]``): asyncpg's binary numeric
    encoder cost 1.6 us of client CPU per value, ``str(Decimal)`` plus a text array 0.44 us
    (measured, 100k values), and the server parses decimal text exactly."""
    arrays = ", ".join(
        f"${i}::text[]::NUMERIC[]" if pg_type == "NUMERIC" else f"${i}::{pg_type}[]"
        for i, pg_type in enumerate(_pg_types(table, columns), start=1)
    )
    return f"SELECT * FROM unnest({arrays})"


def column_arrays(
    table: Table, rows: Sequence[dict[str, Any]], columns: tuple[str, ...]
) -> list[list[Any]]:
    """The parameters of :func:`unnest_select`: one list per column, NUMERIC as text."""
    out: list[list[Any]] = []
    for name, pg_type in zip(columns, _pg_types(table, columns), strict=True):
        if pg_type == "NUMERIC":
            out.append([None if (v := row[name]) is None else str(v) for row in rows])
        else:
            out.append([row[name] for row in rows])
    return out


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
    args = column_arrays(table, rows, columns)
    if returning:
        sql += " RETURNING " + ", ".join(quote(c.name) for c in returning)
        return list(await driver.fetch(sql, *args))
    await driver.execute(sql, *args)
    return []
