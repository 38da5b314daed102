"""The canonical record every source is normalized into, and the rejection that replaces it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(slots=True, frozen=True)
class MarketRecord:
    """One market observation of one coin by one source, in USD.

    ``identity_hint`` lets a normalizer pin the canonical identity (a curated override key);
    when ``None`` the identity resolver derives ``symbol:name-slug``.
    """

    source: str
    source_asset_id: str
    symbol: str
    name: str
    observed_at: datetime  # the source's own last_updated, timezone-aware UTC
    price_usd: Decimal | None
    market_cap_usd: Decimal | None = None
    volume_24h_usd: Decimal | None = None
    change_24h_pct: Decimal | None = None
    market_cap_rank: int | None = None
    circulating_supply: Decimal | None = None
    total_supply: Decimal | None = None
    max_supply: Decimal | None = None
    identity_hint: str | None = None


@dataclass(slots=True, frozen=True)
class Rejection:
    """A record that failed validation: it is quarantined with this reason, never dropped."""

    reason: str
    raw: Any
    source_asset_id: str | None = None


Normalized = MarketRecord | Rejection
