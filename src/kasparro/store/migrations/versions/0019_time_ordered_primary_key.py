"""observations' primary key in time order on PostgreSQL (SQLite: nothing to do)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 13:40:00.000000

Since the table is partitioned by month (0017) its primary key had to include
``observed_at``, and it was ``(id, observed_at)``: an index that no query walks (every
lookup of a row by id also knows its time, since 0017), kept beside
``ix_observations_observed_id`` ``(observed_at, id)``, which serves ``/data``'s default order.
The primary key becomes ``(observed_at, id)`` and takes that index's place: one B-tree less
per row written (about 31 bytes per observation and one insertion per row). Ids stay unique
(one sequence feeds them). SQLite keeps its rowid key and the ``(observed_at, id)`` index.

What still asks for ids alone (the lake's export ranges ``id > a AND id <= b``, retention's
"is anything past the watermark", the export's newest id) gets ``ix_observations_id``, a
BRIN on ``id``: ids grow with every insert, so each month's rows lie in id order on disk
and a few bytes per 128 pages find any id range (a B-tree on ``id`` would cost ~22 bytes
per row).

Rebuilds one index over every partition under the table's lock (a few seconds per 10M rows
here): on a big store run ``kasparro migrate`` with the ETL stopped.
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    op.execute("ALTER TABLE observations DROP CONSTRAINT pk_observations")
    op.execute(
        "ALTER TABLE observations ADD CONSTRAINT pk_observations PRIMARY KEY (observed_at, id)"
    )
    op.execute("DROP INDEX ix_observations_observed_id")
    op.execute(
        "CREATE INDEX ix_observations_id ON observations USING brin (id) WITH (autosummarize = on)"
    )


def downgrade() -> None:
    if not _postgresql():
        return
    op.execute("DROP INDEX ix_observations_id")
    op.execute("CREATE INDEX ix_observations_observed_id ON observations (observed_at, id)")
    op.execute("ALTER TABLE observations DROP CONSTRAINT pk_observations")
    op.execute(
        "ALTER TABLE observations ADD CONSTRAINT pk_observations PRIMARY KEY (id, observed_at)"
    )
