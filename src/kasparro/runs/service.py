"""Run several sources concurrently; one failing source never stops the others."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.runs.backfill import BackfillError, BackfillSpec
from kasparro.runs.leases import LeaseLedger
from kasparro.runs.pipeline import AlreadyRunning, Pipeline
from kasparro.runs.result import ProgressCallback, RunResult
from kasparro.runs.status import RunStatus
from kasparro.runs.stop import RunStop
from kasparro.settings import Settings
from kasparro.sources.base import SourceContext
from kasparro.sources.http import Limiters
from kasparro.sources.registry import BACKFILLS, SOURCES


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout_seconds),
        headers={"accept": "application/json", "user-agent": "kasparro-etl/0.1"},
        follow_redirects=True,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )


class UnknownSource(ValueError):
    pass


def validate_names(names: list[str] | None) -> list[str]:
    if not names or names == ["all"]:
        return list(SOURCES)
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise UnknownSource(f"unknown source(s): {', '.join(unknown)}; known: {', '.join(SOURCES)}")
    return list(dict.fromkeys(names))


async def run_sources(
    engine: AsyncEngine,
    settings: Settings,
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
    """Run ``names`` concurrently; with ``backfill``, ``names`` are APIs whose history
    sources run that backfill (``<api>_history``)."""
    if backfill is not None:
        unknown = [n for n in names or [] if n not in BACKFILLS]
        if unknown or not names:
            raise UnknownSource(
                f"unknown backfill source(s): {', '.join(unknown)}; known: {', '.join(BACKFILLS)}"
            )
    else:
        names = validate_names(names)
    pipeline = pipeline or Pipeline(engine, settings, ledger=ledger)
    ctx = SourceContext(settings=settings, http=http, limiters=limiters)

    async def one(name: str) -> RunResult:
        run_name = f"{name}_history" if backfill is not None else name
        progress = progress_for(name) if progress_for else None
        try:
            source = BACKFILLS[name](ctx, backfill) if backfill is not None else SOURCES[name](ctx)
            return await pipeline.run(
                source, trigger=trigger, progress=progress, force=force, stop=stop
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

    return list(await asyncio.gather(*(one(n) for n in names or [])))
