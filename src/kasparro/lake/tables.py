"""What the lake holds: one declaration per table.

Two kinds:

- :class:`AppendTable`: rows that are only ever added, each with an id that grows with
  every insert (``observations``). Exported incrementally: each export writes the rows with
  ids past the table's watermark, one file per (UTC day, source) partition they fall in.
- :class:`SnapshotTable`: a small table rewritten whole by each export (``assets``,
  ``asset_mappings``: the current identity of every source's coin, for joins).

Adding a table (the rollups and reference rates of issue 19, once they exist) is one more
entry in :data:`TABLES`: its SQLAlchemy table, the columns to export and, for each exact
decimal column, its ``decimal128`` scale (see ``arrow.DECIMAL_PRECISION``). An append table
needs an id column assigned at insert, a timestamp and a source column; a table whose rows
change after insert (a rollup's open bucket) is not append-only: declare it as a snapshot,
or give it such an id (a revision sequence) first.

Decimal scales. Every column's precision is 38 (the widest decimal128, the widest DuckDB
reads as a decimal), and its scale leaves room for the largest value the normalizers accept
(``normalize/common.py``): price <= 1e9 (10 integer digits: scale 28), market cap and volume
<= 1e16 (17: scale 21), 24 h change within +-1e18 (19: scale 19), supplies <= 1e30 (31:
scale 7). No decimal128 holds every value the store accepts: it takes up to 80 characters
of digits, and nonzero values down to 1e-30. A value with more fractional digits than its
column's scale (about 1.4 % of real supplies, no price, cap or volume of the recorded
payloads) is written exactly in the ``overflow`` column instead (see ``arrow``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table

from kasparro.store.schema import asset_mappings, assets, listings, observations


@dataclass(frozen=True)
class AppendTable:
    name: str
    table: Table
    columns: tuple[str, ...]  # exported columns (the partition columns are in the path)
    decimals: dict[str, int] = field(default_factory=dict)  # exact column -> scale
    order: tuple[str, ...] = ()  # row order within a file: compression and range reads
    id: str = "id"
    time: str = "observed_at"
    source: str = "source"
    # Exported columns another table holds (name -> its column), and the join reaching it:
    # an observation references its listing, its file carries the listing's strings.
    looked_up: dict[str, Any] = field(default_factory=dict)
    joined: Any = None

    def column(self, name: str) -> Any:
        return self.looked_up[name] if name in self.looked_up else self.table.c[name]

    def from_clause(self) -> Any:
        return self.table if self.joined is None else self.joined


@dataclass(frozen=True)
class SnapshotTable:
    name: str
    table: Table
    columns: tuple[str, ...]
    decimals: dict[str, int] = field(default_factory=dict)
    order: tuple[str, ...] = ()

    def column(self, name: str) -> Any:
        return self.table.c[name]

    def from_clause(self) -> Any:
        return self.table


LakeTable = AppendTable | SnapshotTable

MARKET_DECIMALS = {
    "price_usd": 28,
    "market_cap_usd": 21,
    "volume_24h_usd": 21,
    "change_24h_pct": 19,
    "circulating_supply": 7,
    "total_supply": 7,
    "max_supply": 7,
}

TABLES: tuple[LakeTable, ...] = (
    AppendTable(
        "observations",
        observations,
        columns=(
            "id",
            "asset_id",
            "source_asset_id",
            "observed_at",
            "symbol",
            "name",
            *MARKET_DECIMALS,
            "market_cap_rank",
            "run_id",
            "ingested_at",
        ),
        decimals=MARKET_DECIMALS,
        # One asset's points together, in time order: consecutive values are close, which
        # is what zstd and the dictionary encodings compress best.
        order=("asset_id", "source_asset_id", "observed_at", "id"),
        looked_up={c: listings.c[c] for c in ("source_asset_id", "symbol", "name")},
        joined=observations.join(listings, listings.c.id == observations.c.listing_id),
    ),
    SnapshotTable(
        "assets",
        assets,
        columns=("id", "identity_key", "symbol", "name", "created_at", "alias_of"),
        order=("id",),
    ),
    SnapshotTable(
        "asset_mappings",
        asset_mappings,
        columns=(
            "source",
            "source_asset_id",
            "asset_id",
            "method",
            "confidence",
            "source_symbol",
            "source_name",
            "decided_at",
        ),
        decimals={"confidence": 28},
        order=("source", "source_asset_id"),
    ),
)


def table_named(name: str) -> LakeTable:
    for t in TABLES:
        if t.name == name:
            return t
    raise KeyError(name)
