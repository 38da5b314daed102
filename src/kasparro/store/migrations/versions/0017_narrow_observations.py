"""narrow observation row: listings referenced, not copied

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 11:00:00.000000

Every observation copied its source's strings (``source_asset_id``, ``symbol``, ``name``);
they move to ``listings`` (one row per source id: the newest symbol and name seen) and an
observation references its listing. The table is rebuilt rather than altered: the new
columns are laid out in PostgreSQL's storage order (8-byte, then 4-byte, then
variable-length: no alignment padding), and a rewrite costs less than an UPDATE of every
row followed by dropped columns that keep their slot. Its indexes are rebuilt with it:

- the idempotency key ``(source, source_asset_id, observed_at)`` becomes ``(listing_id,
  observed_at)``;
- ``ix_observations_asset_source_observed`` goes: ``ix_observations_asset_observed_id``
  serves asset + source (an asset has one listing per source);
- ``ix_observations_symbol_ci`` goes: ``sort=symbol`` walks ``ix_listings_symbol_ci``;
- ``ix_observations_run`` is a BRIN on PostgreSQL (rows arrive in run order).

The rewrite holds the table's lock for its length (about a minute per 10M rows here): run
``kasparro migrate`` with the ETL stopped on a big store. Downgrading restores the wide
table; an old row then carries its listing's newest symbol and name, not the ones it was
loaded with (those are not kept).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kasparro.store.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Exact = kasparro.store.types.ExactDecimal
When = kasparro.store.types.UTCDateTime
DECIMALS = (
    "price_usd",
    "market_cap_usd",
    "volume_24h_usd",
    "change_24h_pct",
)
SUPPLIES = ("circulating_supply", "total_supply", "max_supply")
OLD_INDEXES = (
    "ix_observations_asset_source_observed",
    "ix_observations_observed_id",
    "ix_observations_asset_observed_id",
    "ix_observations_source_observed",
    "ix_observations_run",
    "ix_observations_symbol_ci",
)
NEW_INDEXES = (
    "ix_observations_observed_id",
    "ix_observations_asset_observed_id",
    "ix_observations_source_observed",
    "ix_observations_run",
)


def _postgresql() -> bool:
    return bool(op.get_context().dialect.name == "postgresql")


def _set_aside(indexes: Sequence[str], unique: str) -> None:
    """Rename ``observations`` to ``observations_old`` with everything that would collide
    with the new table's names (index names are global on both databases; on PostgreSQL
    constraint and sequence names are too)."""
    for name in indexes:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("ALTER TABLE observations RENAME TO observations_old")
    if _postgresql():
        op.execute("ALTER SEQUENCE observations_id_seq RENAME TO observations_old_id_seq")
        for name in ("pk_observations", unique, "fk_observations_asset_id_assets"):
            op.execute(f"ALTER TABLE observations_old RENAME CONSTRAINT {name} TO {name}_old")


def _finish(columns: Sequence[str], select_from: str) -> None:
    cols = ", ".join(columns)
    op.execute(f"INSERT INTO observations ({cols}) SELECT {select_from}")
    op.execute("DROP TABLE observations_old")
    if _postgresql():
        op.execute(
            "SELECT setval('observations_id_seq', "
            "COALESCE((SELECT max(id) FROM observations), 0) + 1, false)"
        )


def _indexes(
    unique: str, key: list[str], indexes: Sequence[tuple[str, list[str | sa.TextClause]]]
) -> None:
    """The unique key and indexes, built after the copy on PostgreSQL (one sorted build
    each rather than row-by-row inserts). SQLite cannot add a constraint to a table: there
    the key is declared with the table (:func:`_unique_on_sqlite`)."""
    if _postgresql():
        op.create_unique_constraint(unique, "observations", key)
    for name, columns in indexes:
        op.create_index(name, "observations", columns)


def _unique_on_sqlite(name: str, key: list[str]) -> list[sa.UniqueConstraint]:
    return [] if _postgresql() else [sa.UniqueConstraint(*key, name=name)]


def upgrade() -> None:
    op.create_table(
        "listings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_asset_id", sa.String(length=300), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("named_at", When(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listings")),
        sa.UniqueConstraint("source", "source_asset_id", name="uq_listings_source_key"),
    )
    # The newest symbol and name of every source id, ids in (source, source id) order.
    op.execute(
        """
INSERT INTO listings (source, source_asset_id, symbol, name, named_at)
SELECT source, source_asset_id, symbol, name, observed_at FROM (
    SELECT source, source_asset_id, symbol, name, observed_at,
           row_number() OVER (
               PARTITION BY source, source_asset_id ORDER BY observed_at DESC, id DESC
           ) AS newest
    FROM observations
) AS o WHERE newest = 1 ORDER BY source, source_asset_id"""
    )
    op.create_index("ix_listings_symbol_ci", "listings", [sa.text("lower(symbol)"), "id"])
    _set_aside(OLD_INDEXES, "uq_observations_source_key")
    op.create_table(
        "observations",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("asset_id", BigId, nullable=False),
        sa.Column("observed_at", When(), nullable=False),
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("ingested_at", When(), nullable=False),
        sa.Column("listing_id", sa.Integer(), nullable=False),
        sa.Column("market_cap_rank", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        *(sa.Column(c, Exact(), nullable=True) for c in DECIMALS + SUPPLIES),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_observations_asset_id_assets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
        *_unique_on_sqlite("uq_observations_listing_key", ["listing_id", "observed_at"]),
    )
    columns = (
        "id",
        "asset_id",
        "observed_at",
        "run_id",
        "ingested_at",
        "listing_id",
        "market_cap_rank",
        "source",
        *DECIMALS,
        *SUPPLIES,
    )
    picked = ", ".join("l.id" if c == "listing_id" else f"o.{c}" for c in columns)
    _finish(
        columns,
        f"{picked} FROM observations_old AS o JOIN listings AS l "
        "ON l.source = o.source AND l.source_asset_id = o.source_asset_id",
    )
    _indexes(
        "uq_observations_listing_key",
        ["listing_id", "observed_at"],
        [
            ("ix_observations_observed_id", ["observed_at", "id"]),
            ("ix_observations_asset_observed_id", ["asset_id", "observed_at", "id"]),
            ("ix_observations_source_observed", ["source", "observed_at"]),
        ],
    )
    if _postgresql():
        op.create_index(
            "ix_observations_run",
            "observations",
            ["run_id"],
            postgresql_using="brin",
            postgresql_with={"autosummarize": "on"},
        )
    else:
        op.create_index("ix_observations_run", "observations", ["run_id"])


def downgrade() -> None:
    _set_aside(NEW_INDEXES, "uq_observations_listing_key")
    op.create_table(
        "observations",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("asset_id", BigId, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_asset_id", sa.String(length=300), nullable=False),
        sa.Column("observed_at", When(), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        *(sa.Column(c, Exact(), nullable=True) for c in DECIMALS),
        sa.Column("market_cap_rank", sa.Integer(), nullable=True),
        *(sa.Column(c, Exact(), nullable=True) for c in SUPPLIES),
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("ingested_at", When(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_observations_asset_id_assets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
        *_unique_on_sqlite(
            "uq_observations_source_key", ["source", "source_asset_id", "observed_at"]
        ),
    )
    columns = (
        "id",
        "asset_id",
        "source",
        "source_asset_id",
        "observed_at",
        "symbol",
        "name",
        *DECIMALS,
        "market_cap_rank",
        *SUPPLIES,
        "run_id",
        "ingested_at",
    )
    from_listing = {"source_asset_id", "symbol", "name"}
    picked = ", ".join(f"l.{c}" if c in from_listing else f"o.{c}" for c in columns)
    _finish(
        columns, f"{picked} FROM observations_old AS o JOIN listings AS l ON l.id = o.listing_id"
    )
    _indexes(
        "uq_observations_source_key",
        ["source", "source_asset_id", "observed_at"],
        [
            ("ix_observations_asset_source_observed", ["asset_id", "source", "observed_at"]),
            ("ix_observations_observed_id", ["observed_at", "id"]),
            ("ix_observations_asset_observed_id", ["asset_id", "observed_at", "id"]),
            ("ix_observations_source_observed", ["source", "observed_at"]),
            ("ix_observations_run", ["run_id"]),
            ("ix_observations_symbol_ci", [sa.text("lower(symbol)"), "id"]),
        ],
    )
    op.drop_index("ix_listings_symbol_ci", table_name="listings")
    op.drop_table("listings")
