"""The canonical record every source is normalized into, and the rejection that replaces it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(slots=True, frozen=True)
class MarketRecord:
    """One market observation of one coin by one source, in USD.

    ``observed_at`` is the source's own timestamp for the quote. A source that sends none (an
    exchange's ticker usually does not) uses the fetch time of the response that carried it
    (``RawResponse.fetched_at``, handed to its normalizer), so re-normalizing the archived
    payload gives the same value, and the idempotency key ``(source, source_asset_id,
    observed_at)`` stays: the same response loads once, each new fetch is a new observation.

    ``name`` is ``None`` when the source gives no display name: the coin then never resolves
    by name (its identity key is source-scoped, ``<source>:<id>``, until the identity linker
    or an override links it), and the stored observation carries its symbol as its name.

    ``identity_hint`` lets a normalizer pin the canonical identity (a curated override key);
    when ``None`` the identity resolver derives ``symbol:name-slug``.
    """

    source: str
    source_asset_id: str
    symbol: str
    name: str | None
    observed_at: datetime  # timezone-aware UTC (see above)
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


# --- reference data (identity linking) ------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Contract:
    """A token contract as one API lists it."""

    platform: str  # the API's own platform id (``ethereum``, ``eth-ethereum``)
    address: str  # as sent, trimmed
    chain: str | None  # canonical chain (identity.chains); None: an unknown chain


@dataclass(slots=True, frozen=True)
class ReferenceCoin:
    """One coin of an API's coin list (CoinGecko ``/coins/list``, CoinPaprika ``/coins``).

    ``issues`` names bad reference data that was kept out of linking but not silently: an
    empty address, an unknown chain (``"empty_address:ethereum"``, ``"unknown_chain:hydra"``).
    """

    source: str
    source_asset_id: str
    symbol: str
    name: str
    kind: str | None = None  # "coin" | "token"; None when the API does not say
    rank: int | None = None
    active: bool | None = None
    contracts: tuple[Contract, ...] = ()
    issues: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class ReferenceContract:
    """One entry of CoinPaprika ``/contracts/{platform}``: a coin's contract on a platform."""

    source: str
    source_asset_id: str
    contract: Contract
    type: str | None = None
    active: bool | None = None


@dataclass(slots=True, frozen=True)
class ReferencePlatform:
    """One platform of CoinPaprika ``/contracts``; ``chain`` None: no mapping (not fetched)."""

    source: str
    platform: str
    chain: str | None


@dataclass(slots=True, frozen=True)
class ReferenceDetail:
    """A coin's own page's links (CoinGecko ``/coins/{id}``, CoinPaprika ``/v1/coins/{id}``):
    its homepages and block explorers, as listed (``identity.detail``). Empty lists: the
    page lists none, or the API has no page for the coin (404)."""

    source: str
    source_asset_id: str
    homepages: tuple[str, ...] = ()
    explorers: tuple[str, ...] = ()


# What a reference source's normalizer yields.
ReferenceRecord = ReferenceCoin | ReferenceContract | ReferencePlatform | ReferenceDetail


def display_name(record: MarketRecord) -> str:
    """The name a stored row shows: the source's own, else its symbol (see MarketRecord)."""
    return record.name if record.name is not None else record.symbol
