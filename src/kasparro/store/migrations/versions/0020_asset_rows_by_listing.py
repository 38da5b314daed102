"""observations lose their asset history index on PostgreSQL (SQLite keeps it)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 17:00:00.000000

``ix_observations_asset_observed_id`` ``(asset_id, observed_at, id)`` served an asset's
history. Written in the ETL's order (one tick of every asset after another) each insertion
lands in another asset's leaf page, and page splits left it about 70 % full: 62 bytes per
observation, the largest structure after the heap, and one random B-tree insertion per row.
An asset's rows are now read through its listings (``store.asset_rows``): each listing's
rows are one range of ``uq_observations_listing_key`` ``(listing_id, observed_at)``, which
the loader keeps anyway for idempotency. SQLite keeps the index (no ``LATERAL`` to merge
listings with, and an embedded store's size matters less).

Backfills resolved their points' coins under the history source's name
(``coingecko_history``) rather than the upstream whose ids they are, leaving a second
mapping per backfilled coin: each becomes the upstream's mapping where that is missing and
is dropped otherwise (both dialects), so every listing's rows have their listing's mapping.

Dropping a partitioned index drops each partition's under the table's lock (a catalog change,
quick); the downgrade rebuilds it over every partition (a few seconds per 10M rows here):
on a big store run ``kasparro migrate`` with the ETL stopped.
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


# The history sources Kasparro shipped, and the upstream whose ids their points carry.
_HISTORY = {"coingecko_history": "coingecko", "coinpaprika_history": "coinpaprika"}


def upgrade() -> None:
    for history, upstream in _HISTORY.items():
        op.execute(
            f"UPDATE asset_mappings SET source = '{upstream}' WHERE source = '{history}'"
            " AND NOT EXISTS (SELECT 1 FROM asset_mappings m WHERE m.source ="
            f" '{upstream}' AND m.source_asset_id = asset_mappings.source_asset_id)"
        )
        op.execute(f"DELETE FROM asset_mappings WHERE source = '{history}'")
    if _postgresql():
        op.execute("DROP INDEX ix_observations_asset_observed_id")


def downgrade() -> None:
    if _postgresql():
        op.execute(
            "CREATE INDEX ix_observations_asset_observed_id "
            "ON observations (asset_id, observed_at, id)"
        )
