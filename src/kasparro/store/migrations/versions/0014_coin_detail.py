"""coin detail

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 08:00:00.000000

Per-coin detail for identity (issue 16): the homepage and explorer links of a coin's own
page, fetched only for the coins of pairs a relink left undecided, and which are wanted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kasparro.store.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "coin_details",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_asset_id", sa.String(length=300), nullable=False),
        sa.Column("wanted_rank", sa.Integer(), nullable=True),
        sa.Column("wanted_at", UTCDateTime(), nullable=True),
        sa.Column("homepages", sa.Text(), nullable=True),
        sa.Column("explorers", sa.Text(), nullable=True),
        sa.Column("fetched_at", UTCDateTime(), nullable=True),
        sa.Column("raw_id", BigId, nullable=True),
        sa.PrimaryKeyConstraint("source", "source_asset_id", name="pk_coin_details"),
    )
    op.create_index(
        "ix_coin_details_wanted", "coin_details", ["source", "wanted_rank"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_coin_details_wanted", table_name="coin_details")
    op.drop_table("coin_details")
