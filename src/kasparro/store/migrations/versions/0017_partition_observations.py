"""observations partitioned by month on PostgreSQL (SQLite: nothing to do)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 11:00:00.000000

``observations`` becomes ``PARTITION BY RANGE (observed_at)``: one partition per UTC month
(``observations_p202612``) from the oldest stored row's month to two months ahead, and a
``DEFAULT`` partition for rows of months not created yet (``kasparro.store.partitions``
maintains them from then on). The rows are copied in one transaction, ids kept, the id
sequence kept. PostgreSQL requires the partition key in every unique constraint: the primary
key becomes ``(id, observed_at)`` (ids stay unique: one sequence feeds them); the loader's
idempotency key already ends in ``observed_at``.

Written against the catalogue rather than a column list: constraints and indexes are
recreated from their own definitions (``pg_get_constraintdef``, ``pg_get_indexdef``), so
this runs on whatever the table held at this revision. A table of N rows is rewritten once:
on a large existing store, run ``kasparro migrate`` in a maintenance window (about the time
of a ``CREATE TABLE AS`` of the table plus its index builds).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

OLD = "observations_unpartitioned"
AHEAD_MONTHS = 2


def _next(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _bound(month: date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'"


def _definitions(conn: sa.Connection, table: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(name, type, definition) of each constraint, and each index not backing one."""
    constraints = [
        (name, kind, definition)
        for name, kind, definition in conn.execute(
            sa.text(
                "SELECT conname, contype::text, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = to_regclass(:t) ORDER BY conname"
            ),
            {"t": table},
        )
    ]
    indexes = list(
        conn.execute(
            sa.text(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass(:t)"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
                " ORDER BY c.relname"
            ),
            {"t": table},
        ).scalars()
    )
    return constraints, indexes


def _swap(*, partitioned: bool) -> None:
    conn = op.get_bind()
    constraints, indexes = _definitions(conn, "observations")
    op.execute(f"ALTER TABLE observations RENAME TO {OLD}")
    # Free the names (a constraint's index goes with it) before the new table takes them.
    for name, kind, _ in constraints:
        if kind != "f":
            op.execute(f'ALTER TABLE {OLD} DROP CONSTRAINT "{name}"')
    for name, kind, _ in constraints:
        if kind == "f":
            op.execute(f'ALTER TABLE {OLD} DROP CONSTRAINT "{name}"')
    for ddl in indexes:
        op.execute(f"DROP INDEX {ddl.split(' INDEX ', 1)[1].split(' ON ', 1)[0]}")
    suffix = " PARTITION BY RANGE (observed_at)" if partitioned else ""
    op.execute(f"CREATE TABLE observations (LIKE {OLD} INCLUDING DEFAULTS){suffix}")
    op.execute("ALTER SEQUENCE observations_id_seq OWNED BY observations.id")
    if partitioned:
        _create_partitions(conn)
    op.execute(f"INSERT INTO observations SELECT * FROM {OLD}")
    op.execute(f"DROP TABLE {OLD}")
    for name, kind, definition in constraints:
        if kind == "p":
            definition = "PRIMARY KEY (id, observed_at)" if partitioned else "PRIMARY KEY (id)"
        op.execute(f'ALTER TABLE observations ADD CONSTRAINT "{name}" {definition}')
    for ddl in indexes:
        # Read before the rename, so they name ``observations``; a partitioned parent's
        # index reads "ON ONLY", which would leave the partitions without it.
        op.execute(ddl.replace(" ON ONLY ", " ON "))
    op.execute("ANALYZE observations")


def _create_partitions(conn: sa.Connection) -> None:
    oldest = conn.execute(sa.text(f"SELECT min(observed_at) FROM {OLD}")).scalar()
    now = datetime.now(UTC)
    first = oldest.astimezone(UTC) if oldest is not None else now
    month, last = date(first.year, first.month, 1), date(now.year, now.month, 1)
    for _ in range(AHEAD_MONTHS):
        last = _next(last)
    while month <= last:
        name = f"observations_p{month.year:04d}{month.month:02d}"
        op.execute(
            f"CREATE TABLE {name} PARTITION OF observations"
            f" FOR VALUES FROM ({_bound(month)}) TO ({_bound(_next(month))})"
        )
        month = _next(month)
    op.execute("CREATE TABLE observations_default PARTITION OF observations DEFAULT")


def _postgresql() -> bool:
    if op.get_context().dialect.name != "postgresql":
        return False
    if op.get_context().as_sql:
        raise RuntimeError("migration 0017 reads the catalogue: run it online (kasparro migrate)")
    return True


def upgrade() -> None:
    if _postgresql():
        _swap(partitioned=True)


def downgrade() -> None:
    if _postgresql():
        _swap(partitioned=False)
