"""Reading the lake back, with pyarrow and with DuckDB."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.dataset as ds
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.lake.tables import MARKET_DECIMALS
from kasparro.store.schema import listings, observations


def lake_rows(root: Path) -> list[dict[str, Any]]:
    """Every observation in the lake (pyarrow), the Hive partition columns included."""
    data = ds.dataset(root / "observations", format="parquet", partitioning="hive")
    return sorted(data.to_table().to_pylist(), key=lambda r: r["id"])


def exact(row: dict[str, Any], column: str) -> Decimal | None:
    """A decimal column's exact value: the decimal, or its text in ``overflow``."""
    import orjson

    if row[column] is not None:
        return Decimal(row[column])
    extra = orjson.loads(row["overflow"]) if row.get("overflow") else {}
    return Decimal(extra[column]) if column in extra else None


def duck_values(root: Path, column: str) -> dict[int, Decimal | None]:
    """id -> the column's exact value as DuckDB reads it (the README's expression)."""
    sql = (
        f"SELECT id, coalesce(CAST({column} AS VARCHAR), overflow->>'{column}') "
        f"FROM read_parquet('{root}/observations/*/*/*.parquet', hive_partitioning=true)"
    )
    with duckdb.connect() as con:
        return {i: None if v is None else Decimal(v) for i, v in con.sql(sql).fetchall()}


async def store_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        # The row as the lake files it: with its listing's strings.
        li = listings.c
        rows = await conn.execute(
            select(observations, li.source_asset_id, li.symbol, li.name)
            .join(listings, li.id == observations.c.listing_id)
            .order_by(observations.c.id)
        )
        return [dict(r._mapping) for r in rows]


def same_values(lake: dict[str, Any], store: dict[str, Any]) -> bool:
    keys = ("asset_id", "source", "source_asset_id", "observed_at", "symbol", "name")
    if any(lake[k] != store[k] for k in keys):
        return False
    return all(exact(lake, c) == store[c] for c in MARKET_DECIMALS)
