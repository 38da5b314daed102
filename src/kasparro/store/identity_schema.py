"""Tables of reference data and identity linking (kept apart from ``schema.py``, on the
same ``metadata``): each API's coin list, contracts and platforms, coin details, the links
of every source's coins to canonical assets, the review queue, relinks, anomalies and the
assets' history of merges."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from kasparro.store.schema import BigId, metadata
from kasparro.store.types import ExactDecimal, UTCDateTime

# --- reference data and identity linking ----------------------------------------------------
# Each API's coin list and contracts, as last fetched by its reference source; each scope (a
# coin list, one platform's contracts) is a complete snapshot, replaced when it is re-read.

reference_coins = Table(
    "reference_coins",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("source_asset_id", String(300), primary_key=True),
    Column("symbol", String(64), nullable=False),
    Column("name", String(300), nullable=False),
    Column("kind", String(16)),  # coin | token
    Column("rank", Integer),
    Column("active", Boolean),
    Column("issues", Text),  # JSON list: bad contract data kept out of linking
    Column("raw_id", BigId, nullable=False),  # the payload that last listed the coin
    Column("updated_at", UTCDateTime(), nullable=False),
)

reference_contracts = Table(
    "reference_contracts",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("platform", String(100), primary_key=True),  # the API's own platform id
    Column("address", String(200), primary_key=True),  # normalized (chains.normalize_address)
    Column("source_asset_id", String(300), primary_key=True),
    Column("scope", String(120), nullable=False),  # "coins" or "contracts:<platform>"
    Column("chain", String(32)),  # canonical chain; NULL: an unknown chain (never linked)
    Column("spelled", String(200), nullable=False),  # as the API sent it
    Column("raw_id", BigId, nullable=False),
    Index("ix_reference_contracts_coin", "source", "source_asset_id"),
    Index("ix_reference_contracts_scope", "source", "scope"),
)

reference_platforms = Table(
    "reference_platforms",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("platform", String(100), primary_key=True),
    Column("chain", String(32)),  # NULL: no mapping, its contracts are not fetched
    Column("raw_id", BigId, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Per-coin detail (identity.detail): the homepage and explorer links of a coin's own page
# (CoinGecko /coins/{id}, CoinPaprika /v1/coins/{id}), fetched only for the coins of pairs
# the last relink left undecided. A row with ``fetched_at`` NULL is wanted, not fetched yet;
# ``wanted_rank`` orders the wanted (best pair first; NULL: not wanted by the last relink).
coin_details = Table(
    "coin_details",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("source_asset_id", String(300), primary_key=True),
    Column("wanted_rank", Integer),
    Column("wanted_at", UTCDateTime()),
    Column("homepages", Text),  # JSON list of URLs
    Column("explorers", Text),  # JSON list of URLs
    Column("fetched_at", UTCDateTime()),
    Column("raw_id", BigId),  # the payload it was read from (raw_responses)
    Index("ix_coin_details_wanted", "source", "wanted_rank"),
)

# The decided identity of every listed coin of any source (identity.linking), rewritten by
# each relink: loading a new coin takes its identity key from here.
identity_links = Table(
    "identity_links",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("source_asset_id", String(300), primary_key=True),
    Column("identity_key", String(300), nullable=False),
    Column("method", String(32), nullable=False),
    Column("confidence", ExactDecimal()),
    Column("score", Float),  # the weighed evidence of the pairing that joined it
    Column("partners", Text),  # JSON [[source, id], ...]: its asset's other coins
    Column("evidence", Text),  # JSON
    Column("relink_id", BigId, nullable=False),
    Column("decided_at", UTCDateTime(), nullable=False),
)

# Pairings for a human: proposed by the linker (pending) or decided (accepted/rejected,
# sticky: they override automatic decisions). A pending pairing the linker no longer
# proposes becomes obsolete.
identity_review = Table(
    "identity_review",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # The two coins, in order: (a_source, a_id) < (b_source, b_id).
    Column("a_source", String(64), nullable=False),
    Column("a_id", String(300), nullable=False),
    Column("b_source", String(64), nullable=False),
    Column("b_id", String(300), nullable=False),
    Column("status", String(16), nullable=False),  # pending | accepted | rejected | obsolete
    Column("reason", String(64), nullable=False),
    Column("score", Float),
    Column("evidence", Text),  # JSON {"for": [...], "against": [...]}
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime()),
    Column("decided_by", String(200)),
    Column("note", Text),
    UniqueConstraint("a_source", "a_id", "b_source", "b_id", name="uq_identity_review_pair"),
    Index("ix_identity_review_status", "status"),
)

# One row per relink: when, why, and what it found and changed (JSON stats).
identity_relinks = Table(
    "identity_relinks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("trigger", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # running | success | skipped | failed
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("stats", Text),
    Column("error", Text),
)

# Bad reference data found by the last relink (a contract listed for two coins, empty
# addresses, unknown chains, conflicting manual decisions): counted and visible.
identity_anomalies = Table(
    "identity_anomalies",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("relink_id", BigId, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("source", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("ids", Text),  # JSON list
    Index("ix_identity_anomalies_kind", "kind"),
)

# What re-linking did to assets: a source id moved between assets (with its observations),
# an asset merged into another (its id now an alias). Never rewritten.
asset_events = Table(
    "asset_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("kind", String(16), nullable=False),  # move | merge | revive
    Column("asset_id", BigId, nullable=False),  # where it went (the surviving asset)
    Column("from_asset_id", BigId),
    Column("source", String(64)),
    Column("source_asset_id", String(300)),
    Column("method", String(32)),
    Column("evidence", Text),
    Column("observations", Integer),  # observations that moved with it
    Column("relink_id", BigId),
    Index("ix_asset_events_asset", "asset_id"),
    Index("ix_asset_events_from", "from_asset_id"),
)
