"""The canonical store, as SQLAlchemy Core tables (the single source for migrations).

Design notes
- ``assets.id`` is system-owned (an integer surrogate); ``assets.identity_key`` is the
  normalized match key (``symbol:name-slug`` or a curated/override key) that lets two sources
  resolve to one asset without per-row queries.
- ``asset_mappings`` records *how* each (source, source_asset_id) was mapped; mappings are
  sticky: once decided they never move silently.
- ``observations`` is unique on (source, source_asset_id, observed_at): re-ingesting the same
  upstream data is a no-op, counted as "unchanged".
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from kasparro.store.types import ExactDecimal, UTCDateTime

# BIGINT on PostgreSQL, INTEGER on SQLite (SQLite only autoincrements an INTEGER PRIMARY KEY).
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

runs = Table(
    "runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("trigger", String(16), nullable=False),  # cli | schedule | api
    # running | success | partial | failed | crashed
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("heartbeat_at", UTCDateTime()),
    Column("owner", String(200)),  # host:pid:token of the process executing the run
    Column("resumed_from_run_id", BigId),
    Column("start_page", Integer, nullable=False, default=1),
    Column("pages", Integer, nullable=False, default=0),
    Column("fetched", Integer, nullable=False, default=0),
    Column("loaded", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("error", Text),
    Index("ix_runs_source_started", "source", "started_at"),
    Index("ix_runs_status", "status"),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("state", Text, nullable=False),  # JSON, source-specific cursor
    Column("run_id", BigId),
    Column("updated_at", UTCDateTime(), nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(200)),
    Column("acquired_at", UTCDateTime()),
    Column("expires_at", UTCDateTime()),
)

raw_responses = Table(
    "raw_responses",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", BigId, nullable=False),
    Column("source", String(64), nullable=False),
    Column("endpoint", String(300), nullable=False),
    Column("params", Text, nullable=False),  # JSON
    Column("page", Integer),
    Column("fetched_at", UTCDateTime(), nullable=False),
    Column("http_status", Integer),
    Column("content_type", String(200)),
    Column("body_encoding", String(16), nullable=False),  # "zlib" or "identity"
    Column("body", LargeBinary, nullable=False),
    # sha256 of the request and body, set once every item of the payload was loaded or found
    # unchanged with no rejection: an identical payload later needs no normalizing or loading.
    Column("fingerprint", String(64)),
    Index("ix_raw_responses_fetched_at", "fetched_at"),
    Index("ix_raw_responses_run", "run_id"),
)

assets = Table(
    "assets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("identity_key", String(300), nullable=False, unique=True),
    Column("symbol", String(64), nullable=False),
    Column("name", String(300), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_assets_symbol", "symbol"),
)

asset_mappings = Table(
    "asset_mappings",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("source_asset_id", String(300), primary_key=True),
    Column("asset_id", BigId, ForeignKey("assets.id"), nullable=False),
    # override | symbol_name | new | ambiguous
    Column("method", String(32), nullable=False),
    Column("confidence", ExactDecimal()),
    Column("note", Text),
    Column("source_symbol", String(64)),
    Column("source_name", String(300)),
    Column("decided_at", UTCDateTime(), nullable=False),
    Column("run_id", BigId),
    Index("ix_asset_mappings_asset", "asset_id"),
)

observations = Table(
    "observations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("asset_id", BigId, ForeignKey("assets.id"), nullable=False),
    Column("source", String(64), nullable=False),
    Column("source_asset_id", String(300), nullable=False),
    Column("observed_at", UTCDateTime(), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("name", String(300), nullable=False),
    Column("price_usd", ExactDecimal()),
    Column("market_cap_usd", ExactDecimal()),
    Column("volume_24h_usd", ExactDecimal()),
    Column("change_24h_pct", ExactDecimal()),
    Column("market_cap_rank", Integer),
    Column("circulating_supply", ExactDecimal()),
    Column("total_supply", ExactDecimal()),
    Column("max_supply", ExactDecimal()),
    Column("run_id", BigId, nullable=False),
    Column("ingested_at", UTCDateTime(), nullable=False),
    UniqueConstraint("source", "source_asset_id", "observed_at", name="uq_observations_source_key"),
    # Serves /data default order (observed_at desc, id desc) and since/until keyset paging.
    Index("ix_observations_observed_id", "observed_at", "id"),
    # Serves per-asset-and-source lookups (several asset ids, asset + source filters).
    Index("ix_observations_asset_source_observed", "asset_id", "source", "observed_at"),
    # Serves asset history (one asset, every source, by observed_at then id): a range scan in
    # page order, whatever the length of the asset's history (migration 0003).
    Index("ix_observations_asset_observed_id", "asset_id", "observed_at", "id"),
    Index("ix_observations_source_observed", "source", "observed_at"),
    Index("ix_observations_symbol", "symbol"),
    Index("ix_observations_run", "run_id"),
)

# Latest observation per (asset, source): maintained by the loader in the same transaction
# as the batch, so `latest=true` is an index scan, not a GROUP BY over history.
latest_observations = Table(
    "latest_observations",
    metadata,
    Column("asset_id", BigId, primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("observation_id", BigId, nullable=False),
    Column("observed_at", UTCDateTime(), nullable=False),
    Index("ix_latest_observations_observation", "observation_id"),
    # Serves latest=true in the default order (observed_at desc, then id) as an index scan.
    Index("ix_latest_observations_observed", "observed_at", "observation_id"),
    # The same for one source (latest=true&source=x), in page order (migration 0005).
    Index("ix_latest_observations_source_observed", "source", "observed_at", "observation_id"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # sha256 of the raw record
    Column("source_asset_id", String(300)),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("first_run_id", BigId, nullable=False),
    Column("last_run_id", BigId, nullable=False),
    Column("seen_count", Integer, nullable=False, default=1),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    UniqueConstraint("source", "fingerprint", name="uq_quarantine_source_fingerprint"),
    Index("ix_quarantine_last_run", "last_run_id"),
)

drift_events = Table(
    "drift_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("endpoint", String(300), nullable=False),
    Column("field", String(300), nullable=False),
    # missing | unexpected | type_changed
    Column("kind", String(32), nullable=False),
    Column("expected", String(200)),
    Column("observed", String(200)),
    Column("suggestion", String(300)),  # likely renamed-to field
    Column("confidence", ExactDecimal()),
    Column("sample", Text),
    Column("count", BigId, nullable=False, default=1),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("last_run_id", BigId),
    UniqueConstraint("source", "endpoint", "field", "kind", name="uq_drift_events_key"),
)

scheduler_state = Table(
    "scheduler_state",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("next_run_at", UTCDateTime()),
    Column("last_tick_at", UTCDateTime()),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("heartbeat_at", UTCDateTime()),
    Column("owner", String(200)),
)
