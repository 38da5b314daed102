"""Rollups of observations: OHLC per (asset, source, bucket) for 1 h and 1 d buckets.

Maintained by the loader in the same transaction (and, on PostgreSQL, the same statement)
as the observations they summarise (``kasparro.load.rollups``), so ``/history?interval=1h``
and ``1d`` read one row per bucket instead of every observation in it, at any table size;
and kept when raw observations are retired (retention keeps rollups longer).

Only priced observations count (as in the candles computed from raw rows). ``open`` is
the price of the earliest observation by ``(observed_at, id)``, ``close`` of the latest,
whatever order they arrived in; ``market_cap_usd`` and ``volume_24h_usd`` are the close's.
``open_at``/``open_id`` and ``close_at``/``close_id`` are kept so a late or out-of-order
observation can be compared with them in the upsert.

The primary key ``(asset_id, bucket_seconds, bucket, source)`` is the only index: it serves
the candle range scan (one asset, one interval, buckets in order, then source), the edge
probes (min/max bucket in a range) and the loader's ``ON CONFLICT``.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import BigInteger, Column, Integer, String, Table

from kasparro.store.schema import BigId, metadata
from kasparro.store.types import ExactDecimal, UTCDateTime

# The rolled-up intervals (seconds); coarser ones are served from raw rows.
ROLLUP_SECONDS: Final[tuple[int, ...]] = (3_600, 86_400)

observation_rollups = Table(
    "observation_rollups",
    metadata,
    Column("asset_id", BigId, primary_key=True),
    Column("bucket_seconds", Integer, primary_key=True),  # 3600 | 86400
    Column("bucket", BigInteger, primary_key=True),  # epoch seconds of the bucket's start
    Column("source", String(64), primary_key=True),
    Column("open_price", ExactDecimal(), nullable=False),
    Column("open_at", UTCDateTime(), nullable=False),
    Column("open_id", BigId, nullable=False),
    Column("high_price", ExactDecimal(), nullable=False),
    Column("low_price", ExactDecimal(), nullable=False),
    Column("close_price", ExactDecimal(), nullable=False),
    Column("close_at", UTCDateTime(), nullable=False),
    Column("close_id", BigId, nullable=False),
    Column("market_cap_usd", ExactDecimal()),
    Column("volume_24h_usd", ExactDecimal()),
    Column("observations", BigInteger, nullable=False),
)

# ``store_metadata`` key: raw observations before this instant were retired (retention);
# only the rollups (and the lake) hold that time in full.
RETIRED_KEY: Final = "observations_retired_before"
