"""Core runtime configuration, read once at the composition root and passed down.

Each provider's own settings (base URL, key, budget, schedule, page size...) are declared with
its sources (``sources.config``) and read from ``KASPARRO_<PROVIDER>_*`` variables.

Every value comes from ``KASPARRO_*`` environment variables or an optional ``.env`` file.
Nothing here performs I/O at import time.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KASPARRO_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        default="sqlite+aiosqlite:///./kasparro.db",
        description="SQLite (the embedded default) or PostgreSQL: "
        "`postgresql+asyncpg://user@host:5432/db` (`postgresql://` works too)",
    )
    # A password holding "@" or "/" cannot be written into a URL as is (docker-compose.yml
    # passes it this way).
    database_password: SecretStr | None = Field(
        default=None,
        description="replaces the URL's password, verbatim (no escaping of `@`, `/`, `:` or "
        "`%`); never printed",
    )
    # Physical replicas copy the primary's roles, so KASPARRO_DATABASE_PASSWORD applies to
    # them too. Only the API reads there; run state is read on the primary (docs/scaling.md).
    read_database_url: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="PostgreSQL streaming replicas (hot standbys) the API reads market data "
        "from, comma-separated; writes, leases, checkpoints and run state stay on "
        "KASPARRO_DATABASE_URL (KASPARRO_DATABASE_PASSWORD applies to them too); unset: "
        "every read goes to the primary",
    )
    read_policy: Literal["failover", "spread"] = Field(
        default="failover",
        description="several read URLs: `failover` reads from the first that answers, "
        "`spread` takes turns among those that answer",
    )
    read_fallback: Literal["primary", "fail"] = Field(
        default="primary",
        description="no read replica answers: `primary` reads from KASPARRO_DATABASE_URL, "
        "`fail` answers 503",
    )
    read_retry_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=5.0,
        description="a read replica that failed is tried again after this long",
    )
    lake_dir: str = Field(
        default="./lake",
        description="where `kasparro export` writes the Parquet lake (`--to` overrides it)",
    )
    # A page with more (CoinPaprika's /tickers is one ~50k-item array) is loaded in several
    # transactions, so memory and lock time stay bounded; the checkpoint advances with the
    # page's last batch only. Smaller pages that are ready together (the producer got ahead
    # of the database) share one transaction.
    load_batch_rows: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=2000, description="the most items one transaction commits (1-100000)"
    )

    http_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        default=20.0, description="per request"
    )
    http_max_attempts: Annotated[int, Field(ge=1, le=20)] = Field(
        default=6,
        description="attempts per request (429, 5xx, timeouts and bad bodies are retried)",
    )
    http_max_retry_seconds: Annotated[float, Field(gt=0)] = Field(
        default=180.0, description="the most a request may take with its retries"
    )
    http_backoff_initial_seconds: Annotated[float, Field(ge=0)] = Field(
        default=1.0, description="first backoff (exponential, with jitter)"
    )
    http_backoff_max_seconds: Annotated[float, Field(ge=0)] = Field(
        default=30.0, description="longest backoff"
    )
    http_max_retry_after_seconds: Annotated[float, Field(gt=0)] = Field(
        default=130.0,
        description="a Retry-After longer than this fails the request instead of sleeping",
    )

    raw_retention_days: Annotated[int, Field(ge=0)] = Field(
        default=30,
        description="raw payloads older than this are purged after each run (0 keeps all)",
    )
    # Retention per tier (kasparro.lake.retention.retire): raw rows leave the primary only
    # once the lake holds them; rollups outlive them (daily ones are kept for ever).
    observation_retention_days: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="raw observations older than this many days are deleted after each run "
        "once `kasparro export` has put them in the lake (never before); 0 keeps all",
    )
    hourly_rollup_retention_days: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="hourly rollups older than this many days (at least the observations' "
        "retention) are deleted after each run; daily rollups are kept; 0 keeps all",
    )
    lease_ttl_seconds: Annotated[float, Field(gt=1)] = Field(
        default=60.0, description="a run's lease expires this long after its last heartbeat"
    )

    api_token: SecretStr | None = Field(
        default=None,
        description="bearer token of the state-changing endpoints; **unset: they are "
        "disabled** (fail closed)",
    )
    api_host: str = Field(default="127.0.0.1", description="bind address (`--host`)")
    api_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        default=8000, description="port (`--port`)"
    )
    api_trigger_rate_per_minute: Annotated[float, Field(gt=0)] = Field(
        default=6.0, description="triggers per minute per client (token bucket)"
    )
    api_trigger_burst: Annotated[int, Field(ge=1)] = Field(
        default=3, description="token bucket size"
    )
    # Includes waiting for a pooled connection: under heavy read load (64 connections) a 2 s
    # budget produced false 503s while PostgreSQL was fine (scripts/loadtest.py).
    api_health_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = Field(
        default=5.0, description="/health answers 503 when the database takes longer"
    )
    api_shutdown_timeout_seconds: Annotated[float, Field(ge=0, le=600)] = Field(
        default=10.0, description="how long shutdown waits for runs to stop at a page boundary"
    )
    api_page_cache_entries: Annotated[int, Field(ge=0)] = Field(
        default=512, description="rendered pages kept while the data is unchanged (0 disables)"
    )
    bench_endpoints: bool = Field(
        default=False, description="benchmark-only ceiling endpoint; never enable in production"
    )
    bench_constant_bytes: Annotated[int, Field(ge=16, le=16 * 1024 * 1024)] = Field(
        default=4096, description="its body size"
    )

    # Listings change daily at most; the free CoinPaprika plan counts calls per month.
    reference_refresh_seconds: Annotated[float, Field(ge=0)] = Field(
        default=86400.0,
        description="reference data (coin lists, contracts) is fetched again once older "
        "than this (0: every run); each provider says how often it is checked",
    )
    schedule_retry_base_seconds: Annotated[float, Field(gt=0)] = Field(
        default=30.0,
        description="a failed scheduled run is retried after min(interval, base x 2^(failures-1))",
    )
    schedule_enabled_sources: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="comma-separated sources the scheduler runs; unset: every source "
        "that declares a schedule (`kasparro sources`)",
    )
    # KASPARRO_<PROVIDER>_<FIELD> variables are read by each provider's own settings
    # (sources.config); these override them.
    sources: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='provider settings as JSON (`{"coingecko": {"max_coins": 250}}`); '
        "they win over KASPARRO_<PROVIDER>_* variables; a key the provider does not have is "
        "an error",
    )

    fail_at: str | None = Field(
        default=None,
        description="failure injection for demos and tests: `coingecko:3` fails that source "
        "at page 3",
    )
    crash_at: str | None = Field(
        default=None,
        description="crash-test hook: SIGKILL at `phase:source:page` (runs/failpoints.py)",
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="DEBUG, INFO, WARNING, ERROR"
    )
    log_json: bool | None = Field(
        default=None, description="JSON log lines; unset: JSON when stderr is not a terminal"
    )

    @field_validator("api_token", "database_password", mode="before")
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

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("schedule_enabled_sources", "read_database_url", mode="before")
    @classmethod
    def _split_names(cls, v: object) -> object:
        if isinstance(v, str):
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @model_validator(mode="after")
    def _apply_database_password(self) -> Settings:
        if self.database_password is not None:
            from sqlalchemy.exc import ArgumentError

            from kasparro.dburl import with_password

            pw = self.database_password.get_secret_value()
            try:
                self.database_url = with_password(self.database_url, pw)
            except ArgumentError:
                raise ValueError("KASPARRO_DATABASE_URL is not a database URL") from None
            try:
                self.read_database_url = [with_password(u, pw) for u in self.read_urls]
            except ArgumentError:
                raise ValueError("KASPARRO_READ_DATABASE_URL is not a database URL") from None
        return self

    @model_validator(mode="after")
    def _replicas_need_postgres(self) -> Settings:
        if not self.read_urls:
            return self
        if self.is_sqlite:
            raise ValueError(
                "KASPARRO_READ_DATABASE_URL: read replicas need PostgreSQL "
                "(KASPARRO_DATABASE_URL is SQLite, which has no replicas: unset it)"
            )
        if any(not u.startswith(("postgresql", "postgres:")) for u in self.read_urls):
            raise ValueError(
                "KASPARRO_READ_DATABASE_URL: every read replica must be a PostgreSQL URL "
                "(postgresql+asyncpg://user@host:5432/db)"
            )
        return self

    @property
    def read_urls(self) -> list[str]:
        return list(self.read_database_url or ())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


_UNDECODED = re.compile(r'value for field "(?P<field>\w+)" from source "(?P<source>\w+)"')


def undecodable_setting(exc: SettingsError, prefix: str) -> str:
    """``exc`` as one line naming the variable (``prefix`` + the field): pydantic-settings
    decodes a list or dict value as JSON before validating anything, and its error names
    only the field and its own source class; the cause says what is wrong."""
    found = _UNDECODED.search(str(exc))
    where = f"{prefix}{found['field'].upper()}" if found else f"a {prefix}* variable"
    if found and found["source"] == "DotEnvSettingsSource":
        where += " (in .env)"  # the environment may hold a valid value that hides it
    cause = exc.__cause__
    if isinstance(cause, json.JSONDecodeError):
        why = f"not valid JSON ({cause.msg}: line {cause.lineno} column {cause.colno})"
    else:
        lines = str(cause or exc).strip().splitlines()
        why = lines[0][:200] if lines else type(cause or exc).__name__
    return f"{where}: {why}"
