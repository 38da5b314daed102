"""Venue providers: a venue is a declaration, not code, where ccxt supports it.

:func:`venue_provider` turns a venue's facts (its ccxt id, public URL, request budget from
its published limits, ccxt options, colour) into a :class:`~kasparro.sources.Provider` with
two sources, ``<venue>`` (tickers, kind ``venue``) and ``<venue>_markets`` (the market
list, reference data). A fifth venue is one more call (in Kasparro or in a plugin)::

    BITSTAMP = venue_provider(
        "bitstamp", "Bitstamp", exchange="bitstamp", public_url="https://www.bitstamp.net",
        requests_per_minute=60, budget="400 requests/s published; one request per run",
    )
"""

from __future__ import annotations

from functools import partial
from typing import Any

from kasparro.sources.base import SourceKind
from kasparro.sources.spec import Provider, SourceSpec
from kasparro.sources.venues.settings import venue_settings
from kasparro.sources.venues.source import MarketsSource, TickerSource


def venue_provider(
    name: str,
    label: str,
    *,
    exchange: str,
    public_url: str,
    requests_per_minute: float,
    budget: str,
    color: str = "#6b7280",
    options: dict[str, Any] | None = None,
    retry_statuses: tuple[int, ...] = (429,),
    id_fields: tuple[str, str] | None = None,
) -> Provider:
    settings = venue_settings(
        label,
        exchange=exchange,
        public_url=public_url,
        requests_per_minute=requests_per_minute,
        budget=budget,
        options=options,
        retry_statuses=retry_statuses,
        id_fields=id_fields,
    )
    return Provider(
        name=name,
        label=label,
        settings=settings,
        color=color,
        sources=(
            SourceSpec(
                name,
                SourceKind.VENUE,
                partial(TickerSource, venue=name),
                "schedule_seconds",
                "every spot ticker in one request (ccxt fetch_tickers), in its quote currency",
            ),
            SourceSpec(
                f"{name}_markets",
                SourceKind.REFERENCE,
                partial(MarketsSource, venue=name),
                "markets_schedule_seconds",
                "the market list (ccxt load_markets), refreshed daily",
            ),
        ),
        description=f"{label} public market data (keyless, via ccxt)",
    )


# Budgets: Kasparro's pacer counts requests; each venue's default keeps its heaviest request
# (the all-tickers one) well inside the venue's published limit, with room for other
# clients on the same IP.
BINANCE = venue_provider(
    "binance",
    "Binance",
    exchange="binance",
    public_url="https://api.binance.com",
    requests_per_minute=12,
    budget="6,000 request weight/min published; all tickers weigh 80 and the market list "
    "20: 12/min is at most 960 weight/min",
    color="#f0b90b",
    # Spot only (ccxt also loads the futures lists by default; margin needs a key).
    options={"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False},
    retry_statuses=(429, 418),  # 418: an IP ban, with Retry-After
)
COINBASE = venue_provider(
    "coinbase",
    "Coinbase",
    exchange="coinbase",
    public_url="https://api.coinbase.com",
    requests_per_minute=60,
    budget="public endpoints: 10 requests/s per IP published; the market list takes 5",
    color="#0052ff",
)
KRAKEN = venue_provider(
    "kraken",
    "Kraken",
    exchange="kraken",
    public_url="https://api.kraken.com",
    requests_per_minute=20,
    budget="public endpoints: about 1 request/s per IP; rate limits arrive as "
    "EAPI:Rate limit exceeded in a 200 body",
    color="#7132f5",
    # ccxt's Kraken baseId/quoteId are already unified (BTC): the venue's own XXBT/ZUSD
    # are in its AssetPairs record.
    id_fields=("base", "quote"),
)
OKX = venue_provider(
    "okx",
    "OKX",
    exchange="okx",
    public_url="https://www.okx.com",
    requests_per_minute=60,
    budget="market/tickers and public/instruments: 20 requests per 2 s published",
    color="#111827",
    options={"fetchMarkets": {"types": ["spot"]}},
)
VENUES = (BINANCE, COINBASE, KRAKEN, OKX)
