"""drop the raw responses fingerprint index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 08:55:00.000000

A run now reads the fingerprints of its source's last runs once, through ``ix_raw_responses_run``
(``load.raw.loaded_fingerprints``), instead of looking each page's fingerprint up by
``(source, fingerprint)``: that index had no reader left and only cost writes.
"""

from __future__ import annotations

from kasparro.store.online_index import create_index_online, drop_index_online

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_index_online("raw_responses", "ix_raw_responses_fingerprint")


def downgrade() -> None:
    create_index_online("raw_responses", "ix_raw_responses_fingerprint", ["source", "fingerprint"])
