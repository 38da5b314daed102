"""Response and request models, for the OpenAPI document (``/docs``) only.

Hot endpoints serialize with orjson directly and never validate against these models; tests
check that real responses match them. Conventions:

- Decimal values are JSON **strings** holding the exact decimal in plain notation
  (``"0.0000000001"``, never ``1e-10``): JSON numbers become binary floats in most clients.
- Timestamps are RFC 3339 UTC strings with microseconds: ``2024-05-01T12:00:00.000000Z``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DecimalStr = str
TS = "2024-05-01T12:00:00.000000Z"
DECIMAL_DOC = "Exact decimal as a string in plain notation (never exponent, never a float)."


def _ex(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `validation_error`.")
    message: str = Field(description="Human-readable explanation.")
    details: Any = Field(None, description="Structured context (e.g. per-parameter problems).")
    request_id: str | None = None


class ErrorResponse(BaseModel):
    model_config = _ex(
        {
            "error": {
                "code": "validation_error",
                "message": "unknown query parameter: 'sybmol'; allowed: asset_id, cursor, ...",
                "details": [
                    {
                        "loc": "query.sybmol",
                        "message": "unknown parameter",
                        "type": "extra_forbidden",
                    }
                ],
                "request_id": "4f6c0a0e8f9b4a53b0c1f0b8e0f2d6a1",
            }
        }
    )
    error: ErrorDetail


class AssetRef(BaseModel):
    id: int
    symbol: str = Field(description="Canonical symbol (as first seen).")
    name: str


_OBS_EXAMPLE = {
    "id": 1042,
    "asset_id": 1,
    "symbol": "BTC",
    "name": "Bitcoin",
    "source": "coinpaprika",
    "source_asset_id": "btc-bitcoin",
    "observed_at": TS,
    "price_usd": "63012.55",
    "market_cap_usd": "1241234567890",
    "volume_24h_usd": "23456789012.5",
    "change_24h_pct": "-1.37",
    "market_cap_rank": 1,
    "circulating_supply": "19700000",
    "total_supply": "19700000",
    "max_supply": "21000000",
    "run_id": 7,
    "ingested_at": "2024-05-01T12:00:03.123456Z",
    "asset": {"id": 1, "symbol": "btc", "name": "Bitcoin"},
}


class Observation(BaseModel):
    model_config = _ex(_OBS_EXAMPLE)
    id: int = Field(description="Observation id (stable; the pagination tie-breaker).")
    asset_id: int = Field(description="Canonical asset id.")
    symbol: str = Field(description="Symbol as reported by the source (trimmed).")
    name: str = Field(description="Name as reported by the source.")
    source: str
    source_asset_id: str = Field(description="The source's own id for the coin.")
    observed_at: str = Field(description="When the source last updated the value (UTC).")
    price_usd: DecimalStr | None = Field(description=DECIMAL_DOC)
    market_cap_usd: DecimalStr | None = Field(description=DECIMAL_DOC)
    volume_24h_usd: DecimalStr | None = Field(description=DECIMAL_DOC)
    change_24h_pct: DecimalStr | None = Field(description=DECIMAL_DOC)
    market_cap_rank: int | None
    circulating_supply: DecimalStr | None = Field(description=DECIMAL_DOC)
    total_supply: DecimalStr | None = Field(description=DECIMAL_DOC)
    max_supply: DecimalStr | None = Field(description=DECIMAL_DOC)
    run_id: int = Field(description="The run that loaded this observation.")
    ingested_at: str
    asset: AssetRef = Field(description="The canonical asset this observation resolved to.")


class PageMeta(BaseModel):
    request_id: str | None
    api_latency_ms: float | None = Field(description="Server-side time to build the page.")
    count: int
    limit: int
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
    has_more: bool
    sort: str
    order: Literal["asc", "desc"]


class DataMeta(PageMeta):
    latest: bool


class DataResponse(BaseModel):
    model_config = _ex(
        {
            "data": [_OBS_EXAMPLE],
            "meta": {
                "request_id": "4f6c0a0e8f9b4a53b0c1f0b8e0f2d6a1",
                "api_latency_ms": 1.84,
                "count": 1,
                "limit": 100,
                "next_cursor": "q1x...",
                "has_more": True,
                "sort": "observed_at",
                "order": "desc",
                "latest": False,
            },
        }
    )
    data: list[Observation]
    meta: DataMeta


class HistoryResponse(BaseModel):
    data: list[Observation]
    meta: PageMeta


class Mapping(BaseModel):
    source: str
    source_asset_id: str
    method: str = Field(
        description="How this source id was linked to the asset: `override` (curated "
        "table), `contract` (same contract address on the same chain), `symbol_name`, "
        "`market_cap_tiebreak`, `manual` (a reviewer's decision), `new` (no counterpart "
        "found) or `ambiguous` (its key was held by another id of the same source)."
    )
    confidence: DecimalStr | None
    note: str | None
    source_symbol: str | None
    source_name: str | None
    decided_at: str
    evidence: dict[str, Any] | None = Field(
        description="What the link rests on: the shared contracts, the names compared, "
        "the market caps and ranks of a tie-break, a reviewer's note."
    )


class LatestQuote(BaseModel):
    observation_id: int
    source: str
    source_asset_id: str
    observed_at: str
    price_usd: DecimalStr | None = Field(description=DECIMAL_DOC)
    market_cap_usd: DecimalStr | None
    volume_24h_usd: DecimalStr | None
    change_24h_pct: DecimalStr | None
    market_cap_rank: int | None
    run_id: int


_ASSET_EXAMPLE = {
    "id": 1,
    "symbol": "btc",
    "name": "Bitcoin",
    "identity_key": "btc:bitcoin",
    "created_at": TS,
    "mappings": [
        {
            "source": "coingecko",
            "source_asset_id": "bitcoin",
            "method": "override",
            "confidence": "1",
            "note": None,
            "source_symbol": "btc",
            "source_name": "Bitcoin",
            "decided_at": TS,
            "evidence": {"curated_key": "curated:bitcoin"},
        }
    ],
    "merged_from": [],
    "latest": {
        "coingecko": {
            "observation_id": 1040,
            "source": "coingecko",
            "source_asset_id": "bitcoin",
            "observed_at": TS,
            "price_usd": "63010.1",
            "market_cap_usd": "1241000000000",
            "volume_24h_usd": "23000000000",
            "change_24h_pct": "-1.4",
            "market_cap_rank": 1,
            "run_id": 6,
        }
    },
}


class MergedAsset(BaseModel):
    asset_id: int
    at: str
    relink_id: int | None


class Asset(BaseModel):
    model_config = _ex(_ASSET_EXAMPLE)
    id: int
    symbol: str
    name: str
    identity_key: str
    created_at: str
    mappings: list[Mapping] = Field(description="Every source id mapped to this asset, and how.")
    latest: dict[str, LatestQuote] = Field(description="Latest observation per source.")
    merged_from: list[MergedAsset] = Field(
        default_factory=list,
        description="Assets merged into this one by re-linking (one asset detail only); "
        "their ids redirect here (308).",
    )


class AssetsResponse(BaseModel):
    data: list[Asset]
    meta: PageMeta


class AssetResponse(BaseModel):
    data: Asset
    meta: dict[str, Any]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Bad request",
        401: "Missing or invalid bearer token",
        403: "Triggering disabled (KASPARRO_API_TOKEN is not set)",
        404: "Not found",
        308: "Merged asset: follow Location to the asset it was merged into",
        409: "Source already running",
        413: "Request body too large",
        414: "URL path or query string too long",
        422: "Invalid parameters",
        429: "Rate limited",
        503: "Database unavailable",
    }
    return {
        s: {"model": ErrorResponse, "description": descriptions.get(s, "Error")} for s in statuses
    }


class Candle(BaseModel):
    bucket_start: str
    source: str
    open: DecimalStr = Field(description="Price of the bucket's first observation.")
    high: DecimalStr
    low: DecimalStr
    close: DecimalStr = Field(description="Price of the bucket's last observation.")
    market_cap_usd: DecimalStr | None = Field(description="The close's market cap.")
    volume_24h_usd: DecimalStr | None = Field(description="The close's 24 h volume.")
    observations: int
    first_observed_at: str
    last_observed_at: str


class CandlesResponse(BaseModel):
    data: list[Candle]
    meta: PageMeta
