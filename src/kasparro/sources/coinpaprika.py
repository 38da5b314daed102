"""CoinPaprika v1 ``/tickers?quotes=USD``: every active ticker in one unpaginated array."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from kasparro.models import Normalized
from kasparro.normalize.coinpaprika import normalize_ticker
from kasparro.normalize.contracts import COINPAPRIKA_TICKERS
from kasparro.sources.base import Page, SourceContext
from kasparro.sources.http import Fetcher
from kasparro.sources.parsing import parse_json_array

ENDPOINT = "/tickers"


class CoinPaprikaSource:
    name = "coinpaprika"

    contract = COINPAPRIKA_TICKERS

    def __init__(self, ctx: SourceContext) -> None:
        self.fetcher = Fetcher(self.name, ctx.http, ctx.limiters, ctx.settings)
        self.url = ctx.settings.coinpaprika_base_url.rstrip("/") + ENDPOINT
        self.headers = ctx.settings.coinpaprika_key_header()

    def normalize(self, item: Any) -> Normalized:
        return normalize_ticker(item)

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        params = {"quotes": "USD"}
        raw, items = await self.fetcher.get(
            self.url,
            endpoint=ENDPOINT,
            params=params,
            parse=parse_json_array,
            headers=self.headers,
        )
        yield Page(
            number=1,
            raw=raw,
            items=items,
            checkpoint={"in_progress": False, "next_page": 1},
            total_pages=1,
        )
