"""observations asset history index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 05:40:00.000000

Asset history orders one asset's rows across sources by (observed_at, id). The
(asset_id, source, observed_at) index cannot return them in that order, so every page sorted
all of the asset's rows (cost grew with history length); this one is a range scan that stops
after the page.
"""

from __future__ import annotations

from kasparro.store.online_index import create_index_online, drop_index_online

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_index_online(
        "observations", "ix_observations_asset_observed_id", ["asset_id", "observed_at", "id"]
    )


def downgrade() -> None:
    drop_index_online("observations", "ix_observations_asset_observed_id")
