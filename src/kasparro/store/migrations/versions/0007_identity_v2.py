"""identity v2: reference data, links, review queue, merges

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 19:30:00.000000

Each API's coin list and contracts (``reference_*``), the linker's decision for every listed
coin (``identity_links``), the pairings left to a human (``identity_review``), each relink
and the bad reference data it found (``identity_relinks``, ``identity_anomalies``), what
re-linking did to assets (``asset_events``), the evidence of a mapping
(``asset_mappings.evidence``) and merged assets (``assets.alias_of``). Only new tables and
nullable columns: nothing existing is rewritten.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kasparro.store.types import ExactDecimal, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alias_of", BigId, nullable=True))
        batch_op.create_foreign_key("fk_assets_alias_of_assets", "assets", ["alias_of"], ["id"])
    with op.batch_alter_table("asset_mappings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evidence", sa.Text(), nullable=True))

    op.create_table(
        "reference_coins",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_asset_id", sa.String(length=300), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=True),
        sa.Column("issues", sa.Text(), nullable=True),
        sa.Column("raw_id", BigId, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "source_asset_id", name="pk_reference_coins"),
    )
    op.create_table(
        "reference_contracts",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("source_asset_id", sa.String(length=300), nullable=False),
        sa.Column("scope", sa.String(length=120), nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=True),
        sa.Column("spelled", sa.String(length=200), nullable=False),
        sa.Column("raw_id", BigId, nullable=False),
        sa.PrimaryKeyConstraint(
            "source", "platform", "address", "source_asset_id", name="pk_reference_contracts"
        ),
    )
    op.create_index(
        "ix_reference_contracts_coin", "reference_contracts", ["source", "source_asset_id"]
    )
    op.create_index("ix_reference_contracts_scope", "reference_contracts", ["source", "scope"])
    op.create_table(
        "reference_platforms",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=100), nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=True),
        sa.Column("raw_id", BigId, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "platform", name="pk_reference_platforms"),
    )
    op.create_table(
        "identity_links",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_asset_id", sa.String(length=300), nullable=False),
        sa.Column("identity_key", sa.String(length=300), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("counterpart", sa.String(length=300), nullable=True),
        sa.Column("confidence", ExactDecimal(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("relink_id", BigId, nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "source_asset_id", name="pk_identity_links"),
    )
    op.create_table(
        "identity_review",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("coingecko_id", sa.String(length=300), nullable=False),
        sa.Column("coinpaprika_id", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_identity_review"),
        sa.UniqueConstraint("coingecko_id", "coinpaprika_id", name="uq_identity_review_pair"),
    )
    op.create_index("ix_identity_review_status", "identity_review", ["status"])
    op.create_table(
        "identity_relinks",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("trigger", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("stats", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_identity_relinks"),
    )
    op.create_table(
        "identity_anomalies",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("relink_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("ids", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_identity_anomalies"),
    )
    op.create_index("ix_identity_anomalies_kind", "identity_anomalies", ["kind"])
    op.create_table(
        "asset_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("asset_id", BigId, nullable=False),
        sa.Column("from_asset_id", BigId, nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("source_asset_id", sa.String(length=300), nullable=True),
        sa.Column("method", sa.String(length=32), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("observations", sa.Integer(), nullable=True),
        sa.Column("relink_id", BigId, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_asset_events"),
    )
    op.create_index("ix_asset_events_asset", "asset_events", ["asset_id"])
    op.create_index("ix_asset_events_from", "asset_events", ["from_asset_id"])


def downgrade() -> None:
    op.drop_index("ix_asset_events_from", table_name="asset_events")
    op.drop_index("ix_asset_events_asset", table_name="asset_events")
    op.drop_table("asset_events")
    op.drop_index("ix_identity_anomalies_kind", table_name="identity_anomalies")
    op.drop_table("identity_anomalies")
    op.drop_table("identity_relinks")
    op.drop_index("ix_identity_review_status", table_name="identity_review")
    op.drop_table("identity_review")
    op.drop_table("identity_links")
    op.drop_table("reference_platforms")
    op.drop_index("ix_reference_contracts_scope", table_name="reference_contracts")
    op.drop_index("ix_reference_contracts_coin", table_name="reference_contracts")
    op.drop_table("reference_contracts")
    op.drop_table("reference_coins")
    with op.batch_alter_table("asset_mappings", schema=None) as batch_op:
        batch_op.drop_column("evidence")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_constraint("fk_assets_alias_of_assets", type_="foreignkey")
        batch_op.drop_column("alias_of")
