"""Run several sources concurrently; one failing source never stops the others."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.identity.service import IdentityService
from kasparro.query.aliases import listing_sources
from kasparro.runs.leases import LeaseLedger
from kasparro.runs.pipeline import AlreadyRunning, Pipeline
from kasparro.runs.result import ProgressCallback, RunResult
from kasparro.runs.stop import RunStop
from kasparro.sources.base import Source, VenueSource
from kasparro.sources.catalog import Catalog
from kasparro.sources.history import BackfillError, BackfillScope, BackfillSpec, scope_assets
from kasparro.sources.http import Limiters
from kasparro.sources.registry import UnknownSource
from kasparro.status import RunStatus

__all__ = ["UnknownSource", "backfill_scope", "run_sources"]


async def backfill_scope(
    engine: AsyncEngine,
    spec: BackfillSpec,
    providers: Sequence[str],
    *,
    available: Sequence[str] = (),
) -> BackfillScope:
    """Which of ``providers`` a backfill of ``spec`` runs on (``scope_assets``): read before
    any run exists, so that asset ids naming no asset, or assets none of them lists, are
    refused as the caller's mistake (``BackfillError``) instead of failing runs."""
    if not spec.asset_ids:
        return BackfillScope(tuple(providers))
    async with engine.connect() as conn:
        conn = await conn.execution_options(kasparro_read_only=True)
        listed = await listing_sources(conn, spec.asset_ids)
    return scope_assets(spec.asset_ids, listed, providers, available=available)


async def run_sources(
    engine: AsyncEngine,
    catalog: Catalog,
    names: list[str] | None,
    *,
    http: httpx.AsyncClient,
    limiters: Limiters,
    trigger: str = "cli",
    pipeline: Pipeline | None = None,
    progress_for: Callable[[str], ProgressCallback | None] | None = None,
    force: bool = False,
    backfill: BackfillSpec | None = None,
    stop: RunStop | None = None,
    ledger: LeaseLedger | None = None,
) -> list[RunResult]:
    """Run ``names`` concurrently (none: every source); with ``backfill``, ``names`` are
    providers whose history sources run that backfill (``<provider>_history``)."""
    registry = catalog.registry
    check = registry.validate if backfill is None else registry.validate_backfill
    names = check(names)
    pipeline = pipeline or Pipeline(
        engine,
        catalog.settings,
        ledger=ledger,
        identity=IdentityService.for_registry(engine, catalog.registry),
    )

    def build(name: str) -> Source:
        if backfill is not None:
            return catalog.history(name, http, limiters, backfill)
        return catalog.source(name, http, limiters)

    started: dict[str, asyncio.Task[RunResult]] = {}

    async def one(name: str) -> RunResult:
        run_name = f"{name}_history" if backfill is not None else name
        progress = progress_for(name) if progress_for else None
        try:
            if backfill is not None:
                # The CLI and the API check first; this covers any other caller.
                await backfill_scope(engine, backfill, [name])
            source = build(name)
            # A venue's tickers are read with its market list: when both run, the list
            # first (the first run of a fresh store has none yet).
            first = started.get(source.markets_source) if isinstance(source, VenueSource) else None
            if first is not None:
                await asyncio.wait([first])
            return await pipeline.run(
                source, trigger=trigger, progress=progress, force=force, stop=stop
            )
        except AlreadyRunning as exc:
            return RunResult(run_id=0, source=run_name, status=RunStatus.SKIPPED, error=str(exc))
        except BackfillError as exc:  # e.g. an interval the CoinPaprika plan does not serve
            return RunResult(
                run_id=0,
                source=run_name,
                status=RunStatus.FAILED,
                error=str(exc),
                invalid_request=True,
            )
        except Exception as exc:  # e.g. database down before the run row existed
            return RunResult(
                run_id=0,
                source=run_name,
                status=RunStatus.FAILED,
                error=f"{type(exc).__name__}: {exc}",
            )

    for n in names:
        started[n] = asyncio.ensure_future(one(n))
    return list(await asyncio.gather(*started.values()))
