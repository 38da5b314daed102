"""Response models of ``/assets/top`` and ``/assets/search``, for the OpenAPI document only
(conventions as in ``kasparro.api.schemas``: decimals are exact strings)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kasparro.api.schemas import DECIMAL_DOC, TS, AssetRef, DecimalStr


class ShownQuote(BaseModel):
    observed_at: str
    price_usd: DecimalStr | None = Field(description=DECIMAL_DOC)
    market_cap_usd: DecimalStr | None = Field(description=DECIMAL_DOC)
    current: bool = Field(description="Compared in `spread` (observed recently enough).")


class Excluded(BaseModel):
    source: str
    reason: str = Field(description="`no quote`, `no price` or `not current: ...`.")


class Spread(BaseModel):
    pct: DecimalStr | None = Field(
        description="(max - min) / min of the compared prices, in percent, exact, rounded to "
        "4 decimals; null when fewer than two current quotes."
    )
    compared: list[str] = Field(description="The sources whose quotes the spread compares.")
    excluded: list[Excluded] = Field(description="Shown sources left out, and why.")


class RankedAsset(BaseModel):
    rank: int = Field(description="Position among plausible current quotes (1 = largest cap).")
    asset: AssetRef
    source_asset_id: str = Field(description="The rank_by source's id of the coin.")
    upstream_rank: int | None = Field(description="The rank the source itself reported.")
    price_usd: DecimalStr | None = Field(description=DECIMAL_DOC)
    market_cap_usd: DecimalStr = Field(description="The rank_by source's market cap.")
    observed_at: str
    quotes: dict[str, ShownQuote] = Field(description="Latest quote of each shown source.")
    spread: Spread


class CapFlag(BaseModel):
    code: Literal["supply", "turnover"]
    message: str


class CapAnomaly(BaseModel):
    asset: AssetRef
    source: str
    source_asset_id: str
    upstream_rank: int | None
    observed_at: str
    price_usd: DecimalStr | None = Field(description=DECIMAL_DOC)
    market_cap_usd: DecimalStr = Field(description=DECIMAL_DOC)
    volume_24h_usd: DecimalStr | None = Field(description=DECIMAL_DOC)
    circulating_supply: DecimalStr | None = Field(description=DECIMAL_DOC)
    flags: list[CapFlag] = Field(description="Why the cap is not believable.")


class MarketSummary(BaseModel):
    quotes: int = Field(description="Current quotes of the rank_by source (the whole market).")
    market_cap_usd: DecimalStr = Field(description="Their summed cap (with a volume).")
    volume_24h_usd: DecimalStr = Field(description="Their summed 24 h volume (with a cap).")


class TopAssets(BaseModel):
    rank_by: str
    sources: list[str] = Field(description="The shown sources (quotes and spread).")
    as_of: str | None = Field(description="The rank_by source's freshest quote.")
    current_window_s: int = Field(description="How old a quote may be, before the freshest.")
    market: MarketSummary
    ranked: list[RankedAsset]
    anomalies: list[CapAnomaly] = Field(
        description="Assets whose implausible cap would have put them on this list; not ranked."
    )
    method: dict[str, str]


class TopAssetsResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data": {
                        "rank_by": "coingecko",
                        "sources": ["coingecko", "coinpaprika"],
                        "as_of": TS,
                        "current_window_s": 3600,
                        "market": {
                            "quotes": 1000,
                            "market_cap_usd": "5141966072595",
                            "volume_24h_usd": "119401858925.5",
                        },
                        "ranked": [
                            {
                                "rank": 1,
                                "asset": {"id": 1, "symbol": "btc", "name": "Bitcoin"},
                                "source_asset_id": "bitcoin",
                                "upstream_rank": 2,
                                "price_usd": "38938",
                                "market_cap_usd": "738310755630",
                                "observed_at": TS,
                                "quotes": {
                                    "coingecko": {
                                        "observed_at": TS,
                                        "price_usd": "38938",
                                        "market_cap_usd": "738310755630",
                                        "current": True,
                                    }
                                },
                                "spread": {
                                    "pct": "0.1234",
                                    "compared": ["coingecko", "coinpaprika"],
                                    "excluded": [],
                                },
                            }
                        ],
                        "anomalies": [],
                        "method": {"ranking": "…", "spread": "…", "plausibility": "…"},
                    },
                    "meta": {"request_id": "…", "api_latency_ms": 2.1},
                }
            ]
        }
    )
    data: TopAssets
    meta: dict[str, Any]


class FoundAsset(BaseModel):
    id: int
    symbol: str
    name: str
    match: Literal["exact", "symbol_prefix", "prefix"]
    markets: list[str] = Field(description="Sources quoting the asset (latest observations).")


class SearchResponse(BaseModel):
    data: list[FoundAsset]
    meta: dict[str, Any]
