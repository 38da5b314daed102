"""latest observations order index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 03:23:45.516809
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("latest_observations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_latest_observations_observed", ["observed_at", "observation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("latest_observations", schema=None) as batch_op:
        batch_op.drop_index("ix_latest_observations_observed")
