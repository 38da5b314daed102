"""lake watermarks

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 09:00:00.000000

What ``kasparro export`` has written to the Parquet lake: per table, the id up to which rows
are durably in the lake (and the range an interrupted export was writing); per table, source
and day, the rows exported (for retention: a partition is dropped only once exported).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kasparro.store.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lake_watermarks",
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("exported_to_id", BigId, nullable=False),
        sa.Column("pending_to_id", BigId, nullable=True),
        sa.Column("rows", BigId, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("table_name", name="pk_lake_watermarks"),
    )
    op.create_table(
        "lake_partitions",
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("rows", BigId, nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("max_id", BigId, nullable=False),
        sa.Column("exported_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("table_name", "source", "day", name="pk_lake_partitions"),
    )


def downgrade() -> None:
    op.drop_table("lake_partitions")
    op.drop_table("lake_watermarks")
