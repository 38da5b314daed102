"""Runtime configuration, read once at an entry point and passed down.

Every value comes from ``KASPARRO_*`` environment variables or an optional ``.env`` file.
Nothing here performs I/O at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

COINGECKO_PUBLIC_URL = "https://api.coingecko.com/api/v3"
COINPAPRIKA_PUBLIC_URL = "https://api.coinpaprika.com/v1"
SAMPLE_CSV = Path(__file__).parent / "data" / "sample_markets.csv"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KASPARRO_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite+aiosqlite:///./kasparro.db"
    # Replaces the URL's password, verbatim (no URL escaping needed): a password holding
    # "@" or "/" cannot be written into a URL as is (docker-compose.yml passes it this way).
    database_password: SecretStr | None = None

    coingecko_base_url: str = COINGECKO_PUBLIC_URL
    # Sent as x-cg-demo-api-key (public host) or x-cg-pro-api-key (pro host); never logged.
    coingecko_api_key: SecretStr | None = None
    # How many coins (by market cap) to pull: an integer or "all" (page until an empty page).
    coingecko_max_coins: int | Literal["all"] = 1000
    coingecko_per_page: Annotated[int, Field(ge=1, le=250)] = 250
    # Free/keyless tier is IP-shared and historically 5-30 calls/min: budget conservatively.
    coingecko_requests_per_minute: Annotated[float, Field(gt=0)] = 10.0
    # How far back /coins/{id}/market_chart/range serves: "demo" (keyless and Demo keys: the
    # past 365 days), "basic" (2 years), "analyst" (Analyst and above: everything).
    coingecko_plan: Literal["demo", "basic", "analyst"] = "demo"

    coinpaprika_base_url: str = COINPAPRIKA_PUBLIC_URL
    coinpaprika_api_key: SecretStr | None = None
    # Free tier allows 10 req/s but only 20k calls/month: one /tickers call per run is all we need.
    coinpaprika_requests_per_minute: Annotated[float, Field(gt=0)] = 60.0
    # What /tickers/{id}/historical serves depends on the plan (see its OpenAPI table).
    coinpaprika_plan: Literal["free", "starter", "pro", "business", "enterprise"] = "free"

    # Default: the sample file shipped with the package (demo data, clearly labelled as such).
    csv_paths: Annotated[list[Path], NoDecode] = Field(default_factory=lambda: [SAMPLE_CSV])
    csv_batch_rows: Annotated[int, Field(ge=1, le=5000)] = 1000
    # The most items one transaction commits. A page with more (CoinPaprika's /tickers is one
    # ~50k-item array) is loaded in several transactions, so memory and lock time stay
    # bounded; the checkpoint advances with the page's last batch only. Smaller pages that
    # are ready together (the producer got ahead of the database) share one transaction.
    load_batch_rows: Annotated[int, Field(ge=1, le=100_000)] = 2000

    http_timeout_seconds: Annotated[float, Field(gt=0)] = 20.0
    http_max_attempts: Annotated[int, Field(ge=1, le=20)] = 6
    http_max_retry_seconds: Annotated[float, Field(gt=0)] = 180.0
    http_backoff_initial_seconds: Annotated[float, Field(ge=0)] = 1.0
    http_backoff_max_seconds: Annotated[float, Field(ge=0)] = 30.0
    # A Retry-After longer than this fails the attempt budget instead of sleeping for minutes.
    http_max_retry_after_seconds: Annotated[float, Field(gt=0)] = 130.0

    raw_retention_days: Annotated[int, Field(ge=0)] = 30

    lease_ttl_seconds: Annotated[float, Field(gt=1)] = 60.0

    api_token: SecretStr | None = None
    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=0, le=65535)] = 8000
    # Triggering runs is rate-limited per client (token bucket).
    api_trigger_rate_per_minute: Annotated[float, Field(gt=0)] = 6.0
    api_trigger_burst: Annotated[int, Field(ge=1)] = 3
    # Includes waiting for a pooled connection: under heavy read load (64 connections) a 2 s
    # budget produced false 503s while PostgreSQL was fine (scripts/loadtest.py).
    api_health_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    api_shutdown_timeout_seconds: Annotated[float, Field(ge=0, le=600)] = 10.0
    api_page_cache_entries: Annotated[int, Field(ge=0)] = 512  # 0 disables the page cache
    # Benchmark-only ceiling endpoint (/api/v1/_bench/constant); never enable in production.
    bench_endpoints: bool = False
    bench_constant_bytes: Annotated[int, Field(ge=16, le=16 * 1024 * 1024)] = 4096

    # Scheduler intervals (seconds). CoinGecko caches /coins/markets for 30 s, CoinPaprika
    # refreshes tickers about every 5 min on the free plan: polling faster buys nothing.
    schedule_coingecko_seconds: Annotated[float, Field(gt=0)] = 600.0
    schedule_coinpaprika_seconds: Annotated[float, Field(gt=0)] = 600.0
    schedule_csv_seconds: Annotated[float, Field(gt=0)] = 300.0
    # Reference data (coin lists and contracts, for cross-source identity) is checked this
    # often and fetched again once the stored snapshot is older than reference_refresh_seconds
    # (listings change daily at most; the free CoinPaprika plan counts calls per month).
    schedule_coingecko_reference_seconds: Annotated[float, Field(gt=0)] = 3600.0
    schedule_coinpaprika_reference_seconds: Annotated[float, Field(gt=0)] = 3600.0
    reference_refresh_seconds: Annotated[float, Field(ge=0)] = 86400.0
    # A failed scheduled run is retried after min(interval, base * 2**(failures-1)).
    schedule_retry_base_seconds: Annotated[float, Field(gt=0)] = 30.0
    schedule_enabled_sources: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "coingecko",
            "coinpaprika",
            "csv",
            "coingecko_reference",
            "coinpaprika_reference",
        ]
    )

    # Deterministic failure injection for demos and tests: "source:page" (e.g. "coingecko:3").
    fail_at: str | None = None

    # Crash-test hook: SIGKILL the process at "phase:source:page" (see runs/pipeline.py).
    crash_at: str | None = None

    log_level: str = "INFO"
    log_json: bool | None = None  # None: JSON when stderr is not a TTY

    @field_validator(
        "api_token", "coingecko_api_key", "coinpaprika_api_key", "database_password", mode="before"
    )
    @classmethod
    def _blank_secret_is_unset(cls, v: object) -> object:
        # `KASPARRO_API_TOKEN=` in a .env must mean "no token" (fail closed), not "empty token".
        if isinstance(v, str) and not v.strip():
            return None
        return v

    @field_validator("bench_endpoints", mode="before")
    @classmethod
    def _blank_flag_is_false(cls, v: object) -> object:
        return False if isinstance(v, str) and not v.strip() else v

    @field_validator("csv_paths", mode="before")
    @classmethod
    def _split_paths(cls, v: object) -> object:
        if isinstance(v, str):
            return [Path(p.strip()) for p in v.replace(";", ",").split(",") if p.strip()]
        return v

    @field_validator("schedule_enabled_sources", mode="before")
    @classmethod
    def _split_names(cls, v: object) -> object:
        if isinstance(v, str):
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator("coingecko_max_coins", mode="before")
    @classmethod
    def _max_coins(cls, v: object) -> object:
        if isinstance(v, str) and v.strip().lower() == "all":
            return "all"
        if isinstance(v, str) and not v.strip().isdigit():
            raise ValueError("should be a whole number of coins or 'all'")
        return v

    @model_validator(mode="after")
    def _apply_database_password(self) -> Settings:
        if self.database_password is not None:
            from sqlalchemy.exc import ArgumentError

            from kasparro.store.engine import with_password

            try:
                pw = self.database_password.get_secret_value()
                self.database_url = with_password(self.database_url, pw)
            except ArgumentError:
                raise ValueError("KASPARRO_DATABASE_URL is not a database URL") from None
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def coingecko_key_header(self) -> dict[str, str]:
        if self.coingecko_api_key is None:
            return {}
        key = self.coingecko_api_key.get_secret_value()
        name = "x-cg-pro-api-key" if "pro-api." in self.coingecko_base_url else "x-cg-demo-api-key"
        return {name: key}

    def coinpaprika_key_header(self) -> dict[str, str]:
        if self.coinpaprika_api_key is None:
            return {}
        return {"Authorization": self.coinpaprika_api_key.get_secret_value()}
