"""Response and request models of the operational endpoints (runs, stats, drift,
quarantine, triggers, health), for the OpenAPI document only; conventions as in
``kasparro.api.schemas``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from kasparro.api.params import BackfillName, TriggerName
from kasparro.api.schemas import DECIMAL_DOC, TS, DecimalStr, PageMeta, _ex
from kasparro.sources.history import WHEN_PATTERN

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
        default="all",
        description="Whose history: a provider that serves it (`GET /api/v1/sources`: "
        "`backfill`) or `all`.",
    )
    # At most 2**53 - 1: a JSON number above it is not exact in most clients (nor in a
    # float-typed `1e18`-style value, which the schema's `integer` admits), so the bound a
    # client can rely on is the one every JSON parser keeps exact.
    asset_ids: list[Annotated[int, Field(ge=1, le=2**53 - 1)]] = Field(
        default_factory=list, max_length=1000, description="Canonical asset ids."
    )
    top: Annotated[int, Field(ge=1, le=10_000)] | None = Field(
        default=None, description="With no asset_ids: the top N coins by market cap (100)."
    )
    # The pattern is published, not enforced here: the parser (``build_spec``) enforces it
    # first, and answers what the CLI says, where pydantic would answer the pattern itself.
    since: str = Field(
        default="365d",
        max_length=40,
        json_schema_extra={"pattern": WHEN_PATTERN},
        description="A date, an ISO-8601 timestamp (UTC without an offset) or a duration "
        "before `until` (`365d`, `12h`, `30m`).",
    )
    until: str = Field(
        default="now",
        max_length=40,
        json_schema_extra={"pattern": WHEN_PATTERN},
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
            "reads": {
                "from": "replica 1",
                "policy": "failover",
                "fallback": "primary",
                "replicas": [
                    {
                        "name": "replica 1",
                        "where": "10.0.0.2:5432/kasparro",
                        "status": "ok",
                        "latency_ms": 0.4,
                        "in_recovery": True,
                        "replay_lag_s": 0.0,
                        "replay_paused": False,
                        "receiving": True,
                    }
                ],
            },
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
    database: dict[str, Any] = Field(description="The primary (KASPARRO_DATABASE_URL).")
    reads: dict[str, Any] = Field(
        description="Where market data is read: `from` (`primary` or a replica's name), "
        "`policy`, `fallback`, and each read replica (KASPARRO_READ_DATABASE_URL) as probed "
        "now: `status`, `latency_ms`, `in_recovery` (a standby), `replay_lag_s`, "
        "`replay_paused`, `receiving` (its WAL receiver runs), or `error`."
    )
    sources: dict[str, Any]
    scheduler: dict[str, Any]
