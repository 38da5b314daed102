"""Tables of the exchange venues (kept apart from ``schema.py``, on the same ``metadata``).

- ``venue_markets``: each venue's market list (reference data): ids, base and quote as the
  venue spells them and as ccxt unifies them, active, listed in the latest snapshot, the
  market it aliases, and ccxt's whole market structure (``unified``, JSON) that later runs
  read tickers with.
- ``venue_quotes``: every ticker loaded, in its quote currency, exact decimals; unique on
  ``(venue, market_id, observed_at)`` (the record contract: the venue's timestamp, else the
  fetch time), with the fetch time and the run.
- ``venue_latest_quotes``: per market the newest quote and ``changed_at``, since when its
  values (last, bid, ask, volume) have not moved: a venue's staleness, measurable also for
  venues that send no timestamp.
- ``venue_market_links``: a venue's base currency linked to a canonical asset, or held for
  review, with the method and the evidence (``kasparro.venues.linking``); kept apart from
  the identity tables until the N-source identity store takes them over.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, String, Table, Text, UniqueConstraint

from kasparro.store.schema import BigId, metadata
from kasparro.store.types import ExactDecimal, UTCDateTime

venue_markets = Table(
    "venue_markets",
    metadata,
    Column("venue", String(64), primary_key=True),
    Column("market_id", String(100), primary_key=True),
    Column("symbol", String(100), nullable=False),
    Column("base", String(64), nullable=False),
    Column("quote", String(64), nullable=False),
    Column("base_id", String(64), nullable=False),
    Column("quote_id", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("listed", Boolean, nullable=False),  # in the venue's latest market list
    Column("alias", String(100)),
    Column("unified", Text, nullable=False),  # ccxt's market structure, JSON
    Column("raw_id", BigId),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

venue_quotes = Table(
    "venue_quotes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("venue", String(64), nullable=False),
    Column("market_id", String(100), nullable=False),
    Column("symbol", String(100), nullable=False),
    Column("base", String(64), nullable=False),
    Column("quote", String(64), nullable=False),
    Column("base_id", String(64), nullable=False),
    Column("quote_id", String(64), nullable=False),
    Column("observed_at", UTCDateTime(), nullable=False),
    Column("venue_time", Boolean, nullable=False),
    Column("fetched_at", UTCDateTime(), nullable=False),
    Column("last", ExactDecimal(), nullable=False),
    Column("bid", ExactDecimal()),
    Column("ask", ExactDecimal()),
    Column("base_volume", ExactDecimal()),
    Column("quote_volume", ExactDecimal()),
    Column("run_id", BigId, nullable=False),
    UniqueConstraint("venue", "market_id", "observed_at"),
    Index("ix_venue_quotes_base_observed", "base", "observed_at"),
    Index("ix_venue_quotes_venue_fetched", "venue", "fetched_at"),
)

venue_latest_quotes = Table(
    "venue_latest_quotes",
    metadata,
    Column("venue", String(64), primary_key=True),
    Column("market_id", String(100), primary_key=True),
    Column("quote_id", BigId, nullable=False),
    Column("observed_at", UTCDateTime(), nullable=False),
    Column("fetched_at", UTCDateTime(), nullable=False),
    Column("changed_at", UTCDateTime(), nullable=False),
    Column("signature", Text, nullable=False),  # last|bid|ask|base_volume, exact text
)

venue_market_links = Table(
    "venue_market_links",
    metadata,
    Column("venue", String(64), primary_key=True),
    Column("base_id", String(64), primary_key=True),
    Column("base", String(64), nullable=False),
    Column("asset_id", BigId),
    Column("status", String(16), nullable=False),  # linked | review
    Column("method", String(32), nullable=False),
    Column("evidence", Text, nullable=False),  # JSON
    Column("updated_at", UTCDateTime(), nullable=False),
)
