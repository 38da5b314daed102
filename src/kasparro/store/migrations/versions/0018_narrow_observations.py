"""narrow observation row: listings referenced, not copied

Revision ID: 0018
Revises: 0017
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

On PostgreSQL the new table is partitioned as the old one was (migration 0017: the same
monthly partitions and bounds, the primary key ``(id, observed_at)``) and keeps the id
sequence. This reads the catalogue: run it online (``kasparro migrate``), as 0017. The
rewrite holds the table's lock for its length (about a minute per 10M rows here): run
``kasparro migrate`` with the ETL stopped on a big store. Downgrading restores the wide
table; an old row then carries its listing's newest symbol and name, not the ones it was
loaded with (those are not kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import kasparro.store.types

revision = "0018"
down_revision = "0017"
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
    if op.get_context().dialect.name != "postgresql":
        return False
    if op.get_context().as_sql:
        raise RuntimeError("migration 0018 reads the catalogue: run it online (kasparro migrate)")
    return True


def _set_aside(indexes: Sequence[str]) -> list[tuple[str, str]]:
    """Rename ``observations`` to ``observations_old``, dropping or renaming whatever would
    collide with the new table's names (index names are global on both databases; on
    PostgreSQL constraint and partition names are too); returns its partitions."""
    for name in indexes:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("ALTER TABLE observations RENAME TO observations_old")
    if not _postgresql():
        return []
    parts = _partitions_of("observations_old")
    for name, _ in parts:
        op.execute(f'ALTER TABLE "{name}" RENAME TO "{name}_old"')
    # The old table is only read from now on: its keys can go (their names are wanted).
    op.execute(
        "DO $$ DECLARE c record; BEGIN FOR c IN SELECT conname FROM pg_constraint"
        " WHERE conrelid = 'observations_old'::regclass ORDER BY contype = 'f' DESC LOOP"
        " EXECUTE format('ALTER TABLE observations_old DROP CONSTRAINT %I', c.conname);"
        " END LOOP; END $$"
    )
    # The id sequence outlives the old table: the new one takes it over.
    op.execute("ALTER SEQUENCE observations_id_seq OWNED BY NONE")
    return parts


def _partitions_of(table: str) -> list[tuple[str, str]]:
    rows = op.get_bind().execute(
        sa.text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(:t) ORDER BY c.relname"
        ),
        {"t": table},
    )
    return [(name, bound) for name, bound in rows]


def _create(
    columns: list[sa.Column[object]], parts: list[tuple[str, str]], unique: str, key: list[str]
) -> None:
    """The new ``observations``: on PostgreSQL with the old id sequence, partitioned as the
    old one was (its keys come after the copy, :func:`_keys`); on SQLite with its keys (it
    cannot add them to a table later)."""
    if _postgresql():
        seq = sa.text("nextval('observations_id_seq'::regclass)")
        op.create_table(
            "observations",
            sa.Column("id", sa.BigInteger(), server_default=seq, nullable=False),
            *columns,
            **_partitioned_by(parts),
        )
        op.execute("ALTER SEQUENCE observations_id_seq OWNED BY observations.id")
        for name, bound in parts:
            op.execute(f'CREATE TABLE "{name}" PARTITION OF observations {bound}')
        return
    op.create_table(
        "observations",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        *columns,
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_observations_asset_id_assets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
        sa.UniqueConstraint(*key, name=unique),
    )


def _partitioned_by(parts: list[tuple[str, str]]) -> dict[str, Any]:
    return {"postgresql_partition_by": "RANGE (observed_at)"} if parts else {}


def _finish(columns: Sequence[str], select_from: str) -> None:
    cols = ", ".join(columns)
    op.execute(f"INSERT INTO observations ({cols}) SELECT {select_from}")
    op.execute("DROP TABLE observations_old")
    if _postgresql():
        # Never behind the copied ids (rows given explicit ids did not advance it).
        op.execute(
            "SELECT setval('observations_id_seq', GREATEST(1,"
            " (SELECT last_value FROM observations_id_seq),"
            " (SELECT max(id) FROM observations)))"
        )


def _keys(parts: list[tuple[str, str]], unique: str, key: list[str]) -> None:
    """PostgreSQL: the keys, after the copy (one sorted build each, not row-by-row). A
    partitioned table's unique keys include the partition key (observed_at)."""
    if not _postgresql():
        return
    op.create_primary_key(
        "pk_observations", "observations", ["id", "observed_at"] if parts else ["id"]
    )
    op.create_unique_constraint(unique, "observations", key)
    op.create_foreign_key(
        "fk_observations_asset_id_assets", "observations", "assets", ["asset_id"], ["id"]
    )


def _indexes(
    parts: list[tuple[str, str]],
    unique: str,
    key: list[str],
    indexes: Sequence[tuple[str, list[str | sa.TextClause]]],
) -> None:
    """The keys (:func:`_keys`) and indexes, built after the copy."""
    _keys(parts, unique, key)
    for name, columns in indexes:
        op.create_index(name, "observations", columns)


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
    parts = _set_aside(OLD_INDEXES)
    key = ["listing_id", "observed_at"]
    _create(
        [
            sa.Column("asset_id", BigId, nullable=False),
            sa.Column("observed_at", When(), nullable=False),
            sa.Column("run_id", BigId, nullable=False),
            sa.Column("ingested_at", When(), nullable=False),
            sa.Column("listing_id", sa.Integer(), nullable=False),
            sa.Column("market_cap_rank", sa.Integer(), nullable=True),
            sa.Column("source", sa.String(length=64), nullable=False),
            *(sa.Column(c, Exact(), nullable=True) for c in DECIMALS + SUPPLIES),
        ],
        parts,
        "uq_observations_listing_key",
        key,
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
        parts,
        "uq_observations_listing_key",
        key,
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
    parts = _set_aside(NEW_INDEXES)
    key = ["source", "source_asset_id", "observed_at"]
    _create(
        [
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
        ],
        parts,
        "uq_observations_source_key",
        key,
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
        parts,
        "uq_observations_source_key",
        key,
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
