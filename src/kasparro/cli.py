"""The ``kasparro`` command line: migrate, run the ETL, run the emulator, serve the API."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kasparro.logs import configure_logging
from kasparro.runs.pipeline import ProgressCallback, RunResult
from kasparro.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
etl_app = typer.Typer(no_args_is_help=True, help="Run the ETL.")
app.add_typer(etl_app, name="etl")

# Not a TTY (CI, pipes): rich would wrap tables at 80 columns and elide statuses.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)

OK_STATUSES = ("success", "partial")


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic) at KASPARRO_DATABASE_URL."""
    from kasparro.store.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    out.print(f"database migrated: {_safe_url(settings.database_url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@etl_app.command("run")
def etl_run(
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="Source name (repeatable); default: all sources."),
    ] = None,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Apply migrations first.")
    ] = True,
) -> None:
    """Run the ETL for the given sources concurrently and print a summary."""
    from kasparro.runs.service import UnknownSource, validate_names

    settings = _settings()
    try:
        names = validate_names(source)
    except UnknownSource as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if migrate_first:
        from kasparro.store.migrate import upgrade

        upgrade(settings.database_url)
    results = asyncio.run(_run_etl(settings, names))
    print_summary(results)
    failed = [r for r in results if r.status not in OK_STATUSES]
    if failed:
        for r in failed:
            err.print(f"[red]{r.source} {r.status}:[/red] {r.error}")
        if any(
            "ConnectError" in (r.error or "") or "connection error" in (r.error or "")
            for r in failed
        ):
            err.print(
                "hint: the upstream APIs are unreachable from here; "
                "`make demo` runs everything offline against the bundled emulator."
            )
        raise typer.Exit(1)


async def _run_etl(settings: Settings, names: list[str]) -> list[RunResult]:
    from kasparro.heap import settle_heap
    from kasparro.runs.service import make_http_client, run_sources
    from kasparro.sources.http import Limiters
    from kasparro.store.engine import create_engine

    engine = create_engine(settings.database_url)
    http = make_http_client(settings)
    settle_heap()
    try:
        if err.is_terminal:
            with Progress(
                TextColumn("{task.description:<12}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=err,
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

                return await run_sources(
                    engine,
                    settings,
                    names,
                    http=http,
                    limiters=Limiters.from_settings(settings),
                    trigger="cli",
                    progress_for=progress_for,
                )
        return await run_sources(
            engine,
            settings,
            names,
            http=http,
            limiters=Limiters.from_settings(settings),
            trigger="cli",
        )
    finally:
        await http.aclose()
        await engine.dispose()


def print_summary(results: list[RunResult]) -> None:
    table = Table(title="Kasparro ETL summary")
    for col in (
        "source",
        "run",
        "status",
        "pages",
        "fetched",
        "loaded",
        "unchanged",
        "rejected",
        "seconds",
    ):
        table.add_column(col, justify="right" if col not in ("source", "status") else "left")
    for r in results:
        color = {"success": "green", "partial": "yellow"}.get(r.status, "red")
        table.add_row(
            r.source,
            str(r.run_id or "-"),
            f"[{color}]{r.status}[/{color}]",
            str(r.pages),
            str(r.fetched),
            str(r.loaded),
            str(r.unchanged),
            str(r.rejected),
            f"{r.duration_s:.2f}",
        )
    out.print(table)


HostOpt = Annotated[str | None, typer.Option("--host", help="Bind address (KASPARRO_API_HOST).")]
PortOpt = Annotated[int | None, typer.Option("--port", help="Port (KASPARRO_API_PORT).")]


def _with_bind(settings: Settings, host: str | None, port: int | None) -> Settings:
    update: dict[str, object] = {}
    if host:
        update["api_host"] = host
    if port:
        update["api_port"] = port
    return settings.model_copy(update=update) if update else settings


def _serve(host: str | None, port: int | None, *, with_scheduler: bool) -> None:
    from kasparro.api.server import serve as serve_api
    from kasparro.store.migrate import upgrade

    settings = _with_bind(_settings(), host, port)
    upgrade(settings.database_url)
    serve_api(settings, with_scheduler=with_scheduler)


@app.command()
def serve(host: HostOpt = None, port: PortOpt = None) -> None:
    """Serve the REST API only (docs at /docs)."""
    _serve(host, port, with_scheduler=False)


@app.command()
def scheduler(
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Apply migrations first.")
    ] = True,
) -> None:
    """Run the scheduler only, until SIGTERM/SIGINT (a second signal aborts running runs)."""
    from kasparro.heap import settle_heap
    from kasparro.scheduler import run_scheduler
    from kasparro.store.migrate import upgrade

    settings = _settings()
    if migrate_first:
        upgrade(settings.database_url)
    settle_heap()
    asyncio.run(run_scheduler(settings))


@app.command()
def up(host: HostOpt = None, port: PortOpt = None) -> None:
    """API and scheduler in one process: the default for a single machine."""
    _serve(host, port, with_scheduler=True)


@app.command()
def emulator(
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    coins: Annotated[int, typer.Option(help="Size of the generated universe.")] = 2500,
    seed: Annotated[int, typer.Option(help="Universe seed (deterministic).")] = 1,
    cg_rate_limit: Annotated[
        str, typer.Option(help="CoinGecko requests/minute before 429 ('none' = unlimited).")
    ] = "none",
    cp_rate_limit: Annotated[
        str, typer.Option(help="CoinPaprika requests/minute before 429 ('none' = unlimited).")
    ] = "none",
    latency: Annotated[float, typer.Option(help="Added latency per response, seconds.")] = 0.0,
    tick_every: Annotated[
        str, typer.Option(help="Advance market data every N seconds ('none' = manual).")
    ] = "none",
    fault: Annotated[
        list[str] | None,
        typer.Option("--fault", help="Fault rule, e.g. 'coingecko:503:/coins/markets:page=2'."),
    ] = None,
) -> None:
    """Serve the project's CoinGecko/CoinPaprika emulator (routes /api/v3/... and /v1/...)."""
    from kasparro.emulator import EmulatorConfig
    from kasparro.emulator.server import serve as serve_emulator

    configure_logging("INFO", None)
    config = EmulatorConfig.from_options(
        coins=coins,
        seed=seed,
        cg_rate_limit=cg_rate_limit,
        cp_rate_limit=cp_rate_limit,
        latency=latency,
        tick_every=tick_every,
        faults=fault or [],
    )
    serve_emulator(host, port, config)


@app.command()
def demo(
    port: PortOpt = None,
    emulator_port: Annotated[int, typer.Option(help="Emulator port (0 = any free port).")] = 0,
    coins: Annotated[int, typer.Option(help="Emulated universe size.")] = 2500,
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Keep serving the API afterwards.")
    ] = True,
) -> None:
    """Offline demo: emulator + migrate + ETL of every source + API with the scheduler."""
    from kasparro.demo import run_demo

    raise typer.Exit(
        run_demo(
            _settings(), port=port, emulator_port=emulator_port, coins=coins, serve_api=serve_api
        )
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
