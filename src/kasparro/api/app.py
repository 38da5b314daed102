"""The FastAPI application factory.

Nothing happens at import or construction time: engines, the upstream HTTP client, rate
limiters, the run manager and (optionally) the scheduler are created in the lifespan and
closed on shutdown, so ``create_app`` is cheap and side-effect free.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro import __version__
from kasparro.api import docs, errors
from kasparro.api.auth import configured_token
from kasparro.api.config import ApiConfig
from kasparro.api.middleware import RequestContextMiddleware
from kasparro.api.names import fill_enums
from kasparro.api.ratelimit import TokenBuckets
from kasparro.api.reads import build_router
from kasparro.api.routers import (
    assets,
    bench,
    dashboard,
    data,
    discover,
    drift,
    health,
    metrics,
    quarantine,
    runs,
    sources,
    stats,
)
from kasparro.api.runner import RunManager
from kasparro.api.schemas import error_responses
from kasparro.api.state import AppState
from kasparro.identity import api as identity_api
from kasparro.identity.service import IdentityService
from kasparro.rates import api as rates_api
from kasparro.runtime import Runtime

log = structlog.get_logger(__name__)

DESCRIPTION = """
Crypto market data from aggregators (CoinGecko, CoinPaprika), exchanges (Binance, Coinbase,
Kraken, OKX), CSV files and source plugins (`GET /api/v1/sources` lists those of this
server), normalized into canonical assets.

* **Decimals** are JSON strings with the exact value in plain notation
  (`"0.0000000001"`, never `1e-10`): parse them with a decimal type, not a float.
* **Timestamps** are UTC, RFC 3339 with microseconds (`2024-05-01T12:00:00.000000Z`).
* **Pagination** is keyset-based: follow `meta.next_cursor`; pages never skip or repeat
  rows while new data arrives.
* **Errors** always have the shape
  `{"error": {"code", "message", "details", "request_id"}}`; unknown query parameters
  are rejected with 422.
* Every response carries `X-Request-ID` (yours, sanitized, or a generated one).
* **Limits**: a URL path over 1 KiB or a query string over 48 KiB is answered 414, a
  request body over 64 KiB (declared or chunked) 413, both in the error shape; each is
  above the largest request the schema allows.
"""

TAGS = [
    {"name": "data", "description": "Normalized observations."},
    {"name": "assets", "description": "Canonical assets and their history."},
    {"name": "runs", "description": "ETL runs: history, comparison, triggering."},
    {"name": "stats", "description": "Operational statistics."},
    {"name": "drift", "description": "Schema changes detected in upstream responses."},
    {"name": "quarantine", "description": "Records rejected by validation, kept for review."},
    {
        "name": "rates",
        "description": "The reference rate: one auditable USD price per asset and bucket "
        "from the venues (the aggregators as a fallback), with every input.",
    },
    {"name": "health", "description": "Probes."},
    {"name": "metrics", "description": "Prometheus."},
]


def create_app(
    runtime: Runtime,
    *,
    with_scheduler: bool = False,
    engine: AsyncEngine | None = None,
    config: ApiConfig | None = None,
) -> FastAPI:
    """Build the API. ``engine``: use this engine for reads and writes and leave it open
    (tests, embedding); otherwise one reader and one writer engine are created per app."""
    settings = runtime.settings
    cfg = config or ApiConfig.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        read_engine = engine or runtime.engine(reader=True)
        write_engine = engine or runtime.engine(pool_size=5)
        reads = build_router(
            runtime.read_database("primary", read_engine),
            runtime.read_replicas(),
            cache_entries=cfg.page_cache_entries,
            policy=settings.read_policy,
            fallback=settings.read_fallback,
            retry_seconds=settings.read_retry_seconds,
        )
        http = runtime.http_client()
        limiters = runtime.limiters()
        run_manager = RunManager(
            write_engine,
            read_engine,
            runtime.catalog,
            http=http,
            limiters=limiters,
            ledger=runtime.ledger,
        )
        state = AppState(
            runtime=runtime,
            config=cfg,
            read_engine=read_engine,
            write_engine=write_engine,
            reads=reads,
            http=http,
            limiters=limiters,
            runs=run_manager,
            identity=IdentityService.for_registry(write_engine, runtime.registry),
            scheduler=None,
        )
        try:
            if with_scheduler:
                # Imported only when wanted: the API must not depend on the scheduler module.
                from kasparro.scheduler import Scheduler

                state.scheduler = Scheduler(
                    write_engine,
                    runtime.catalog,
                    http=http,
                    limiters=limiters,
                    ledger=runtime.ledger,
                )
                await state.scheduler.start()
            app.state.kasparro = state
            log.info(
                "api_started",
                dialect=state.dialect,
                read_replicas=[t.where for t in reads.replicas],
                scheduler=with_scheduler,
                triggers_enabled=app.state.api_token is not None,
            )
            yield
        finally:
            if state.scheduler is not None:
                try:
                    await state.scheduler.stop(timeout=cfg.shutdown_timeout_seconds)
                except Exception as exc:
                    log.error("scheduler_stop_failed", error=f"{type(exc).__name__}: {exc}")
            await run_manager.shutdown(cfg.shutdown_timeout_seconds)
            await http.aclose()
            await reads.close(dispose=engine is None)
            if engine is None:
                await write_engine.dispose()
            log.info("api_stopped")

    app = FastAPI(
        title="Kasparro API",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        # Served by kasparro.api.docs from packaged assets: FastAPI's load them from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    # Per-app, not per-lifespan: read by dependencies; never contains the token in clear
    # anywhere it could be logged (bytes compared with hmac.compare_digest only).
    app.state.api_token = configured_token(settings)
    app.state.trigger_buckets = TokenBuckets(cfg.trigger_rate_per_minute, cfg.trigger_burst)
    app.state.config = cfg
    errors.install(app)
    docs.install(app)
    app.add_middleware(
        RequestContextMiddleware,
        registry=runtime.registry,
        max_query_string_bytes=cfg.max_query_string_bytes,
        max_body_bytes=cfg.max_body_bytes,
    )
    for router in (
        data.router,
        discover.router,  # before assets: /assets/{asset_id} would claim /assets/top
        assets.router,
        runs.router,
        stats.router,
        sources.router,
        drift.router,
        quarantine.router,
        identity_api.router,
        rates_api.hot_router,
        rates_api.router,
        health.router,
        dashboard.router,
        metrics.router,
    ):
        # The middleware answers 414 on every route (query string too long): document it there
        # (413, a body too large, by each operation that takes a body: a test checks them).
        app.include_router(router, responses=error_responses(414))
    if cfg.bench_endpoints:
        app.include_router(bench.make_router(cfg.bench_constant_bytes))
    _document_source_names(app, runtime)
    return app


def _document_source_names(app: FastAPI, runtime: Runtime) -> None:
    """Source-name parameters are documented with this app's registry (plugins included)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = fill_enums(build(), runtime.registry)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
