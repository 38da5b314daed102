"""latest observations source index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 06:35:00.000000

``/data?latest=true&source=x`` read every latest row of the source and sorted them (a seq scan
plus top-N sort: 30 ms on a 100k-row store, 213 ms p50 under load); this index returns them in
page order.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("latest_observations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_latest_observations_source_observed",
            ["source", "observed_at", "observation_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("latest_observations", schema=None) as batch_op:
        batch_op.drop_index("ix_latest_observations_source_observed")
