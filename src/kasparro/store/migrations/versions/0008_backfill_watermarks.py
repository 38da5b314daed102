"""backfill watermarks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 20:40:00.000000

Per source id and interval, the time range a history backfill has fetched (committed with
the observations it covers), so a backfill resumes after a crash and a repeated one fetches
nothing new.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kasparro.store.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "backfill_watermarks",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_asset_id", sa.String(length=300), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("covered_from", UTCDateTime(), nullable=False),
        sa.Column("covered_to", UTCDateTime(), nullable=False),
        sa.Column("run_id", BigId, nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "source", "source_asset_id", "interval", name="pk_backfill_watermarks"
        ),
    )


def downgrade() -> None:
    op.drop_table("backfill_watermarks")
