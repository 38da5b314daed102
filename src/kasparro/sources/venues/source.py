"""One generic source pair per exchange, driven by ccxt: its tickers and its market list.

- :class:`TickerSource` (``<venue>``): **one request per run** for every ticker (ccxt's
  ``fetch_tickers`` without symbols: Binance ``/api/v3/ticker/24hr``, Kraken
  ``/0/public/Ticker``, OKX ``/api/v5/market/tickers?instType=SPOT``, Coinbase
  ``/api/v3/brokerage/market/products``), read with the stored market list the pipeline
  hands over (``use_markets``), never a ``load_markets`` per run.
- :class:`MarketsSource` (``<venue>_markets``): ccxt's ``load_markets`` (1 to 5 requests
  by venue), stored as reference data and refreshed once older than the provider's
  ``markets_refresh_seconds`` (a day).

Every response is archived: the ticker payload as received; the market list's responses
as one *bundle* (``application/vnd.kasparro.http-bundle+json``: each request's endpoint,
parameters and body), so either can be parsed again through ccxt (``ccxt_client.replay``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final

import orjson

from kasparro.normalize.drift import Contract, FieldSpec
from kasparro.sources.base import (
    Page,
    RawResponse,
    SourceContext,
    SourceError,
    VenueMarketsSource,
    VenueSource,
)
from kasparro.sources.http import Fetcher
from kasparro.sources.venues.ccxt_client import Session, replay
from kasparro.sources.venues.settings import VenueSettings
from kasparro.venues.models import VenueMarket
from kasparro.venues.normalize import normalize_market, normalize_ticker

BUNDLE_TYPE: Final = "application/vnd.kasparro.http-bundle+json"
_ANY: Final = (re.compile(r".*"),)
_TEXT_OR_NULL: Final = FieldSpec(frozenset({"string", "null"}))
# ccxt's unified structures (what the normalizers read); everything else is allowed.
TICKER_CONTRACT: Final = {
    "symbol": FieldSpec(frozenset({"string"})),
    "last": _TEXT_OR_NULL,
    "bid": _TEXT_OR_NULL,
    "ask": _TEXT_OR_NULL,
    "baseVolume": _TEXT_OR_NULL,
    "quoteVolume": _TEXT_OR_NULL,
    "timestamp": FieldSpec(frozenset({"number", "null"})),
    "info": FieldSpec(frozenset({"object"})),
}
MARKET_CONTRACT: Final = {
    k: FieldSpec(frozenset({"string"})) for k in ("id", "symbol", "base", "quote", "baseId")
} | {
    "quoteId": FieldSpec(frozenset({"string"})),
    "active": FieldSpec(frozenset({"boolean", "null"})),
}


def bundle(endpoint: str, params: dict[str, Any], captured: list[RawResponse]) -> RawResponse:
    """Several responses archived as one payload (their bodies verbatim, as text)."""
    body = orjson.dumps(
        [
            {
                "endpoint": r.endpoint,
                "params": r.params,
                "status": r.status,
                "content_type": r.content_type,
                "body": r.body.decode("utf-8", "replace"),
            }
            for r in captured
        ]
    )
    fetched_at = captured[0].fetched_at if captured else datetime.now(UTC)
    return RawResponse(endpoint, params, 200, BUNDLE_TYPE, body, fetched_at)


def unbundle(raw: RawResponse) -> list[RawResponse]:
    """The responses an archived payload holds (a bundle's, or the payload itself)."""
    if raw.content_type != BUNDLE_TYPE:
        return [raw]
    return [
        RawResponse(e["endpoint"], e["params"], e["status"], e["content_type"],
                    e["body"].encode(), raw.fetched_at)
        for e in orjson.loads(raw.body)
    ]  # fmt: skip


async def renormalize_tickers(
    venue: str, config: VenueSettings, raw: RawResponse, markets: list[dict[str, Any]]
) -> list[Any]:
    """An archived ticker payload parsed again (ccxt, no I/O) with the market list it was
    read with: the run's records, or rejections, as the original run made them."""
    exchange = replay(config.exchange, config.ccxt_options, unbundle(raw), markets)
    tickers = await exchange.fetch_tickers()
    by_symbol = {}
    for item in markets:
        market = normalize_market(item, venue=venue, id_fields=config.id_fields)
        if isinstance(market, VenueMarket):
            by_symbol[market.symbol] = market
    return [
        normalize_ticker(t, venue=venue, markets=by_symbol, fetched_at=raw.fetched_at)
        for t in tickers.values()
    ]


class _Venue:
    """What both sources of a venue share: its settings and a ccxt session per run."""

    def __init__(self, ctx: SourceContext, venue: str) -> None:
        self.config = ctx.config_as(VenueSettings)
        self.venue = venue
        self.namespace = venue
        self._ctx = ctx

    def session(self) -> Session:
        fetcher = Fetcher(
            self.venue,
            self._ctx.http,
            self._ctx.limiters,
            self._ctx.settings,
            retry_statuses=frozenset(self.config.retry_statuses),
        )
        return Session(
            self.config.exchange, self.config.ccxt_options, fetcher, self.config.base_url
        )


class TickerSource(_Venue, VenueSource):
    def __init__(self, ctx: SourceContext, venue: str) -> None:
        super().__init__(ctx, venue)
        self.name = venue
        self.markets_source = f"{venue}_markets"
        self._unified: list[dict[str, Any]] | None = None
        self._by_symbol: dict[str, VenueMarket] = {}

    def use_markets(self, markets: list[dict[str, Any]]) -> None:
        self._unified = markets
        self._by_symbol = {}
        for item in markets:
            market = normalize_market(item, venue=self.venue, id_fields=self.config.id_fields)
            if isinstance(market, VenueMarket):
                self._by_symbol[market.symbol] = market

    def normalize(self, item: Any) -> Any:
        raise AssertionError("each page carries its normalizer (it needs the fetch time)")

    def record_key(self, record: Any) -> Any:
        return (record.market_id, record.observed_at)

    def contract_for(self, endpoint: str) -> Contract | None:
        return Contract(endpoint, dict(TICKER_CONTRACT), _ANY)

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        if not self._unified:
            raise SourceError(
                f"{self.venue}: no market list stored yet: run `kasparro etl run --source "
                f"{self.markets_source}` first"
            )
        session = self.session()
        session.exchange.set_markets(self._unified)
        tickers = await session.exchange.fetch_tickers()
        captured = session.captured
        raw = captured[0] if len(captured) == 1 else bundle("fetch_tickers", {}, captured)
        yield Page(
            number=1,
            raw=raw,
            items=list(tickers.values()),
            checkpoint={"in_progress": False},
            total_pages=1,
            normalize=partial(
                normalize_ticker,
                venue=self.venue,
                markets=self._by_symbol,
                fetched_at=raw.fetched_at,
            ),
        )


class MarketsSource(_Venue, VenueMarketsSource):
    def __init__(self, ctx: SourceContext, venue: str) -> None:
        super().__init__(ctx, venue)
        self.name = f"{venue}_markets"
        self.refresh_seconds = self.config.markets_refresh_seconds

    def normalize(self, item: Any) -> Any:
        return normalize_market(item, venue=self.venue, id_fields=self.config.id_fields)

    def record_key(self, record: Any) -> Any:
        return record.market_id

    def contract_for(self, endpoint: str) -> Contract | None:
        return Contract(endpoint, dict(MARKET_CONTRACT), _ANY)

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        session = self.session()
        markets = await session.exchange.load_markets(reload=True)
        raw = bundle("load_markets", {}, session.captured)
        yield Page(
            number=1,
            raw=raw,
            items=list(markets.values()),
            checkpoint={"in_progress": False},
            total_pages=1,
            scope=self.venue,
        )
