"""What the CLI's commands share: the consoles, settings and database checks, the ETL runner
(progress bars on a terminal, JSON lines otherwise) and the summary table."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from kasparro.logs import configure_logging
from kasparro.preflight import check_database, load_runtime
from kasparro.runtime import Runtime
from kasparro.settings import Settings
from kasparro.status import NOT_FAILED

if TYPE_CHECKING:  # imported where used: a mistyped setting is reported without loading them
    from kasparro.runs.result import ProgressCallback, RunResult
    from kasparro.sources.history import BackfillSpec

T = TypeVar("T")

# Not a TTY (CI, pipes): rich would wrap tables at 80 columns and elide statuses.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


def command_runtime(*, database: bool = True, need_schema: bool = False) -> Runtime:
    """The composition root of a command, checked: a bad setting, and with ``database`` an
    unreachable (or, with ``need_schema``, unmigrated) database, raise ``UserError`` before
    any work."""
    runtime = load_runtime()
    settings = runtime.settings
    configure_logging(settings.log_level, settings.log_json)
    if database:
        check_database(settings.database_url, need_schema=need_schema)
    return runtime


def prepare_database(settings: Settings, *, migrate: bool) -> None:
    """Migrate first, or with ``--no-migrate`` require a migrated database."""
    check_database(settings.database_url, need_schema=not migrate)
    if migrate:
        from kasparro.store.migrate import upgrade

        upgrade(settings.database_url)


def with_engine(runtime: Runtime, work: Callable[[Any], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = runtime.engine()
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def run_etl(
    runtime: Runtime,
    names: list[str],
    *,
    force: bool = False,
    backfill: BackfillSpec | None = None,
) -> list[RunResult]:
    from kasparro.heap import settle_heap
    from kasparro.runs.service import run_sources

    async with runtime.etl() as etl:
        settle_heap()
        engine, http, limiters = etl.engine, etl.http, etl.limiters
        if err.is_terminal:
            # The live display redirects sys.stderr while it runs, so log lines (which
            # kasparro.logs writes to sys.stderr as it is at each write) print above the
            # bars instead of through them.
            with Progress(
                TextColumn("{task.description:<12}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=err,
                redirect_stderr=True,
                redirect_stdout=True,
            ) as bar:
                tasks = {n: bar.add_task(n, total=None, detail="") for n in names}

                def progress_for(name: str) -> ProgressCallback:
                    def cb(result: RunResult, page: object) -> None:
                        total = getattr(page, "total_pages", None)
                        bar.update(
                            tasks[name],
                            completed=result.pages,
                            total=total,
                            detail=f"{result.fetched} rows",
                        )

                    return cb

                results = await run_sources(
                    engine,
                    runtime.catalog,
                    names,
                    http=http,
                    limiters=limiters,
                    ledger=runtime.ledger,
                    trigger="cli",
                    progress_for=progress_for,
                    force=force,
                    backfill=backfill,
                )
                # A page count known in advance is an estimate (CoinGecko's is the coins
                # asked for, not those listed): a completed run's bar shows what it did; a
                # failed one's stays where it stopped.
                for name, result in zip(names, results, strict=False):
                    if result.status in NOT_FAILED:
                        bar.update(tasks[name], total=result.pages, completed=result.pages)
                return results
        return await run_sources(
            engine,
            runtime.catalog,
            names,
            http=http,
            limiters=limiters,
            ledger=runtime.ledger,
            trigger="cli",
            force=force,
            backfill=backfill,
            progress_for=_progress_logs if backfill is not None else None,
        )


def _progress_logs(name: str) -> ProgressCallback:
    """Not a terminal: one JSON line per committed page, with an ETA from the pace so far."""
    import time

    import structlog

    log = structlog.get_logger("kasparro.backfill")
    started = time.monotonic()

    def cb(result: RunResult, page: object) -> None:
        total = getattr(page, "total_pages", None) or 0
        elapsed = time.monotonic() - started
        done = result.pages
        eta = elapsed / done * (total - done) if done and total else None
        log.info(
            "backfill_progress",
            source=result.source,
            run_id=result.run_id,
            pages=done,
            total_pages=total,
            rows=result.fetched,
            elapsed_s=round(elapsed, 1),
            eta_s=None if eta is None else round(eta, 1),
        )

    return cb


def print_summary(results: list[RunResult]) -> None:
    # Light borders and collapsed padding: the table fits 91 columns. On a narrower terminal
    # the headers are shortened, never the source names, statuses or numbers (each column is
    # at least as wide as its values).
    table = Table(
        title="Kasparro ETL summary", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    rows = [
        [
            r.source,
            str(r.run_id or "-"),
            r.status,
            str(r.pages),
            str(r.fetched),
            str(r.loaded),
            str(r.unchanged),
            str(r.rejected),
            f"{r.duration_s:.2f}",
        ]
        for r in results
    ]
    columns = ("source", "run", "status", "pages", "fetched", "loaded", "unchanged", "rejected")
    for i, col in enumerate((*columns, "seconds")):
        text = col in ("source", "status")
        table.add_column(
            col,
            justify="left" if text else "right",
            no_wrap=text,
            min_width=max((len(row[i]) for row in rows), default=1),
        )
    for row in rows:
        color = {"success": "green", "partial": "yellow", "fresh": "cyan"}.get(row[2], "red")
        row[2] = f"[{color}]{row[2]}[/{color}]"
        table.add_row(*row)
    out.print(table)
