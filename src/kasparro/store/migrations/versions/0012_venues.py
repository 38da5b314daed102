"""venues: market lists, quotes, latest quotes, market links

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 07:00:00.000000

Exchange venues (Binance, Coinbase, Kraken, OKX, declared in the source registry): their
market lists, their tickers in their quote currencies (exact decimals), each market's
newest quote with since when it has not moved, and their base currencies linked to
canonical assets (see ``kasparro.store.venue_schema``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kasparro.store.types import ExactDecimal, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "venue_markets",
        sa.Column("venue", sa.String(length=64), nullable=False),
        sa.Column("market_id", sa.String(length=100), nullable=False),
        sa.Column("symbol", sa.String(length=100), nullable=False),
        sa.Column("base", sa.String(length=64), nullable=False),
        sa.Column("quote", sa.String(length=64), nullable=False),
        sa.Column("base_id", sa.String(length=64), nullable=False),
        sa.Column("quote_id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("alias", sa.String(length=100), nullable=True),
        sa.Column("unified", sa.Text(), nullable=False),
        sa.Column("raw_id", BigId, nullable=True),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("venue", "market_id", name="pk_venue_markets"),
    )
    op.create_table(
        "venue_quotes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("venue", sa.String(length=64), nullable=False),
        sa.Column("market_id", sa.String(length=100), nullable=False),
        sa.Column("symbol", sa.String(length=100), nullable=False),
        sa.Column("base", sa.String(length=64), nullable=False),
        sa.Column("quote", sa.String(length=64), nullable=False),
        sa.Column("base_id", sa.String(length=64), nullable=False),
        sa.Column("quote_id", sa.String(length=64), nullable=False),
        sa.Column("observed_at", UTCDateTime(), nullable=False),
        sa.Column("venue_time", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.Column("last", ExactDecimal(), nullable=False),
        sa.Column("bid", ExactDecimal(), nullable=True),
        sa.Column("ask", ExactDecimal(), nullable=True),
        sa.Column("base_volume", ExactDecimal(), nullable=True),
        sa.Column("quote_volume", ExactDecimal(), nullable=True),
        sa.Column("run_id", BigId, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_venue_quotes"),
        sa.UniqueConstraint("venue", "market_id", "observed_at", name="uq_venue_quotes_venue"),
    )
    op.create_index("ix_venue_quotes_base_observed", "venue_quotes", ["base", "observed_at"])
    op.create_index("ix_venue_quotes_venue_fetched", "venue_quotes", ["venue", "fetched_at"])
    op.create_table(
        "venue_latest_quotes",
        sa.Column("venue", sa.String(length=64), nullable=False),
        sa.Column("market_id", sa.String(length=100), nullable=False),
        sa.Column("quote_id", BigId, nullable=False),
        sa.Column("observed_at", UTCDateTime(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("venue", "market_id", name="pk_venue_latest_quotes"),
    )
    op.create_table(
        "venue_market_links",
        sa.Column("venue", sa.String(length=64), nullable=False),
        sa.Column("base_id", sa.String(length=64), nullable=False),
        sa.Column("base", sa.String(length=64), nullable=False),
        sa.Column("asset_id", BigId, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("venue", "base_id", name="pk_venue_market_links"),
    )


def downgrade() -> None:
    op.drop_table("venue_market_links")
    op.drop_table("venue_latest_quotes")
    op.drop_index("ix_venue_quotes_venue_fetched", table_name="venue_quotes")
    op.drop_index("ix_venue_quotes_base_observed", table_name="venue_quotes")
    op.drop_table("venue_quotes")
    op.drop_table("venue_markets")
