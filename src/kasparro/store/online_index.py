"""Index changes that do not stop the ETL on a big PostgreSQL table.

A plain ``CREATE INDEX`` blocks writes to its table until it is built: minutes on a 10M-row
``observations``, while ``kasparro serve`` migrates at startup and the ETL keeps loading. On
PostgreSQL these build ``CONCURRENTLY`` in an autocommit block (outside the migration's
transaction, which PostgreSQL requires for it); SQLite has no such thing and its batch mode
is used as for every other change.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy.sql.elements import TextClause


def create_index_online(table: str, name: str, columns: Sequence[str | TextClause]) -> None:
    """``columns``: names, or ``sa.text(...)`` for an expression (``lower(symbol)``)."""
    if op.get_context().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            # A concurrent build that failed half-way leaves an INVALID index behind: drop it
            # so that running the migration again starts clean.
            op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
            op.create_index(name, table, list(columns), unique=False, postgresql_concurrently=True)
        return
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(name, list(columns), unique=False)


def drop_index_online(table: str, name: str) -> None:
    if op.get_context().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(name, table_name=table, postgresql_concurrently=True)
        return
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_index(name)
