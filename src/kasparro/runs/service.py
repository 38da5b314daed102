"""Run several sources concurrently; one failing source never stops the others."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.identity.service import IdentityService
from kasparro.runs.leases import LeaseLedger
from kasparro.runs.pipeline import AlreadyRunning, Pipeline
from kasparro.runs.result import ProgressCallback, RunResult
from kasparro.runs.stop import RunStop
from kasparro.sources.base import Source
from kasparro.sources.catalog import Catalog
from kasparro.sources.history import BackfillError, BackfillSpec
from kasparro.sources.http import Limiters
from kasparro.sources.registry import UnknownSource
from kasparro.status import RunStatus

__all__ = ["UnknownSource", "run_sources"]


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

    async def one(name: str) -> RunResult:
        run_name = f"{name}_history" if backfill is not None else name
        progress = progress_for(name) if progress_for else None
        try:
            return await pipeline.run(
                build(name), trigger=trigger, progress=progress, force=force, stop=stop
            )
        except AlreadyRunning as exc:
            return RunResult(run_id=0, source=run_name, status=RunStatus.SKIPPED, error=str(exc))
        except BackfillError as exc:  # e.g. an interval the CoinPaprika plan does not serve
            return RunResult(run_id=0, source=run_name, status=RunStatus.FAILED, error=str(exc))
        except Exception as exc:  # e.g. database down before the run row existed
            return RunResult(
                run_id=0,
                source=run_name,
                status=RunStatus.FAILED,
                error=f"{type(exc).__name__}: {exc}",
            )

    return list(await asyncio.gather(*(one(n) for n in names)))
