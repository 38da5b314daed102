"""rates: the reference rate and its inputs

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 08:00:00.000000

One auditable USD value per asset, interval, bucket and methodology version, and every input
of it, included or excluded with the reason (see ``kasparro.store.rate_schema`` and
``docs/reference-rate.md``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kasparro.store.types import ExactDecimal, UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rates",
        sa.Column("asset_id", BigId, nullable=False),
        sa.Column("interval", sa.String(length=4), nullable=False),
        sa.Column("method_version", sa.String(length=16), nullable=False),
        sa.Column("bucket_start", UTCDateTime(), nullable=False),
        sa.Column("value", ExactDecimal(), nullable=False),
        sa.Column("low", ExactDecimal(), nullable=False),
        sa.Column("high", ExactDecimal(), nullable=False),
        sa.Column("n_inputs", sa.Integer(), nullable=False),
        sa.Column("n_partitions", sa.Integer(), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("depeg", sa.Boolean(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "asset_id", "interval", "method_version", "bucket_start", name="pk_rates"
        ),
    )
    op.create_index(
        "ix_rates_interval_version_bucket",
        "rates",
        ["interval", "method_version", "bucket_start"],
    )
    op.create_index("ix_venue_quotes_observed", "venue_quotes", ["observed_at"])
    op.create_index("ix_venue_quotes_run", "venue_quotes", ["run_id"])
    op.create_table(
        "rate_inputs",
        sa.Column("asset_id", BigId, nullable=False),
        sa.Column("interval", sa.String(length=4), nullable=False),
        sa.Column("method_version", sa.String(length=16), nullable=False),
        sa.Column("bucket_start", UTCDateTime(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("market", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quote", sa.String(length=64), nullable=False),
        sa.Column("price", ExactDecimal(), nullable=False),
        sa.Column("quote_usd", ExactDecimal(), nullable=True),
        sa.Column("conversion", sa.String(length=64), nullable=False),
        sa.Column("price_usd", ExactDecimal(), nullable=True),
        sa.Column("bid_usd", ExactDecimal(), nullable=True),
        sa.Column("ask_usd", ExactDecimal(), nullable=True),
        sa.Column("volume_usd", ExactDecimal(), nullable=True),
        sa.Column("observed_at", UTCDateTime(), nullable=False),
        sa.Column("weight", ExactDecimal(), nullable=False),
        sa.Column("included", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("deviation", ExactDecimal(), nullable=True),
        sa.PrimaryKeyConstraint(
            "asset_id",
            "interval",
            "method_version",
            "bucket_start",
            "partition",
            "source",
            "market",
            name="pk_rate_inputs",
        ),
    )


def downgrade() -> None:
    op.drop_table("rate_inputs")
    op.drop_index("ix_venue_quotes_run", table_name="venue_quotes")
    op.drop_index("ix_venue_quotes_observed", table_name="venue_quotes")
    op.drop_index("ix_rates_interval_version_bucket", table_name="rates")
    op.drop_table("rates")
