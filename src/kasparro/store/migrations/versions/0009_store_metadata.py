"""store metadata

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 05:00:00.000000

Facts about the store as a whole, one row per key: ``data_mode`` marks a database filled
with emulated data (the offline demo), so the API labels it ``"mode": "demo"`` whoever
serves it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kasparro.store.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_metadata",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_store_metadata"),
    )


def downgrade() -> None:
    op.drop_table("store_metadata")
