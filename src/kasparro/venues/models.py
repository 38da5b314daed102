"""The records of exchange venues: a market of the venue's list and a ticker of it.

Prices are in the market's **quote currency** (``BTC/USDT``: USDT per BTC), never assumed to
be USD: ``kasparro.venues.conversion`` measures what a USDT, a USDC or a EUR is worth.

``observed_at`` follows the record contract of ``kasparro.models.MarketRecord``: the
venue's own timestamp for the ticker when it sends one (Binance ``closeTime``, OKX ``ts``;
``venue_time`` is then true), else the fetch time of the response (Kraken and Coinbase send
none). The idempotency key is ``(venue, market_id, observed_at)``: a stale venue repeating
its timestamp loads nothing new, each new fetch of a timestamp-less venue is a new quote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(slots=True, frozen=True)
class VenueMarket:
    """One market of a venue's list. ``base``/``quote`` are ccxt's unified codes (its
    currency aliases applied: Kraken's ``XXBT`` is ``BTC``); ``base_id``/``quote_id`` the
    venue's own spelling. ``alias`` names the market this one mirrors (Coinbase's BTC-USDC
    trades on the BTC-USD book): an alias is not an independent price. ``unified`` is ccxt's
    whole market structure, what a later run reads tickers with."""

    venue: str
    market_id: str
    symbol: str
    base: str
    quote: str
    base_id: str
    quote_id: str
    active: bool
    spot: bool
    alias: str | None
    unified: dict[str, Any]


@dataclass(slots=True, frozen=True)
class VenueQuote:
    """One ticker of one venue market, exact decimals in the quote currency."""

    venue: str
    market_id: str
    symbol: str
    base: str
    quote: str
    base_id: str
    quote_id: str
    observed_at: datetime  # the venue's timestamp, else the fetch time (see module doc)
    venue_time: bool
    fetched_at: datetime
    last: Decimal
    bid: Decimal | None
    ask: Decimal | None
    base_volume: Decimal | None  # 24 h, in the base currency
    quote_volume: Decimal | None  # 24 h, in the quote currency

    @property
    def source_asset_id(self) -> str:
        """The pipeline's per-record id (quarantine, duplicate reports)."""
        return self.market_id
