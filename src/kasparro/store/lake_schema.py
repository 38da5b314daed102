"""Tables of the Parquet lake's bookkeeping (kept apart from ``schema.py``, on the same
``metadata``): what ``kasparro export`` has written, so a crash never writes a row twice and
retention never drops what the lake does not hold (``kasparro.lake``)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table, Text

from kasparro.store.schema import BigId, metadata
from kasparro.store.types import UTCDateTime

# --- the Parquet lake (kasparro export) ------------------------------------------------------

# Per lake table: rows with ids up to ``exported_to_id`` are in the lake, their files durably
# renamed into place before this row said so. ``pending_to_id`` is the range an export has
# planned and not yet committed: a resumed export writes exactly that range again (the same
# file names, replaced), so a crash never leaves rows twice. ``location``: the lake they
# are in (an export elsewhere must start over, not skip what only the other lake holds).
lake_watermarks = Table(
    "lake_watermarks",
    metadata,
    Column("table_name", String(64), primary_key=True),
    Column("location", Text, nullable=False),
    Column("exported_to_id", BigId, nullable=False),
    Column("pending_to_id", BigId),
    Column("rows", BigId, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# What each (table, source, UTC day) partition of the lake holds, written with the watermark:
# "exported up to" for the retention of raw observations (a partition is dropped only once
# exported, see kasparro.lake.retention).
lake_partitions = Table(
    "lake_partitions",
    metadata,
    Column("table_name", String(64), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD (UTC)
    Column("rows", BigId, nullable=False),
    Column("files", Integer, nullable=False),
    Column("max_id", BigId, nullable=False),
    Column("exported_at", UTCDateTime(), nullable=False),
)
