"""Response model of ``/api/v1/sources``, for the OpenAPI document only."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class DeclaredSource(BaseModel):
    name: str = Field(description="What runs, checkpoints and `source=` filters are named.")
    kind: Literal["market", "reference", "history", "venue"]
    description: str
    schedule_s: float | None = Field(
        description="How often the scheduler runs it (its provider's settings); null: on demand."
    )


class DeclaredProvider(BaseModel):
    name: str = Field(description="Also its settings prefix: KASPARRO_<NAME>_*.")
    label: str
    description: str
    color: str = Field(description="The dashboard's colour for its quotes (#rrggbb).")
    live: bool = Field(description="Its quotes are live market data (compared by spreads).")
    backfill: bool = Field(description="Serves price history (`POST /api/v1/backfills`).")
    requests_per_minute: float | None = Field(
        description="Its request budget in this process (null: it makes no requests)."
    )
    sources: list[DeclaredSource]


class SourcesData(BaseModel):
    providers: list[DeclaredProvider]
    live_markets: list[str]
    problems: list[str] = Field(description="Plugins that could not be loaded, one line each.")


class SourcesResponse(BaseModel):
    data: SourcesData
    meta: dict[str, Any]
