"""Tables of the reference rate (kept apart from ``schema.py``, on the same ``metadata``).

- ``rates``: one value per asset, interval (``1m`` | ``1h``), bucket and methodology version,
  with its confidence band, how many inputs were included, whether it is a fallback (the
  aggregators had to help) and a stablecoin's depeg flag. Old versions' rows are kept.
- ``rate_inputs``: every input of a value, included or excluded with the reason: source,
  market, price in its quote currency, the conversion used, USD prices, volume, weight and
  the deviation from the preliminary median; the value follows from the included ones alone.

See ``docs/reference-rate.md``.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table

from kasparro.store.schema import BigId, metadata
from kasparro.store.types import ExactDecimal, UTCDateTime
from kasparro.store.venue_schema import venue_quotes

rates = Table(
    "rates",
    metadata,
    Column("asset_id", BigId, primary_key=True),
    Column("interval", String(4), primary_key=True),
    Column("method_version", String(16), primary_key=True),
    Column("bucket_start", UTCDateTime(), primary_key=True),
    Column("value", ExactDecimal(), nullable=False),
    Column("low", ExactDecimal(), nullable=False),
    Column("high", ExactDecimal(), nullable=False),
    Column("n_inputs", Integer, nullable=False),
    Column("n_partitions", Integer, nullable=False),
    Column("fallback", Boolean, nullable=False),
    Column("depeg", Boolean, nullable=False),
    Column("computed_at", UTCDateTime(), nullable=False),
    # Serves every asset's latest bucket (divergences, the dashboard's top assets).
    Index("ix_rates_interval_version_bucket", "interval", "method_version", "bucket_start"),
)

rate_inputs = Table(
    "rate_inputs",
    metadata,
    Column("asset_id", BigId, primary_key=True),
    Column("interval", String(4), primary_key=True),
    Column("method_version", String(16), primary_key=True),
    Column("bucket_start", UTCDateTime(), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("market", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),  # venue | cross | aggregator
    Column("quote", String(64), nullable=False),
    Column("price", ExactDecimal(), nullable=False),
    Column("quote_usd", ExactDecimal()),
    Column("conversion", String(64), nullable=False),
    Column("price_usd", ExactDecimal()),
    Column("bid_usd", ExactDecimal()),
    Column("ask_usd", ExactDecimal()),
    Column("volume_usd", ExactDecimal()),
    Column("observed_at", UTCDateTime(), nullable=False),
    Column("weight", ExactDecimal(), nullable=False),
    Column("included", Boolean, nullable=False),
    Column("reason", String(32)),
    Column("deviation", ExactDecimal()),
)

# A rate bucket reads the venue quotes by the time they were observed (the venue's clock).
Index("ix_venue_quotes_observed", venue_quotes.c.observed_at)
# ... and the span of one run's data (the buckets to compute after it).
Index("ix_venue_quotes_run", venue_quotes.c.run_id)
