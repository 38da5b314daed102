"""CoinPaprika v1 ``/tickers?quotes=USD``: every active ticker in one unpaginated array."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr

from kasparro.identity.chains import normalize_address
from kasparro.models import (
    Normalized,
    ReferenceCoin,
    ReferenceContract,
    ReferencePlatform,
    Rejection,
)
from kasparro.normalize.coinpaprika import normalize_ticker
from kasparro.normalize.contracts import (
    COINPAPRIKA_COINS,
    COINPAPRIKA_CONTRACTS,
    COINPAPRIKA_TICKERS,
)
from kasparro.normalize.drift import Contract
from kasparro.normalize.history import normalize_point
from kasparro.normalize.reference import (
    SCOPE_COINS,
    SCOPE_PLATFORMS,
    contracts_scope,
    normalize_coinpaprika_coin,
    normalize_coinpaprika_contract,
    normalize_coinpaprika_platform,
)
from kasparro.sources.base import (
    HistorySource,
    MarketSource,
    Page,
    RawResponse,
    ReferenceSource,
    SourceContext,
    SourceKind,
)
from kasparro.sources.config import HttpSourceSettings
from kasparro.sources.detail import detail_pages
from kasparro.sources.history import (
    INTERVALS,
    BackfillError,
    BackfillSpec,
    Chunk,
    Target,
    plan_chunks,
    within_depth,
)
from kasparro.sources.http import Fetcher
from kasparro.sources.parsing import parse_json_array
from kasparro.sources.spec import Provider, SourceSpec

PUBLIC_URL = "https://api.coinpaprika.com/v1"
ENDPOINT = "/tickers"
Plan = Literal["free", "starter", "pro", "business", "enterprise"]
CONTRACTS = "/contracts/{platform}"
HISTORICAL = "/tickers/{id}/historical"
COIN = "/coins/{id}"


class CoinPaprikaSettings(HttpSourceSettings):
    """``KASPARRO_COINPAPRIKA_*``. The free plan allows 10 requests/s but only 20,000 calls a
    month, and refreshes tickers about every 5 minutes: one ``/tickers`` call per run."""

    base_url: Annotated[
        str, Field(description="`https://api-pro.coinpaprika.com/v1` for paid plans")
    ] = PUBLIC_URL
    api_key: Annotated[
        SecretStr | None, Field(description="sent as Authorization (the paid host)")
    ] = None
    requests_per_minute: Annotated[float, Field(gt=0, description="request budget")] = 60.0
    plan: Annotated[
        Plan,
        Field(
            description="free, starter, pro, business or enterprise: how much history "
            "/tickers/{id}/historical serves (a backfill is cut to it)"
        ),
    ] = "free"
    schedule_seconds: Annotated[
        float, Field(gt=0, description="tickers refresh about every 5 min on the free plan")
    ] = 600.0
    reference_schedule_seconds: Annotated[
        float, Field(gt=0, description="how often the scheduler checks the coin list")
    ] = 3600.0
    detail_per_run: Annotated[
        int,
        Field(
            ge=0,
            description="coin pages (/v1/coins/{id}) a reference run fetches at most, for the "
            "pairs identity cannot decide from names and markets (0: none)",
        ),
    ] = 20

    def key_header(self) -> dict[str, str]:
        """Sent as ``Authorization`` (the paid host); never logged."""
        if self.api_key is None:
            return {}
        return {"Authorization": self.api_key.get_secret_value()}


class CoinPaprikaSource(MarketSource):
    name = "coinpaprika"
    namespace = "coinpaprika"

    def __init__(self, ctx: SourceContext) -> None:
        config = ctx.config_as(CoinPaprikaSettings)
        self.fetcher = Fetcher(self.namespace, ctx.http, ctx.limiters, ctx.settings)
        self.url = config.base_url + ENDPOINT
        self.headers = config.key_header()

    def normalize(self, item: Any) -> Normalized:
        return normalize_ticker(item)

    def contract_for(self, endpoint: str) -> Contract | None:
        return COINPAPRIKA_TICKERS

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


class CoinPaprikaReferenceSource(ReferenceSource):
    """CoinPaprika's coin list and contracts, the identity linker's CoinPaprika side.

    Pages: 1 ``/coins`` (every coin: id, symbol, name, rank, type), 2 ``/contracts`` (the
    platforms), then ``/contracts/{platform}`` for each platform mapped to a chain (sorted;
    unmapped platforms are recorded, not fetched: their contracts could never link). About a
    dozen requests in all, inside the CoinPaprika budget; refreshed every
    ``reference_refresh_seconds``. A run stopped half-way resumes at its next platform (the
    platform list travels in the checkpoint)."""

    name = "coinpaprika_reference"
    namespace = "coinpaprika"

    def __init__(self, ctx: SourceContext) -> None:
        config = ctx.config_as(CoinPaprikaSettings)
        self.fetcher = Fetcher(self.namespace, ctx.http, ctx.limiters, ctx.settings)
        # Coin pages yield to scheduled runs in the budget, as a backfill does.
        self.detail_fetcher = Fetcher(
            self.namespace, ctx.http, ctx.limiters, ctx.settings, priority=1
        )
        self.base = config.base_url
        self.headers = config.key_header()
        self.refresh_seconds = ctx.settings.reference_refresh_seconds
        self.detail_per_run = config.detail_per_run

    def contract_for(self, endpoint: str) -> Contract | None:
        # A coin page (COIN) is read for two lists of links only (normalize_detail checks).
        return {"/coins": COINPAPRIKA_COINS, CONTRACTS: COINPAPRIKA_CONTRACTS}.get(endpoint)

    def normalize(self, item: Any) -> ReferenceCoin | Rejection:
        return normalize_coinpaprika_coin(item)

    def record_key(self, record: Any) -> tuple[str, Any]:
        if isinstance(record, ReferenceContract):
            return (record.source_asset_id, normalize_address(record.contract.address))
        if isinstance(record, ReferencePlatform):
            return (record.platform, None)
        return (record.source_asset_id, None)

    async def _get(self, endpoint: str, path: str) -> tuple[RawResponse, Any]:
        return await self.fetcher.get(
            self.base + path,
            endpoint=endpoint,
            params={},
            parse=parse_json_array,
            headers=self.headers,
        )

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        last = 0
        if not self.detail_only:
            async for page in self._lists(checkpoint):
                last = page.number
                yield page
        async for page in detail_pages(
            self,
            self.detail_fetcher,
            url_of=lambda sid: f"{self.base}/coins/{quote(sid, safe='')}",
            endpoint=COIN,
            params={},
            headers=self.headers,
            first_number=last + 1,
        ):
            yield page

    async def _lists(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        start, platforms = 1, []
        if checkpoint and checkpoint.get("in_progress"):
            start = int(checkpoint.get("next_page", 1))
            platforms = list(checkpoint.get("platforms") or [])
            if not platforms:
                start = min(start, 2)  # the platform list is read again
        if start <= 1:
            raw, items = await self._get("/coins", "/coins")
            yield self._page(1, raw, items, SCOPE_COINS, platforms, 3 + len(platforms))
        if start <= 2 or not platforms:
            raw, items = await self._get("/contracts", "/contracts")
            listed = [normalize_coinpaprika_platform(p) for p in items]
            platforms = sorted(
                {p.platform for p in listed if isinstance(p, ReferencePlatform) and p.chain}
            )
            yield self._page(
                2,
                raw,
                items,
                SCOPE_PLATFORMS,
                platforms,
                2 + len(platforms),
                normalize=normalize_coinpaprika_platform,
            )
        for i, platform in enumerate(platforms):
            number = 3 + i
            if number < start:
                continue
            raw, items = await self._get(CONTRACTS, f"/contracts/{platform}")
            yield self._page(
                number,
                raw,
                items,
                contracts_scope(platform),
                platforms,
                2 + len(platforms),
                normalize=functools.partial(normalize_coinpaprika_contract, platform),
            )

    def _page(
        self,
        number: int,
        raw: RawResponse,
        items: Any,
        scope: str,
        platforms: list[str],
        total: int,
        *,
        normalize: Callable[[Any], Any] | None = None,
    ) -> Page:
        last = number >= total
        return Page(
            number=number,
            raw=raw,
            items=items,
            checkpoint={
                "in_progress": not last,
                "next_page": 1 if last else number + 1,
                "platforms": [] if last else platforms,
            },
            total_pages=total,
            scope=scope,
            normalize=normalize,
        )


# /tickers/{id}/historical: how far back each plan serves each granularity (the OpenAPI
# table), counted back from the current time as the API counts it (not from the backfill's
# end); None: unlimited. The free plan has no 5-minute history at all.
_PLAN_DEPTH: dict[str, dict[str, timedelta | None]] = {
    "free": {"1d": timedelta(days=365), "1h": timedelta(days=1), "5m": timedelta(0)},
    "starter": {"1d": timedelta(days=5 * 365), "1h": timedelta(days=30), "5m": timedelta(days=7)},
    "pro": {"1d": None, "1h": timedelta(days=90), "5m": timedelta(days=30)},
    "business": {"1d": None, "1h": timedelta(days=365), "5m": timedelta(days=365)},
    "enterprise": {"1d": None, "1h": None, "5m": None},
}
_MAX_POINTS = 5000  # `limit` of one historical request


class CoinPaprikaHistorySource(HistorySource):
    """Backfill from ``/tickers/{id}/historical`` within what the plan
    (``KASPARRO_COINPAPRIKA_PLAN``) serves: the range is cut to the plan's depth, each
    request asks for at most 5,000 points. Requests yield to scheduled runs (priority 1)."""

    name = "coinpaprika_history"
    namespace = "coinpaprika"

    def __init__(self, ctx: SourceContext, spec: BackfillSpec) -> None:
        config = ctx.config_as(CoinPaprikaSettings)
        depth = _PLAN_DEPTH[config.plan][spec.interval]
        if depth == timedelta(0):
            raise BackfillError(
                f"the CoinPaprika {config.plan} plan has no {spec.interval} "
                "history (KASPARRO_COINPAPRIKA_PLAN)"
            )
        self.spec = within_depth(spec, depth, f"the CoinPaprika {config.plan} plan")
        self.fetcher = Fetcher(self.namespace, ctx.http, ctx.limiters, ctx.settings, priority=1)
        self.base = config.base_url
        self.headers = config.key_header()
        self.chunks: list[Chunk] = []

    def plan(self, targets: list[Target]) -> None:
        step = INTERVALS[self.spec.interval]
        self.chunks = plan_chunks(targets, self.spec, max_span=step * (_MAX_POINTS - 1))

    def normalize(self, item: Any) -> Normalized:
        return normalize_point("coinpaprika", item["id"], item["symbol"], item["name"], item)

    def contract_for(self, endpoint: str) -> Contract | None:
        return None  # normalize_point checks every field it reads

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        total = len(self.chunks)
        for number, chunk in enumerate(self.chunks, start=1):
            target = chunk.target
            raw, body = await self.fetcher.get(
                f"{self.base}/tickers/{target.source_asset_id}/historical",
                endpoint=HISTORICAL,
                params={
                    "start": chunk.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "end": chunk.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "interval": self.spec.interval,
                    "limit": _MAX_POINTS,
                    "quote": "usd",
                },
                parse=parse_json_array,
                headers=self.headers,
            )
            identity = {
                "id": target.source_asset_id,
                "symbol": target.symbol,
                "name": target.name,
            }
            yield Page(
                number=number,
                raw=raw,
                items=[
                    {**identity, **dict(point)} if isinstance(point, dict) else point
                    for point in body
                ],
                checkpoint={"in_progress": number < total, "next_page": 1},
                total_pages=total,
                watermark=(target.source_asset_id, self.spec.interval, chunk.start, chunk.end),
            )


COINPAPRIKA = Provider(
    name="coinpaprika",
    label="CoinPaprika",
    settings=CoinPaprikaSettings,
    color="#f472b6",
    sources=(
        SourceSpec(
            "coinpaprika",
            SourceKind.MARKET,
            CoinPaprikaSource,
            "schedule_seconds",
            "/tickers?quotes=USD: every active ticker in one array",
        ),
        SourceSpec(
            "coinpaprika_reference",
            SourceKind.REFERENCE,
            CoinPaprikaReferenceSource,
            "reference_schedule_seconds",
            "/coins and /contracts/{platform}: every coin and its contracts",
        ),
    ),
    history=CoinPaprikaHistorySource,
    description="CoinPaprika v1 (free, or a paid plan with a key)",
)
