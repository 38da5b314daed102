"""Dialect-aware INSERT ... ON CONFLICT (PostgreSQL and SQLite share the same syntax)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
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
