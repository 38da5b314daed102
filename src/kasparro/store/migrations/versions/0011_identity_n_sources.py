"""identity for any number of sources: links and review items keyed by (source, id) pairs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 07:00:00.000000

``identity_links`` loses the CoinGecko-to-CoinPaprika ``counterpart`` column: a link names its
asset's other coins (any sources) in ``partners`` (JSON) and carries the weighed evidence's
``score``. ``identity_review`` names its two coins as ``(a_source, a_id)`` and ``(b_source,
b_id)`` instead of ``coingecko_id``/``coinpaprika_id`` (existing items and human decisions are
kept, as CoinGecko/CoinPaprika pairs), with the pair's ``score``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identity_links", schema=None) as batch_op:
        batch_op.drop_column("counterpart")
        batch_op.add_column(sa.Column("score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("partners", sa.Text(), nullable=True))
    with op.batch_alter_table("identity_review", schema=None) as batch_op:
        batch_op.add_column(sa.Column("a_source", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("a_id", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("b_source", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("b_id", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("score", sa.Float(), nullable=True))
    op.execute(
        "UPDATE identity_review SET a_source = 'coingecko', a_id = coingecko_id,"
        " b_source = 'coinpaprika', b_id = coinpaprika_id"
    )
    with op.batch_alter_table("identity_review", schema=None) as batch_op:
        batch_op.drop_constraint("uq_identity_review_pair", type_="unique")
        batch_op.drop_column("coingecko_id")
        batch_op.drop_column("coinpaprika_id")
        for column, size in (("a_source", 64), ("a_id", 300), ("b_source", 64), ("b_id", 300)):
            batch_op.alter_column(column, existing_type=sa.String(length=size), nullable=False)
        batch_op.create_unique_constraint(
            "uq_identity_review_pair", ["a_source", "a_id", "b_source", "b_id"]
        )


def downgrade() -> None:
    # Only CoinGecko/CoinPaprika pairs had a place before; the others are dropped.
    op.execute(
        "DELETE FROM identity_review WHERE NOT (a_source = 'coingecko'"
        " AND b_source = 'coinpaprika')"
    )
    with op.batch_alter_table("identity_review", schema=None) as batch_op:
        batch_op.add_column(sa.Column("coingecko_id", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("coinpaprika_id", sa.String(length=300), nullable=True))
    op.execute("UPDATE identity_review SET coingecko_id = a_id, coinpaprika_id = b_id")
    with op.batch_alter_table("identity_review", schema=None) as batch_op:
        batch_op.drop_constraint("uq_identity_review_pair", type_="unique")
        for column in ("a_source", "a_id", "b_source", "b_id", "score"):
            batch_op.drop_column(column)
        for column in ("coingecko_id", "coinpaprika_id"):
            batch_op.alter_column(column, existing_type=sa.String(length=300), nullable=False)
        batch_op.create_unique_constraint(
            "uq_identity_review_pair", ["coingecko_id", "coinpaprika_id"]
        )
    with op.batch_alter_table("identity_links", schema=None) as batch_op:
        batch_op.drop_column("partners")
        batch_op.drop_column("score")
        batch_op.add_column(sa.Column("counterpart", sa.String(length=300), nullable=True))
