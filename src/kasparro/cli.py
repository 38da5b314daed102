"""The ``kasparro`` command line: migrate, run the ETL, run the emulator, serve the API.

A user's mistake (a bad setting, an unreachable database, a busy port) is answered in one or
two lines naming what to change, with exit status 2 (see ``kasparro.preflight``).
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from kasparro.cli_common import (
    command_runtime,
    err,
    out,
    prepare_database,
    print_summary,
    run_etl,
    with_engine,
)
from kasparro.cli_identity import identity_app
from kasparro.cli_lake import register as register_lake_commands
from kasparro.cli_rates import rates_app
from kasparro.cli_sources import register as register_source_commands
from kasparro.logs import configure_logging
from kasparro.preflight import UserError, bind_port, database_failure
from kasparro.status import NOT_FAILED, OK

HELP = """Kasparro: crypto market data from the upstream APIs into your database, served by a
REST API.

Try it offline with `kasparro demo` (the bundled emulator), or fetch live data with
`kasparro etl run`. A mistake (a bad setting, an unreachable database, a busy port) is
answered in one or two lines saying what to change, with exit status 2."""


class _WholeParagraphs(TyperGroup):
    """Help texts with each paragraph on one line, for every command below this group.

    typer's rich help prints a docstring's line breaks as they are (only a command's first
    paragraph, on its own page, is joined), so a docstring wrapped at the source's line
    length printed broken mid-sentence, and wrapped again at the terminal's width."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        _join_paragraphs(self)


def _join_paragraphs(command: Any) -> None:
    if command.help:
        paragraphs = re.split(r"\n\s*\n", command.help.strip())
        command.help = "\n\n".join(" ".join(p.split()) for p in paragraphs)
    for sub in getattr(command, "commands", {}).values():
        _join_paragraphs(sub)


app = typer.Typer(no_args_is_help=True, add_completion=False, help=HELP, cls=_WholeParagraphs)
etl_app = typer.Typer(no_args_is_help=True, help="Run the ETL.")
app.add_typer(etl_app, name="etl")
app.add_typer(identity_app, name="identity")
app.add_typer(rates_app, name="rates")
register_source_commands(app)
register_lake_commands(app)

# The demo's data is emulated: it never goes where live data lives (./kasparro.db).
DEMO_DATABASE_URL = "sqlite+aiosqlite:///./kasparro-demo.db"


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic) at KASPARRO_DATABASE_URL.

    Safe to run from several processes at once: they take turns."""
    from kasparro.store.migrate import upgrade

    settings = command_runtime().settings
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
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh-reference",
            help="Fetch reference data (coin lists, contracts) even if it is fresh.",
        ),
    ] = False,
) -> None:
    """Run the ETL for the given sources concurrently and print a summary."""
    from kasparro.sources.registry import UnknownSource

    runtime = command_runtime(database=False)
    try:
        names = runtime.registry.validate(source)
    except UnknownSource as exc:
        raise UserError(f"error: {exc}") from None
    prepare_database(runtime.settings, migrate=migrate_first)
    results = asyncio.run(run_etl(runtime, names, force=refresh))
    print_summary(results)
    failed = [r for r in results if r.status not in NOT_FAILED]
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


HostOpt = Annotated[str | None, typer.Option("--host", help="Bind address (KASPARRO_API_HOST).")]
PortOpt = Annotated[
    int | None, typer.Option("--port", min=0, max=65535, help="Port (KASPARRO_API_PORT).")
]


MigrateOpt = Annotated[bool, typer.Option("--migrate/--no-migrate", help="Apply migrations first.")]


def _serve(host: str | None, port: int | None, *, migrate: bool, with_scheduler: bool) -> None:
    from kasparro.api.server import serve as serve_api

    runtime = command_runtime(database=False)
    update: dict[str, object] = {}
    if host:
        update["api_host"] = host
    if port is not None:
        update["api_port"] = port
    runtime = runtime.with_settings(**update)
    settings = runtime.settings
    # The port first: a busy one fails at once, before migrating.
    sock = bind_port(settings.api_host, settings.api_port)
    prepare_database(settings, migrate=migrate)
    serve_api(runtime, with_scheduler=with_scheduler, sock=sock)


@app.command()
def serve(host: HostOpt = None, port: PortOpt = None, migrate_first: MigrateOpt = True) -> None:
    """Serve the REST API only (docs at /docs)."""
    _serve(host, port, migrate=migrate_first, with_scheduler=False)


@app.command()
def scheduler(migrate_first: MigrateOpt = True) -> None:
    """Run the scheduler only, until SIGTERM/SIGINT (a second signal aborts running runs)."""
    from kasparro.heap import settle_heap
    from kasparro.scheduler import run_scheduler

    runtime = command_runtime(database=False)
    prepare_database(runtime.settings, migrate=migrate_first)
    settle_heap()
    asyncio.run(run_scheduler(runtime))


@app.command("check-scheduler")
def check_scheduler() -> None:
    """Exit 0 while a scheduler is alive (a heartbeat recorded in the database within the
    last 30 s), 1 otherwise: the scheduler container's healthcheck."""
    from datetime import UTC, datetime

    from kasparro.query.stats import latest_time, scheduler_rows
    from kasparro.scheduler.liveness import liveness

    async def newest(engine: Any) -> Any:
        async with engine.connect() as conn:
            rows = await scheduler_rows(conn)
        return latest_time(r["heartbeat_at"] for r in rows.values())

    heartbeat = with_engine(command_runtime(need_schema=True), newest)
    alive = liveness(heartbeat, datetime.now(UTC))
    if alive.age_s is None:
        err.print("scheduler: no heartbeat recorded (no scheduler has run on this database)")
        raise typer.Exit(1)
    line = f"last heartbeat {alive.age_s:.1f} s ago (stale after {alive.stale_after_s:g} s)"
    if alive.stale:
        err.print(f"scheduler: stale, {line}")
        raise typer.Exit(1)
    out.print(f"scheduler: alive, {line}")


@app.command()
def up(host: HostOpt = None, port: PortOpt = None, migrate_first: MigrateOpt = True) -> None:
    """API and scheduler in one process: the default for a single machine."""
    _serve(host, port, migrate=migrate_first, with_scheduler=True)


@app.command()
def emulator(
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")
    ] = 8765,
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
        str,
        typer.Option(
            help="Advance market data every N seconds ('none' = manual; with --anchor now, "
            "every 300 s unless set)."
        ),
    ] = "none",
    anchor: Annotated[
        str,
        typer.Option(
            help="Time of tick 0: 'now' (the wall clock: current data that follows the clock), "
            "'recording' (2022-02-23T11:31:45Z, the recorded payloads verbatim) or an "
            "ISO-8601 time."
        ),
    ] = "now",
    fault: Annotated[
        list[str] | None,
        typer.Option("--fault", help="Fault rule, e.g. 'coingecko:503:/coins/markets:page=2'."),
    ] = None,
) -> None:
    """Serve the project's CoinGecko/CoinPaprika emulator (routes /api/v3/... and /v1/...)."""
    from kasparro.emulator import EmulatorConfig
    from kasparro.emulator.server import serve as serve_emulator

    configure_logging("INFO", None)
    try:
        config = EmulatorConfig.from_options(
            coins=coins,
            seed=seed,
            cg_rate_limit=cg_rate_limit,
            cp_rate_limit=cp_rate_limit,
            latency=latency,
            tick_every=tick_every,
            anchor=anchor,
            faults=fault or [],
        )
    except ValueError as exc:
        raise UserError(f"error: {exc}") from None
    # Checked before the universe is built (seconds); uvicorn binds again itself, and in the
    # moment between, a port taken by another process is uvicorn's one-line error.
    bind_port(host, port, env=None).close()
    serve_emulator(host, port, config)


@app.command()
def demo(
    port: PortOpt = None,
    emulator_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Emulator port (0 = any free port).")
    ] = 0,
    coins: Annotated[int, typer.Option(min=1, help="Emulated universe size.")] = 2500,
    database_url: Annotated[
        str,
        typer.Option(
            help="The demo's own database (never KASPARRO_DATABASE_URL, which holds live data)."
        ),
    ] = DEMO_DATABASE_URL,
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Keep serving the API afterwards.")
    ] = True,
) -> None:
    """Offline demo: emulator + migrate + ETL of every source + API with the scheduler."""
    from kasparro.demo import run_demo

    runtime = command_runtime(database=False)
    raise typer.Exit(
        run_demo(
            runtime,
            port=port,
            emulator_port=emulator_port,
            coins=coins,
            database_url=database_url,
            serve_api=serve_api,
        )
    )


@app.command()
def backfill(
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source", "-s", help="A provider serving history (repeatable); default: all."
        ),
    ] = None,
    asset: Annotated[
        list[int] | None,
        typer.Option("--asset", min=1, max=2**53 - 1, help="Canonical asset id (repeatable)."),
    ] = None,
    top: Annotated[
        int | None, typer.Option("--top", min=1, max=10_000, help="Top N coins by market cap.")
    ] = None,
    since: Annotated[
        str, typer.Option(help="Start: a date, an ISO timestamp, or a duration before --until.")
    ] = "365d",
    until: Annotated[str, typer.Option(help="End: a date, an ISO timestamp or 'now'.")] = "now",
    interval: Annotated[str, typer.Option(help="5m, 1h or 1d.")] = "1d",
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Apply migrations first.")
    ] = True,
) -> None:
    """Load price history (CoinGecko market charts, CoinPaprika historical tickers) for the
    given assets or the top N (default 100) into the observations.

    Resumable: per-coin watermarks are committed with the data, so a rerun fetches only what
    is missing.

    Asset ids that name no asset, or assets that none of the chosen sources lists, are a
    usage error (exit 2) and no run is recorded; a source that lists none of them is
    skipped while the others run.

    Its requests share each API's budget in this process; a `kasparro up` running
    elsewhere has its own, so prefer `POST /api/v1/backfills` there (scheduled runs then
    keep priority over the backfill)."""
    from kasparro.runs.repository import utcnow
    from kasparro.runs.service import backfill_scope
    from kasparro.sources.history import BackfillError, BackfillScope, build_spec
    from kasparro.sources.registry import UnknownSource

    runtime = command_runtime(database=False)
    registry = runtime.registry
    try:
        spec = build_spec(
            interval=interval,
            since=since,
            until=until,
            asset_ids=asset or (),
            top=top,
            now=utcnow(),
        )
        names = registry.validate_backfill(source or registry.backfill_providers())
    except (BackfillError, UnknownSource) as exc:
        raise UserError(f"error: {exc}") from None
    prepare_database(runtime.settings, migrate=migrate_first)

    async def scope_of(engine: Any) -> BackfillScope:
        return await backfill_scope(engine, spec, names, available=registry.backfill_providers())

    try:
        scope = with_engine(runtime, scope_of)
    except BackfillError as exc:
        raise UserError(f"error: {exc}") from None
    results = asyncio.run(run_etl(runtime, list(scope.providers), backfill=spec))
    print_summary(results)
    for name in names:
        if reason := scope.reason(name):
            status = "skipped" if name in scope.skipped else "note"
            err.print(f"[yellow]{name}_history {status}:[/yellow] {reason}", highlight=False)
    failed = [r for r in results if r.status not in OK]
    for r in failed:
        err.print(f"[red]{r.source} {r.status}:[/red] {r.error}")
    raise typer.Exit(1 if failed else 0)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        problem = exc if isinstance(exc, UserError) else database_failure(exc)
        if problem is None:
            raise
        # Not markup nor emoji codes: a problem may echo what the user typed (a coin id).
        err.print(str(problem), markup=False, emoji=False, highlight=False, soft_wrap=True)
        sys.exit(2)
