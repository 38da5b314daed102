"""raw responses fingerprint

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 05:50:00.000000

A payload that was loaded whole, with no rejection, carries a fingerprint of its request and
bytes; a later identical payload is then known to hold nothing new and is archived without
being normalized and loaded again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("raw_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_raw_responses_fingerprint", ["source", "fingerprint"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("raw_responses", schema=None) as batch_op:
        batch_op.drop_index("ix_raw_responses_fingerprint")
        batch_op.drop_column("fingerprint")
