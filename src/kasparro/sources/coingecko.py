"""CoinGecko v3 ``/coins/markets``: paged by market cap, ``vs_currency=usd``, up to 250 a page."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from kasparro.load.backfill import targets
from kasparro.models import Normalized, ReferenceCoin, Rejection
from kasparro.normalize.coingecko import normalize_market
from kasparro.normalize.common import loads_exact
from kasparro.normalize.contracts import COINGECKO_COINS_LIST, COINGECKO_MARKETS
from kasparro.normalize.drift import Contract
from kasparro.normalize.history import coingecko_points, normalize_point
from kasparro.normalize.reference import SCOPE_COINS, normalize_coingecko_coin
from kasparro.runs.backfill import BackfillSpec, Chunk, depth_floor, plan_chunks, within_depth
from kasparro.sources.base import (
    HistorySource,
    MarketSource,
    Page,
    ReferenceSource,
    SourceContext,
    SourceError,
)
from kasparro.sources.http import Fetcher
from kasparro.sources.parsing import parse_json_array

ENDPOINT = "/coins/markets"
COINS_LIST = "/coins/list"
CHART = "/coins/{id}/market_chart/range"


class CoinGeckoSource(MarketSource):
    name = "coingecko"
    namespace = "coingecko"

    def __init__(self, ctx: SourceContext) -> None:
        self.settings = ctx.settings
        self.fetcher = Fetcher(self.name, ctx.http, ctx.limiters, ctx.settings)
        self.url = ctx.settings.coingecko_base_url.rstrip("/") + ENDPOINT
        self.headers = ctx.settings.coingecko_key_header()

    def normalize(self, item: Any) -> Normalized:
        return normalize_market(item)

    def contract_for(self, endpoint: str) -> Contract | None:
        return COINGECKO_MARKETS

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        per_page = self.settings.coingecko_per_page
        max_coins = self.settings.coingecko_max_coins
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
    CoinGecko side; refreshed every ``reference_refresh_seconds``."""

    name = "coingecko_reference"
    namespace = "coingecko"

    def __init__(self, ctx: SourceContext) -> None:
        self.fetcher = Fetcher("coingecko", ctx.http, ctx.limiters, ctx.settings)
        self.url = ctx.settings.coingecko_base_url.rstrip("/") + COINS_LIST
        self.headers = ctx.settings.coingecko_key_header()
        self.refresh_seconds = ctx.settings.reference_refresh_seconds

    def normalize(self, item: Any) -> ReferenceCoin | Rejection:
        return normalize_coingecko_coin(item)

    def record_key(self, record: ReferenceCoin) -> tuple[str, Any]:
        return (record.source_asset_id, None)

    def contract_for(self, endpoint: str) -> Contract | None:
        return COINGECKO_COINS_LIST

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
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
            total_pages=1,
            scope=SCOPE_COINS,
        )


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
    (``runs.backfill.plan_chunks``), its points loaded as observations with the chunk's
    watermark. Requests yield to scheduled runs in CoinGecko's budget (priority 1)."""

    name = "coingecko_history"
    namespace = "coingecko"

    def __init__(self, ctx: SourceContext, spec: BackfillSpec) -> None:
        plan = ctx.settings.coingecko_plan
        depth = _PLAN_DEPTH[plan]
        what = f"the CoinGecko {plan} plan"
        if spec.interval == "5m":
            depth, what = _FIVE_MINUTE_DEPTH, "CoinGecko's 5-minutely granularity"
        self.floor = depth_floor(spec, depth)
        self.spec = within_depth(spec, depth, what)
        self.fetcher = Fetcher("coingecko", ctx.http, ctx.limiters, ctx.settings, priority=1)
        self.base = ctx.settings.coingecko_base_url.rstrip("/")
        self.headers = ctx.settings.coingecko_key_header()
        self.chunks: list[Chunk] = []

    async def prepare(self, conn: Any) -> None:
        found = await targets(
            conn, "coingecko", self.spec.interval, asset_ids=self.spec.asset_ids, top=self.spec.top
        )
        if not found:
            raise SourceError(
                "no CoinGecko coins to backfill: run `kasparro etl run` first (the top coins "
                "come from the latest market data) or name assets that CoinGecko lists"
            )
        max_span, min_span = _CHART_SPANS[self.spec.interval]
        self.chunks = plan_chunks(
            found, self.spec, max_span=max_span, min_span=min_span, floor=self.floor
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
