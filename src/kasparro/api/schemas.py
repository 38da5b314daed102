"""Response and request models, for the OpenAPI document (``/docs``) only.

Hot endpoints serialize with orjson directly and never validate against these models; tests
check that real responses match them. Conventions:

- Decimal values are JSON **strings** holding the exact decimal in plain notation
  (``"0.0000000001"``, never ``1e-10``): JSON numbers become binary floats in most clients.
- Timestamps are RFC 3339 UTC strings with microseconds: ``2024-05-01T12:00:00.000000Z``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from kasparro.api.params import BackfillName, TriggerName
from kasparro.sources.history import WHEN_PATTERN

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


_RUN_EXAMPLE = {
    "id": 7,
    "source": "coingecko",
    "trigger": "schedule",
    "status": "success",
    "started_at": TS,
    "finished_at": "2024-05-01T12:00:41.500000Z",
    "heartbeat_at": "2024-05-01T12:00:41.000000Z",
    "owner": "host:1234:ab12cd34",
    "resumed_from_run_id": None,
    "start_page": 1,
    "pages": 4,
    "fetched": 1000,
    "loaded": 998,
    "unchanged": 2,
    "rejected": 0,
    "error": None,
    "duration_s": 41.5,
}


class Run(BaseModel):
    model_config = _ex(_RUN_EXAMPLE)
    id: int
    source: str
    trigger: str = Field(description="cli | schedule | api")
    status: str = Field(description="running | success | partial | failed | crashed")
    started_at: str
    finished_at: str | None
    heartbeat_at: str | None
    owner: str | None
    resumed_from_run_id: int | None
    start_page: int
    pages: int
    fetched: int
    loaded: int
    unchanged: int
    rejected: int
    error: str | None
    duration_s: float | None


class RunsResponse(BaseModel):
    data: list[Run]
    meta: dict[str, Any]


class RunResponse(BaseModel):
    data: Run
    meta: dict[str, Any]


class RunCompareResponse(BaseModel):
    model_config = _ex(
        {
            "data": {
                "a": _RUN_EXAMPLE,
                "b": {**_RUN_EXAMPLE, "id": 9, "fetched": 400, "duration_s": 12.0},
                "same_source": True,
                "deltas": {"fetched": {"a": 1000, "b": 400, "delta": -600, "pct": -60.0}},
                "assets": {
                    "basis": "observations loaded by each run",
                    "in_a": 998,
                    "in_b": 400,
                    "in_both": 400,
                    "added_count": 0,
                    "removed_count": 598,
                    "added": [],
                    "removed": [{"asset_id": 812, "symbol": "xyz", "name": "Xyz"}],
                    "lists_truncated": True,
                },
                "price_moves": [
                    {
                        "asset_id": 5,
                        "symbol": "sol",
                        "name": "Solana",
                        "price_a": "140",
                        "price_b": "151.2",
                        "change_pct": "8",
                        "observed_at_a": TS,
                        "observed_at_b": TS,
                    }
                ],
                "anomalies": {
                    "b": {
                        "anomalous": True,
                        "flags": [
                            {
                                "metric": "fetched",
                                "anomalous": True,
                                "explanation": "fetched=400 is 60% below the median "
                                "1000 of 10 previous runs (any number of MADs (MAD is 0) away)",
                            }
                        ],
                    }
                },
            },
            "meta": {"request_id": "…"},
        }
    )
    data: dict[str, Any]
    meta: dict[str, Any]


class SourceStats(BaseModel):
    last_run: Run | None
    last_run_status: str | None
    last_run_at: str | None
    last_success_at: str | None
    last_failure_at: str | None
    last_duration_s: float | None
    success_rate: float | None = Field(
        description="Share of successful or partial runs among "
        "the last `window` finished runs (0-1)."
    )
    success_rate_window: int
    success_rate_runs: int = Field(description="Finished runs the success rate counts.")
    runs: int
    records: dict[str, int] = Field(description="fetched/loaded/unchanged/rejected totals.")
    checkpoint: dict[str, Any] | None
    next_run_at: str | None
    scheduler: dict[str, Any] | None
    drift_events: int
    drift_occurrences: int
    quarantined_records: int
    quarantine_times_seen: int
    running: bool


class StatsData(BaseModel):
    mode: Literal["demo", "live"] = Field(description="`demo` while the data is emulated.")
    total_records_processed: int
    records: dict[str, int]
    runs: int
    sources: dict[str, SourceStats] = Field(description="Per registered source.")


class StatsResponse(BaseModel):
    model_config = _ex(
        {
            "data": {
                "mode": "live",
                "total_records_processed": 123456,
                "records": {"fetched": 123456, "loaded": 120000, "unchanged": 3400, "rejected": 56},
                "runs": 12,
                "sources": {
                    "coingecko": {
                        "last_run_status": "success",
                        "last_run_at": TS,
                        "last_success_at": TS,
                        "last_failure_at": None,
                        "last_duration_s": 41.5,
                        "success_rate": 1.0,
                        "success_rate_window": 20,
                        "success_rate_runs": 12,
                        "runs": 12,
                        "records": {
                            "fetched": 12000,
                            "loaded": 11900,
                            "unchanged": 100,
                            "rejected": 0,
                        },
                        "checkpoint": {
                            "state": {"next_page": 5, "in_progress": False},
                            "run_id": 7,
                            "updated_at": TS,
                        },
                        "next_run_at": "2024-05-01T12:10:00.000000Z",
                        "scheduler": None,
                        "drift_events": 0,
                        "drift_occurrences": 0,
                        "quarantined_records": 0,
                        "quarantine_times_seen": 0,
                        "running": False,
                        "last_run": _RUN_EXAMPLE,
                    }
                },
            },
            "meta": {"request_id": "…", "api_latency_ms": 3.2},
        }
    )
    data: StatsData
    meta: dict[str, Any]


_DRIFT_EXAMPLE = {
    "id": 3,
    "source": "coingecko",
    "endpoint": "/coins/markets",
    "field": "current_price",
    "kind": "missing",
    "expected": "null|number",
    "observed": None,
    "suggestion": "price",
    "confidence": "0.83",
    "sample": None,
    "sample_truncated": False,
    "count": 250,
    "first_seen_at": TS,
    "last_seen_at": "2024-05-01T12:10:00.000000Z",
    "last_run_id": 8,
}


class DriftEvent(BaseModel):
    model_config = _ex(_DRIFT_EXAMPLE)
    id: int
    source: str
    endpoint: str = Field(description="Upstream endpoint whose records drifted.")
    field: str = Field(description="Field path (dotted for nested objects).")
    kind: Literal["missing", "unexpected", "type_changed"]
    expected: str | None = Field(description="JSON type(s) the contract expects.")
    observed: str | None = Field(description="JSON type(s) seen upstream (latest run).")
    suggestion: str | None = Field(
        description="For `missing`: the unexpected field it was most likely renamed to."
    )
    confidence: DecimalStr | None = Field(
        description="Confidence of `suggestion` (0-1). " + DECIMAL_DOC
    )
    sample: Any = Field(
        description="An offending upstream value (for `unexpected` and `type_changed`), as "
        "JSON; null for `missing`."
    )
    sample_truncated: bool = Field(
        description="The stored sample was cut at 2000 characters: `sample` is then the "
        "truncated JSON text (a string), not a parsed value."
    )
    count: int = Field(description="Occurrences over every run (records affected).")
    first_seen_at: str
    last_seen_at: str
    last_run_id: int | None = Field(description="The run that last saw it.")


class DriftResponse(BaseModel):
    model_config = _ex(
        {
            "data": [_DRIFT_EXAMPLE],
            "meta": {
                "request_id": "4f6c0a0e8f9b4a53b0c1f0b8e0f2d6a1",
                "api_latency_ms": 0.9,
                "count": 1,
                "limit": 50,
                "next_cursor": None,
                "has_more": False,
                "sort": "last_seen_at",
                "order": "desc",
            },
        }
    )
    data: list[DriftEvent]
    meta: PageMeta


_QUARANTINE_EXAMPLE = {
    "id": 41,
    "source": "csv",
    "source_asset_id": "coin-7",
    "reason": "price_usd: not a number: 'n/a'",
    "raw": {"id": "coin-7", "symbol": "C7", "price_usd": "n/a"},
    "first_run_id": 5,
    "last_run_id": 9,
    "seen_count": 3,
    "first_seen_at": TS,
    "last_seen_at": "2024-05-01T14:00:00.000000Z",
}


class QuarantinedRecord(BaseModel):
    model_config = _ex(_QUARANTINE_EXAMPLE)
    id: int
    source: str
    source_asset_id: str | None = Field(description="The source's id, when it could be read.")
    reason: str = Field(description="Why the record was rejected.")
    raw: Any = Field(description="The record as received, as JSON.")
    first_run_id: int
    last_run_id: int = Field(description="The last run that rejected it (`run_id` filter).")
    seen_count: int = Field(description="How many times it was rejected.")
    first_seen_at: str
    last_seen_at: str


class QuarantineResponse(BaseModel):
    model_config = _ex(
        {
            "data": [_QUARANTINE_EXAMPLE],
            "meta": {
                "request_id": "4f6c0a0e8f9b4a53b0c1f0b8e0f2d6a1",
                "api_latency_ms": 0.7,
                "count": 1,
                "limit": 50,
                "next_cursor": None,
                "has_more": False,
                "sort": "id",
                "order": "desc",
            },
        }
    )
    data: list[QuarantinedRecord]
    meta: PageMeta


class TriggerRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"source": "coingecko"}]}
    )
    source: TriggerName = Field(description="A source name or `all`.")
    force: StrictBool = Field(
        default=False,
        description="Refresh reference data even when it is younger than "
        "KASPARRO_REFERENCE_REFRESH_SECONDS (otherwise such a source is `skipped`: fresh).",
    )


class BackfillRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"source": "coingecko", "top": 200, "since": "365d", "interval": "1d"}]
        },
    )
    source: BackfillName = Field(
        default="all", description="Whose history: `coingecko`, `coinpaprika` or `all`."
    )
    asset_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        default_factory=list, max_length=1000, description="Canonical asset ids."
    )
    top: Annotated[int, Field(ge=1, le=10_000)] | None = Field(
        default=None, description="With no asset_ids: the top N coins by market cap (100)."
    )
    since: str = Field(
        default="365d",
        max_length=40,
        pattern=WHEN_PATTERN,
        description="A date, an ISO-8601 timestamp (UTC without an offset) or a duration "
        "before `until` (`365d`, `12h`, `30m`).",
    )
    until: str = Field(
        default="now",
        max_length=40,
        pattern=WHEN_PATTERN,
        description="`now`, a date, an ISO-8601 timestamp or a duration before now.",
    )
    interval: Literal["5m", "1h", "1d"] = "1d"


class TriggeredRun(BaseModel):
    source: str
    status: Literal["started", "skipped", "failed"]
    run_id: int | None
    reason: str | None
    url: str | None


class TriggerResponse(BaseModel):
    model_config = _ex(
        {
            "data": {
                "runs": [
                    {
                        "source": "coingecko",
                        "status": "started",
                        "run_id": 12,
                        "reason": None,
                        "url": "/api/v1/runs/12",
                    }
                ]
            },
            "meta": {"request_id": "…"},
        }
    )
    data: dict[str, list[TriggeredRun]]
    meta: dict[str, Any]


class HealthResponse(BaseModel):
    model_config = _ex(
        {
            "status": "ok",
            "version": "0.1.0",
            "request_id": "…",
            "mode": "live",
            "database": {"status": "ok", "dialect": "postgresql", "latency_ms": 0.9},
            "sources": {
                "coingecko": {
                    "last_run_id": 7,
                    "last_run_status": "success",
                    "last_run_at": TS,
                    "last_finished_at": TS,
                }
            },
            "scheduler": {"in_process": True, "heartbeat_at": TS, "heartbeat_age_s": 2.1},
        }
    )
    status: Literal["ok", "degraded", "unavailable"]
    version: str
    request_id: str | None
    mode: Literal["demo", "live"] | None = Field(
        None,
        description="`demo` while the store holds emulated data (the offline demo), else "
        "`live`; absent when the database cannot be read.",
    )
    database: dict[str, Any]
    sources: dict[str, Any]
    scheduler: dict[str, Any]


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
