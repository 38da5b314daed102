"""Shared helpers for scheduler tests: a settable clock, CSV files, settings, DB reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.settings import Settings
from kasparro.store.schema import runs, scheduler_state
from tests.fixtures.settings import settings_for

CSV_HEADER = (
    "id,symbol,name,last_updated,price_usd,market_cap_usd,volume_24h_usd,change_24h_pct,"
    "market_cap_rank,circulating_supply,total_supply,max_supply\n"
)


class ManualClock:
    """The scheduler's clock, moved by hand: no test sleeps for an interval."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float, base: datetime) -> datetime:
        self.now = base + timedelta(seconds=seconds)
        return self.now


def write_csv(path: Path, rows: int) -> Path:
    """``rows`` distinct coins, one observation each (so loaded rows == file rows)."""
    lines = [
        f"coin{i},C{i},Coin {i},2024-01-01T00:00:00Z,{i + 1}.5,,,,{i + 1},,,\n" for i in range(rows)
    ]
    path.write_text(CSV_HEADER + "".join(lines))
    return path


def csv_settings(db_url: str, csv_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "csv_paths": [csv_path],
        "schedule_enabled_sources": ["csv"],
        "schedule_csv_seconds": 60.0,
        **overrides,
    }
    return settings_for(**values)


async def state_row(engine: AsyncEngine, source: str = "csv") -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (
            (await conn.execute(select(scheduler_state).where(scheduler_state.c.source == source)))
            .mappings()
            .one()
        )
    return dict(row)


async def all_runs(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(select(runs).order_by(runs.c.started_at, runs.c.id))
        return [dict(r) for r in result.mappings()]
