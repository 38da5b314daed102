"""Set-based ``INSERT ... ON CONFLICT`` for many rows, with a COPY fast path on PostgreSQL.

PostgreSQL: rows are COPY'd (binary, asyncpg) into a per-connection temporary staging table and
merged with one ``INSERT ... SELECT ... ON CONFLICT``: one round trip for the data instead of
one multi-VALUES statement per 1,000 rows, and no per-value Python bind processing.
SQLite: SQLAlchemy's executemany / insertmanyvalues inside the caller's transaction (there is no
COPY, and an in-process executemany is already the fastest path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Table, text
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.store.dialect import insert_for


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _stage_table(conn: AsyncConnection, table: Table, columns: list[str]) -> str:
    stage = f"_stage_{table.name}"
    cols = ", ".join(_quote(c) for c in columns)
    # Temp tables are per connection: IF NOT EXISTS is a catalog lookup once it exists.
    # ON COMMIT DELETE ROWS: a rolled-back batch leaves nothing behind.
    await conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
        f"SELECT {cols} FROM {_quote(table.name)} WITH NO DATA"
    )
    return stage


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
    columns = list(rows[0])
    stage = await _stage_table(conn, table, columns)
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection  # the asyncpg connection, inside the caller's transaction
    assert driver is not None
    records = [tuple(r[c] for c in columns) for r in rows]
    await driver.copy_records_to_table(stage, records=records, columns=columns)
    cols = ", ".join(_quote(c) for c in columns)
    ret = ", ".join(_quote(c.name) for c in returning)
    sql = (
        f"INSERT INTO {_quote(table.name)} ({cols}) SELECT {cols} FROM {stage} "
        f"ON CONFLICT ({', '.join(_quote(c) for c in conflict)}) DO NOTHING"
        + (f" RETURNING {ret}" if ret else "")
    )
    result = await conn.execute(text(sql))
    out = result.all() if returning else []
    await conn.exec_driver_sql(f"TRUNCATE {stage}")
    return out
