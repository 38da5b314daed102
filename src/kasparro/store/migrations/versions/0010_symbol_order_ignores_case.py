"""symbol order ignores case

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:00:00.000000

``sort=symbol`` on ``/data`` and ``/assets`` ordered by the symbol as stored, so ``$BASED``
came before ``$aapl`` and ``1WO`` before ``1inch``. It orders by ``lower(symbol)`` now (then
id); these indexes keep that order a range scan, as the plain symbol indexes they replace
did for the old one.
"""

from __future__ import annotations

import sqlalchemy as sa

from kasparro.store.online_index import create_index_online, drop_index_online

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

LOWER_SYMBOL = "lower(symbol)"


def upgrade() -> None:
    for table in ("observations", "assets"):
        create_index_online(table, f"ix_{table}_symbol_ci", [sa.text(LOWER_SYMBOL), "id"])
        drop_index_online(table, f"ix_{table}_symbol")


def downgrade() -> None:
    for table in ("observations", "assets"):
        create_index_online(table, f"ix_{table}_symbol", ["symbol"])
        drop_index_online(table, f"ix_{table}_symbol_ci")
