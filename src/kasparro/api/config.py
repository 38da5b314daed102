"""API tunables, derived once from ``Settings`` in ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from kasparro.settings import Settings


@dataclass(frozen=True, slots=True)
class ApiConfig:
    # Benchmark ceiling endpoint (GET /api/v1/_bench/constant), off unless asked for.
    bench_endpoints: bool = False
    bench_constant_bytes: int = 4096
    # Trigger endpoints: a token bucket per client address.
    trigger_rate_per_minute: float = 6.0
    trigger_burst: int = 3
    # /health must answer promptly even when the database hangs.
    health_timeout_seconds: float = 5.0
    # How long lifespan shutdown waits for cancelled API-triggered runs to record their end.
    shutdown_timeout_seconds: float = 10.0
    # Rendered /data and history pages kept while the database is unchanged (0 disables).
    page_cache_entries: int = 512
    # Request hygiene: 414 beyond the first, 413 beyond the second. Both are above the largest
    # request the schema allows, so they refuse only what no operation could accept: 50
    # symbols of 64 four-byte characters, percent-encoded, are ~39 KB of query; a backfill of
    # 1000 asset ids ~20 KB of body, a decision whose note and ids are all escaped astral
    # characters ~31 KB (tests/api/test_limits.py). Past ~64 KiB of request line uvicorn
    # itself answers 400 before the app runs.
    max_query_string_bytes: int = 48 * 1024
    max_body_bytes: int = 64 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiConfig:
        return cls(
            bench_endpoints=settings.bench_endpoints,
            bench_constant_bytes=settings.bench_constant_bytes,
            trigger_rate_per_minute=settings.api_trigger_rate_per_minute,
            trigger_burst=settings.api_trigger_burst,
            health_timeout_seconds=settings.api_health_timeout_seconds,
            shutdown_timeout_seconds=settings.api_shutdown_timeout_seconds,
            page_cache_entries=settings.api_page_cache_entries,
        )
