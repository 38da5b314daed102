"""latest observations source index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 06:35:00.000000

``/data?latest=true&source=x`` read every latest row of the source and sorted them (a seq scan
plus top-N sort: 30 ms on a 100k-row store, 213 ms p50 under load); this index returns them in
page order.
"""

from __future__ import annotations

from kasparro.store.online_index import create_index_online, drop_index_online

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_index_online(
        "latest_observations",
        "ix_latest_observations_source_observed",
        ["source", "observed_at", "observation_id"],
    )


def downgrade() -> None:
    drop_index_online("latest_observations", "ix_latest_observations_source_observed")
