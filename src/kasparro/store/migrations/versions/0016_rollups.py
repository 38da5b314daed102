"""observation rollups (1 h and 1 d OHLC per asset, source and bucket)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 08:00:00.000000

The table ``kasparro.load.rollups`` maintains with every later load, backfilled here from
the observations already stored: on PostgreSQL by one ``INSERT ... SELECT``
(``kasparro.load.rollups.PG_BACKFILL``, exact ``NUMERIC``), on SQLite folded in Python per
asset (exact ``Decimal`` comparisons: SQLite holds decimals as text).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kasparro.store.types import ExactDecimal, UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SECONDS = (3_600, 86_400)


def upgrade() -> None:
    rollups = op.create_table(
        "observation_rollups",
        sa.Column("asset_id", BigId, nullable=False),
        sa.Column("bucket_seconds", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("open_price", ExactDecimal(), nullable=False),
        sa.Column("open_at", UTCDateTime(), nullable=False),
        sa.Column("open_id", BigId, nullable=False),
        sa.Column("high_price", ExactDecimal(), nullable=False),
        sa.Column("low_price", ExactDecimal(), nullable=False),
        sa.Column("close_price", ExactDecimal(), nullable=False),
        sa.Column("close_at", UTCDateTime(), nullable=False),
        sa.Column("close_id", BigId, nullable=False),
        sa.Column("market_cap_usd", ExactDecimal(), nullable=True),
        sa.Column("volume_24h_usd", ExactDecimal(), nullable=True),
        sa.Column("observations", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "asset_id", "bucket_seconds", "bucket", "source", name="pk_observation_rollups"
        ),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        from kasparro.load.rollups import PG_BACKFILL

        op.execute(PG_BACKFILL)
        return
    _sqlite_backfill(bind, rollups)


def _sqlite_backfill(bind: sa.engine.Connection, rollups: sa.Table) -> None:
    # The loader's own fold (the same rules as every later load).
    from kasparro.load.rollups import fold, rollup_row

    obs = sa.table(
        "observations",
        sa.column("id", sa.Integer()),
        sa.column("asset_id", sa.Integer()),
        sa.column("source", sa.String()),
        sa.column("observed_at", UTCDateTime()),
        sa.column("price_usd", ExactDecimal()),
        sa.column("market_cap_usd", ExactDecimal()),
        sa.column("volume_24h_usd", ExactDecimal()),
    )
    assets = [a for (a,) in bind.execute(sa.select(obs.c.asset_id).distinct())]
    for asset_id in assets:
        rows = bind.execute(
            sa.select(
                obs.c.id,
                obs.c.asset_id,
                obs.c.source,
                obs.c.observed_at,
                obs.c.price_usd,
                obs.c.market_cap_usd,
                obs.c.volume_24h_usd,
            ).where(obs.c.asset_id == asset_id, obs.c.price_usd.is_not(None))
        ).all()
        folds = fold(rows)
        if folds:
            bind.execute(
                rollups.insert(),
                [rollup_row(key, f) for key, f in folds.items()],
            )


def downgrade() -> None:
    op.drop_table("observation_rollups")
