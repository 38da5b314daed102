"""CoinGecko v3 ``/coins/markets``: paged by market cap, ``vs_currency=usd``, up to 250 a page."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

from kasparro.models import Normalized, ReferenceCoin, Rejection
from kasparro.normalize.coingecko import normalize_market
from kasparro.normalize.contracts import COINGECKO_COINS_LIST, COINGECKO_MARKETS
from kasparro.normalize.reference import SCOPE_COINS, normalize_coingecko_coin
from kasparro.sources.base import Page, SourceContext
from kasparro.sources.http import Fetcher
from kasparro.sources.parsing import parse_json_array

ENDPOINT = "/coins/markets"
COINS_LIST = "/coins/list"


class CoinGeckoSource:
    name = "coingecko"

    contract = COINGECKO_MARKETS

    def __init__(self, ctx: SourceContext) -> None:
        self.settings = ctx.settings
        self.fetcher = Fetcher(self.name, ctx.http, ctx.limiters, ctx.settings)
        self.url = ctx.settings.coingecko_base_url.rstrip("/") + ENDPOINT
        self.headers = ctx.settings.coingecko_key_header()

    def normalize(self, item: Any) -> Normalized:
        return normalize_market(item)

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


class CoinGeckoReferenceSource:
    """``/coins/list?include_platform=true``: every coin with its contract per platform, one
    page (a snapshot of the ``coins`` scope, see load.reference). The identity linker's
    CoinGecko side; refreshed every ``reference_refresh_seconds``."""

    name = "coingecko_reference"
    api = "coingecko"
    reference = True

    contract = COINGECKO_COINS_LIST

    def __init__(self, ctx: SourceContext) -> None:
        self.fetcher = Fetcher("coingecko", ctx.http, ctx.limiters, ctx.settings)
        self.url = ctx.settings.coingecko_base_url.rstrip("/") + COINS_LIST
        self.headers = ctx.settings.coingecko_key_header()
        self.refresh_seconds = ctx.settings.reference_refresh_seconds

    def normalize(self, item: Any) -> ReferenceCoin | Rejection:
        return normalize_coingecko_coin(item)

    def record_key(self, rec: ReferenceCoin) -> tuple[str, Any]:
        return (rec.source_asset_id, None)

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
