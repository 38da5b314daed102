"""The canonical store, as SQLAlchemy Core tables (the single source for migrations).

Design notes
- ``assets.id`` is system-owned (an integer surrogate); ``assets.identity_key`` is the
  normalized match key (``symbol:name-slug`` or a curated/override key) that lets two sources
  resolve to one asset without per-row queries.
- ``asset_mappings`` records *how* each (source, source_asset_id) was mapped; mappings are
  sticky: once decided they never move silently.
- ``observations`` is unique on (listing_id, observed_at): re-ingesting the same upstream
  data is a no-op, counted as "unchanged". A listing is one (source, source_asset_id).
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
    and_,
    func,
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
    # Set when the asset was merged into another (identity re-linking): its id and key now
    # resolve to that asset, the API answers its id with a redirect. Always one hop.
    Column("alias_of", BigId, ForeignKey("assets.id")),
)

asset_mappings = Table(
    "asset_mappings",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("source_asset_id", String(300), primary_key=True),
    Column("asset_id", BigId, ForeignKey("assets.id"), nullable=False),
    # override | contract | symbol_name | market_cap_tiebreak | manual | new | ambiguous
    Column("method", String(32), nullable=False),
    Column("confidence", ExactDecimal()),
    Column("note", Text),
    Column("evidence", Text),  # JSON: what the link rests on (contracts, names, market caps)
    Column("source_symbol", String(64)),
    Column("source_name", String(300)),
    Column("decided_at", UTCDateTime(), nullable=False),
    Column("run_id", BigId),
    Index("ix_asset_mappings_asset", "asset_id"),
)

# One row per coin of a source, ever (never deleted): the strings an observation used to
# copy. ``id`` is INTEGER: 2**31 listings is five orders of magnitude past every source's
# coins together (~15k per API), and each observation and its unique key carry it.
listings = Table(
    "listings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("source_asset_id", String(300), nullable=False),
    # The symbol and name of the newest observation loaded (a rename updates them; an older
    # history point loaded later does not).
    Column("symbol", String(64), nullable=False),
    Column("name", String(300), nullable=False),
    Column("named_at", UTCDateTime(), nullable=False),  # observed_at they were read from
    # Serves the loader's per-batch upsert and every (source, source id) -> listing lookup.
    UniqueConstraint("source", "source_asset_id", name="uq_listings_source_key"),
)

# The narrow row (migration 0018): strings are referenced (``listing_id``), not copied. The
# columns are in PostgreSQL's storage order: fixed 8-byte, then 4-byte, then variable-length
# (no alignment padding between them).
observations = Table(
    "observations",
    metadata,
    # PostgreSQL: the primary key is (observed_at, id) (partitioned by month, 0017, 0019).
    Column("id", BigId, primary_key=True, autoincrement=True),
    # The canonical asset, denormalised from the listing's mapping for the history index;
    # identity relinks move it (by listing_id).
    Column("asset_id", BigId, ForeignKey("assets.id"), nullable=False),
    Column("observed_at", UTCDateTime(), nullable=False),
    Column("run_id", BigId, nullable=False),
    Column("ingested_at", UTCDateTime(), nullable=False),
    # No foreign key: listings are never deleted and the id comes from the loader's upsert in
    # the same transaction. A key would cost a check per inserted row, and a lock on
    # ``listings`` each time a monthly partition is attached or dropped (PostgreSQL).
    Column("listing_id", Integer, nullable=False),
    Column("market_cap_rank", Integer),
    # Kept (a short string, ~10 bytes) so that source filters need no join; a SMALLINT code
    # would save ~8 more bytes per row and index entry.
    Column("source", String(64), nullable=False),
    Column("price_usd", ExactDecimal()),
    Column("market_cap_usd", ExactDecimal()),
    Column("volume_24h_usd", ExactDecimal()),
    Column("change_24h_pct", ExactDecimal()),
    Column("circulating_supply", ExactDecimal()),
    Column("total_supply", ExactDecimal()),
    Column("max_supply", ExactDecimal()),
    # Serves the loader's idempotency (ON CONFLICT on this key; it includes observed_at, as
    # a unique index of a table partitioned by observed_at must), a relink's per-listing
    # moves, counts and newest row (identity.reconcile), sort=symbol (per listing, in the
    # order of ix_listings_symbol_ci, query.observations), and on PostgreSQL an asset's
    # history, candles and rollup rebuilds (each of its listings' range, store.asset_rows).
    UniqueConstraint("listing_id", "observed_at", name="uq_observations_listing_key"),
    # Serves /data default order (observed_at desc, id desc) and since/until keyset paging.
    # SQLite only: on PostgreSQL the primary key is (observed_at, id) and serves them
    # (migration 0019; a partitioned table's key must include observed_at).
    Index("ix_observations_observed_id", "observed_at", "id", info={"dialects": ("sqlite",)}),
    # SQLite only: serves asset history (one asset, every source, by observed_at then id): a
    # range scan in page order, whatever the length of the asset's history (migration 0003);
    # with a source filter too, and several assets' rows (candles, rollup rebuilds). On
    # PostgreSQL (0020) those read each of the asset's listings' range of
    # uq_observations_listing_key instead (store.asset_rows): this index cost 62 bytes a row.
    Index(
        "ix_observations_asset_observed_id",
        "asset_id",
        "observed_at",
        "id",
        info={"dialects": ("sqlite",)},
    ),
    # Serves /data?source=x (and since/until) in page order (query.observations).
    Index("ix_observations_source_observed", "source", "observed_at"),
    # PostgreSQL only (SQLite's id is the rowid): serves what asks for ids alone, the lake's
    # export ranges and newest id and retention's "anything past the watermark?" (lake.
    # repository, store.partitions). Ids grow with every insert, so a month's rows lie in
    # id order and a BRIN finds a range for a few bytes per 128 pages (migration 0019).
    Index(
        "ix_observations_id",
        "id",
        postgresql_using="brin",
        postgresql_with={"autosummarize": "on"},
        info={"dialects": ("postgresql",)},
    ),
    # Serves the assets a run loaded (query.runs.run_asset_prices: the run's alerts). Rows
    # arrive in run order, so on PostgreSQL a BRIN (a few bytes per 128 pages) finds a run's
    # pages; SQLite has no BRIN and keeps the btree.
    Index(
        "ix_observations_run",
        "run_id",
        postgresql_using="brin",
        postgresql_with={"autosummarize": "on"},
    ),
)

# sort=symbol on /data and /assets orders by the symbol ignoring case, then id: these keep
# that order a range scan (migration 0010; /data reads it through the listing, 0018).
Index("ix_listings_symbol_ci", func.lower(listings.c.symbol), listings.c.id)
Index("ix_assets_symbol_ci", func.lower(assets.c.symbol), assets.c.id)

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

# The latest pointer's observation, by id AND observed_at (the pointer keeps a copy, written
# with the id): on PostgreSQL observations are partitioned by month (migration 0017), and the
# time lets each lookup probe one partition's primary key (observed_at, id) instead of all.
LATEST_ROW = and_(
    observations.c.id == latest_observations.c.observation_id,
    observations.c.observed_at == latest_observations.c.observed_at,
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

# --- history backfill --------------------------------------------------------------------------

# How far back (and forward) each source id's history has been fetched, per interval,
# committed with the observations it covers: a backfill resumes from here after any crash,
# and a second identical backfill fetches nothing. The range is what was asked and
# answered, gaps in the upstream's data included.
backfill_watermarks = Table(
    "backfill_watermarks",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("source_asset_id", String(300), primary_key=True),
    Column("interval", String(8), primary_key=True),  # 5m | 1h | 1d
    Column("covered_from", UTCDateTime(), nullable=False),
    Column("covered_to", UTCDateTime(), nullable=False),
    Column("run_id", BigId),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# --- facts about the store itself ----------------------------------------------------------

# One row per fact about the data as a whole, e.g. ``data_mode``: present when the database
# holds emulated data (written by ``kasparro demo``), so whichever process serves the file
# later (``kasparro serve`` included) labels it as a demo.
store_metadata = Table(
    "store_metadata",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("updated_at", UTCDateTime(), nullable=False),
)

# The identity's, the lake's, the venues', the reference rate's and the rollups' tables live
# in their own modules on this metadata (imported last: they need ``metadata`` and ``BigId``
# from here).
from kasparro.store import identity_schema as _identity_schema  # noqa: E402, F401
from kasparro.store import lake_schema as _lake_schema  # noqa: E402, F401
from kasparro.store import rate_schema as _rate_schema  # noqa: E402, F401
from kasparro.store import rollup_schema as _rollup_schema  # noqa: E402, F401
from kasparro.store import venue_schema as _venue_schema  # noqa: E402, F401
