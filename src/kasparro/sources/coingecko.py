"""CoinGecko v3 ``/coins/markets``: paged by market cap, ``vs_currency=usd``, up to 250 a page."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator

from kasparro.models import Normalized, ReferenceCoin, Rejection
from kasparro.normalize.coingecko import normalize_market
from kasparro.normalize.common import loads_exact
from kasparro.normalize.contracts import COINGECKO_COINS_LIST, COINGECKO_MARKETS
from kasparro.normalize.drift import Contract
from kasparro.normalize.history import coingecko_points, normalize_point
from kasparro.normalize.reference import SCOPE_COINS, normalize_coingecko_coin
from kasparro.sources.base import (
    HistorySource,
    MarketSource,
    Page,
    ReferenceSource,
    SourceContext,
    SourceKind,
)
from kasparro.sources.config import HttpSourceSettings
from kasparro.sources.detail import detail_pages
from kasparro.sources.history import (
    BackfillSpec,
    Chunk,
    Target,
    depth_floor,
    plan_chunks,
    within_depth,
)
from kasparro.sources.http import Fetcher
from kasparro.sources.parsing import parse_json_array
from kasparro.sources.spec import Provider, SourceSpec

PUBLIC_URL = "https://api.coingecko.com/api/v3"
ENDPOINT = "/coins/markets"
COINS_LIST = "/coins/list"
COIN = "/coins/{id}"
# Just the coin page's identity and links: every optional part off.
_COIN_PARAMS = {
    "localization": "false",
    "tickers": "false",
    "market_data": "false",
    "community_data": "false",
    "developer_data": "false",
    "sparkline": "false",
}
CHART = "/coins/{id}/market_chart/range"


class CoinGeckoSettings(HttpSourceSettings):
    """``KASPARRO_COINGECKO_*``. The keyless tier is IP-shared and historically allowed 5-30
    calls/min: budget conservatively; CoinGecko caches ``/coins/markets`` for 30 s, so polling
    faster than the schedule buys nothing."""

    base_url: Annotated[
        str, Field(description="`https://pro-api.coingecko.com/api/v3` for Pro")
    ] = PUBLIC_URL
    api_key: Annotated[
        SecretStr | None,
        Field(description="sent as x-cg-demo-api-key (x-cg-pro-api-key on the pro host)"),
    ] = None
    requests_per_minute: Annotated[
        float, Field(gt=0, description="the keyless tier is IP-shared, 5-30/min")
    ] = 10.0
    max_coins: Annotated[
        Annotated[int, Field(ge=1)] | Literal["all"],
        Field(description="top N coins by market cap, or `all` (pages until an empty page)"),
    ] = 1000
    per_page: Annotated[int, Field(ge=1, le=250, description="1-250")] = 250
    plan: Annotated[
        Literal["demo", "basic", "analyst"],
        Field(
            description="how far back /coins/{id}/market_chart/range serves: demo (keyless "
            "and Demo keys: the past 365 days), basic (2 years), analyst (everything)"
        ),
    ] = "demo"
    schedule_seconds: Annotated[
        float, Field(gt=0, description="/coins/markets is cached 30 s upstream")
    ] = 600.0
    reference_schedule_seconds: Annotated[
        float,
        Field(
            gt=0,
            description="how often the scheduler checks the coin list (fetched again once "
            "older than KASPARRO_REFERENCE_REFRESH_SECONDS)",
        ),
    ] = 3600.0
    detail_per_run: Annotated[
        int,
        Field(
            ge=0,
            description="coin pages (/coins/{id}) a reference run fetches at most, for the "
            "pairs identity cannot decide from names and markets (0: none)",
        ),
    ] = 5

    @field_validator("max_coins", mode="before")
    @classmethod
    def _all(cls, v: object) -> object:
        if isinstance(v, str) and v.strip().lower() == "all":
            return "all"
        if isinstance(v, str) and not v.strip().isdigit():
            raise ValueError("should be a whole number of coins or 'all'")
        return v

    def key_header(self) -> dict[str, str]:
        """Sent as x-cg-demo-api-key, or x-cg-pro-api-key on the pro host (a key sent to the
        wrong host is a 400: QUIRKS.md); never logged."""
        if self.api_key is None:
            return {}
        name = "x-cg-pro-api-key" if "pro-api." in self.base_url else "x-cg-demo-api-key"
        return {name: self.api_key.get_secret_value()}


class CoinGeckoSource(MarketSource):
    name = "coingecko"
    namespace = "coingecko"

    def __init__(self, ctx: SourceContext) -> None:
        self.config = ctx.config_as(CoinGeckoSettings)
        self.fetcher = Fetcher(self.namespace, ctx.http, ctx.limiters, ctx.settings)
        self.url = self.config.base_url + ENDPOINT
        self.headers = self.config.key_header()

    def normalize(self, item: Any) -> Normalized:
        return normalize_market(item)

    def contract_for(self, endpoint: str) -> Contract | None:
        return COINGECKO_MARKETS

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        per_page = self.config.per_page
        max_coins = self.config.max_coins
        total_pages = None if max_coins == "all" else max(1, math.ceil(max_coins / per_page))
        page = 1
        # Resume only a run that stopped mid-way with the same page geometry; otherwise the
        # page numbers would point at different coins.
        if checkpoint and checkpoint.get("in_progress") and checkpoint.get("per_page") == per_page:
            page = int(checkpoint.get("next_page", 1))
        while total_pages is None or page <= total_pages:
            params = {
                "vs_currency": "usd",
                "order": "market_cap_desc",
                "per_page": per_page,
                "page": page,
                "sparkline": "false",
            }
            raw, items = await self.fetcher.get(
                self.url,
                endpoint=ENDPOINT,
                params=params,
                parse=parse_json_array,
                headers=self.headers,
            )
            if max_coins != "all" and page == total_pages:
                items = items[: max_coins - (page - 1) * per_page]
            # Past the end the API answers []; a short page is also the last one.
            last = not items or len(items) < per_page or page == total_pages
            yield Page(
                number=page,
                raw=raw,
                items=items,
                checkpoint={
                    "in_progress": not last,
                    "next_page": 1 if last else page + 1,
                    "per_page": per_page,
                },
                total_pages=total_pages,
            )
            if last:
                return
            page += 1


class CoinGeckoReferenceSource(ReferenceSource):
    """``/coins/list?include_platform=true``: every coin with its contract per platform, one
    page (a snapshot of the ``coins`` scope, see load.reference). The identity linker's
    CoinGecko side; refreshed every ``reference_refresh_seconds``. Then the ``/coins/{id}``
    pages identity wants (``detail_per_run`` at most, sources.detail), also on their own
    while the list is fresh."""

    name = "coingecko_reference"
    namespace = "coingecko"

    def __init__(self, ctx: SourceContext) -> None:
        config = ctx.config_as(CoinGeckoSettings)
        self.fetcher = Fetcher(self.namespace, ctx.http, ctx.limiters, ctx.settings)
        # Coin pages yield to scheduled runs in the budget, as a backfill does.
        self.detail_fetcher = Fetcher(
            self.namespace, ctx.http, ctx.limiters, ctx.settings, priority=1
        )
        self.base = config.base_url
        self.url = config.base_url + COINS_LIST
        self.headers = config.key_header()
        self.refresh_seconds = ctx.settings.reference_refresh_seconds
        self.detail_per_run = config.detail_per_run

    def normalize(self, item: Any) -> ReferenceCoin | Rejection:
        return normalize_coingecko_coin(item)

    def record_key(self, record: ReferenceCoin) -> tuple[str, Any]:
        return (record.source_asset_id, None)

    def contract_for(self, endpoint: str) -> Contract | None:
        # A coin page is read for two lists of links only (normalize_detail checks them).
        return None if endpoint == COIN else COINGECKO_COINS_LIST

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        if not self.detail_only:
            raw, items = await self.fetcher.get(
                self.url,
                endpoint=COINS_LIST,
                params={"include_platform": "true"},
                parse=parse_json_array,
                headers=self.headers,
            )
            yield Page(
                number=1,
                raw=raw,
                items=items,
                checkpoint={"in_progress": False, "next_page": 1},
                total_pages=1 + len(self.detail_ids),
                scope=SCOPE_COINS,
            )
        async for page in detail_pages(
            self,
            self.detail_fetcher,
            url_of=lambda sid: f"{self.base}/coins/{quote(sid, safe='')}",
            endpoint=COIN,
            params=_COIN_PARAMS,
            headers=self.headers,
            first_number=1 if self.detail_only else 2,
        ):
            yield page


# What /coins/{id}/market_chart/range serves per granularity: the longest range per request,
# and the shortest range that still gets that granularity (CoinGecko picks it from the
# range: 5-minutely within the last day from now, hourly up to 90 days, daily beyond).
_CHART_SPANS: dict[str, tuple[timedelta, timedelta | None]] = {
    "5m": (timedelta(days=1), None),
    "1h": (timedelta(days=90), timedelta(days=1, hours=1)),
    "1d": (timedelta(days=400), timedelta(days=91)),
}
# How far back from now each plan serves the charts (None: from 2013 on). Keyless and Demo:
# the past 365 days (HTTP 401, error 10012 beyond); Basic: 2 years; Analyst and above:
# everything. 5-minutely points exist for the last day from now only, on every plan that
# has no `interval` parameter (it is Enterprise-only).
_PLAN_DEPTH: dict[str, timedelta | None] = {
    "demo": timedelta(days=365),
    "basic": timedelta(days=2 * 365),
    "analyst": None,
}
_FIVE_MINUTE_DEPTH = timedelta(days=1)


class CoinGeckoHistorySource(HistorySource):
    """Backfill from ``/coins/{id}/market_chart/range``: one request per coin and chunk
    (``sources.history.plan_chunks``), its points loaded as observations with the chunk's
    watermark. Requests yield to scheduled runs in CoinGecko's budget (priority 1)."""

    name = "coingecko_history"
    namespace = "coingecko"

    def __init__(self, ctx: SourceContext, spec: BackfillSpec) -> None:
        config = ctx.config_as(CoinGeckoSettings)
        depth = _PLAN_DEPTH[config.plan]
        what = f"the CoinGecko {config.plan} plan"
        if spec.interval == "5m":
            depth, what = _FIVE_MINUTE_DEPTH, "CoinGecko's 5-minutely granularity"
        self.floor = depth_floor(spec, depth)
        self.spec = within_depth(spec, depth, what)
        self.fetcher = Fetcher(self.namespace, ctx.http, ctx.limiters, ctx.settings, priority=1)
        self.base = config.base_url
        self.headers = config.key_header()
        self.chunks: list[Chunk] = []

    def plan(self, targets: list[Target]) -> None:
        max_span, min_span = _CHART_SPANS[self.spec.interval]
        self.chunks = plan_chunks(
            targets, self.spec, max_span=max_span, min_span=min_span, floor=self.floor
        )

    def normalize(self, item: Any) -> Normalized:
        return normalize_point("coingecko", item["id"], item["symbol"], item["name"], item)

    def contract_for(self, endpoint: str) -> Contract | None:
        return None  # points are [timestamp, value] pairs: normalize_point checks each

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        total = len(self.chunks)
        for number, chunk in enumerate(self.chunks, start=1):
            target = chunk.target
            raw, body = await self.fetcher.get(
                f"{self.base}/coins/{target.source_asset_id}/market_chart/range",
                endpoint=CHART,
                params={
                    "vs_currency": "usd",
                    "from": int(chunk.fetch_start.timestamp()),
                    "to": int((chunk.fetch_end or chunk.end).timestamp()),
                },
                parse=_parse_chart,
                headers=self.headers,
            )
            lo, hi = chunk.start.timestamp() * 1000, chunk.end.timestamp() * 1000
            identity = {
                "id": target.source_asset_id,
                "symbol": target.symbol,
                "name": target.name,
            }
            items = [
                {**identity, **point}
                for point in body
                if point["t"] is None or lo <= point["t"] <= hi  # out of range: not ours
            ]
            yield Page(
                number=number,
                raw=raw,
                items=items,
                checkpoint={"in_progress": number < total, "next_page": 1},
                total_pages=total,
                watermark=(target.source_asset_id, self.spec.interval, chunk.start, chunk.end),
            )


def _parse_chart(body: bytes) -> list[dict[str, Any]]:
    try:
        return coingecko_points(loads_exact(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a market chart: {exc}") from exc


COINGECKO = Provider(
    name="coingecko",
    label="CoinGecko",
    settings=CoinGeckoSettings,
    color="#5b8def",
    sources=(
        SourceSpec(
            "coingecko",
            SourceKind.MARKET,
            CoinGeckoSource,
            "schedule_seconds",
            "/coins/markets: the top coins by market cap, paged",
        ),
        SourceSpec(
            "coingecko_reference",
            SourceKind.REFERENCE,
            CoinGeckoReferenceSource,
            "reference_schedule_seconds",
            "/coins/list?include_platform=true: every coin and its contracts",
        ),
    ),
    history=CoinGeckoHistorySource,
    description="CoinGecko v3 (keyless, Demo or Pro key)",
)
