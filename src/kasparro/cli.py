"""The ``kasparro`` command line: migrate, run the ETL, run the emulator, serve the API."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Any

import typer
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
from kasparro.runs.backfill import BackfillSpec
from kasparro.runs.result import ProgressCallback, RunResult
from kasparro.runs.status import NOT_FAILED, OK
from kasparro.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
etl_app = typer.Typer(no_args_is_help=True, help="Run the ETL.")
app.add_typer(etl_app, name="etl")

# Not a TTY (CI, pipes): rich would wrap tables at 80 columns and elide statuses.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


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
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh-reference",
            help="Fetch reference data (coin lists, contracts) even if it is fresh.",
        ),
    ] = False,
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
    results = asyncio.run(_run_etl(settings, names, force=refresh))
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


async def _run_etl(
    settings: Settings,
    names: list[str],
    *,
    force: bool = False,
    backfill: BackfillSpec | None = None,
) -> list[RunResult]:
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
                TextColumn("eta"),
                TimeRemainingColumn(),
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
                    force=force,
                    backfill=backfill,
                )
        return await run_sources(
            engine,
            settings,
            names,
            http=http,
            limiters=Limiters.from_settings(settings),
            trigger="cli",
            force=force,
            backfill=backfill,
            progress_for=_progress_logs if backfill is not None else None,
        )
    finally:
        await http.aclose()
        await engine.dispose()


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
        color = {"success": "green", "partial": "yellow", "fresh": "cyan"}.get(r.status, "red")
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


@app.command()
def backfill(
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="coingecko, coinpaprika (repeatable); default both."),
    ] = None,
    asset: Annotated[
        list[int] | None, typer.Option("--asset", help="Canonical asset id (repeatable).")
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
    given assets or the top N (default 100) into the observations. Resumable: per-coin
    watermarks are committed with the data, so a rerun fetches only what is missing.

    Its requests share each API's budget in this process; a `kasparro up` running
    elsewhere has its own, so prefer `POST /api/v1/backfills` there (scheduled runs then
    keep priority over the backfill)."""
    from kasparro.runs.backfill import BackfillError, parse_when
    from kasparro.runs.repository import utcnow

    settings = _settings()
    names = list(dict.fromkeys(source or ["coingecko", "coinpaprika"]))
    try:
        end = parse_when(until, relative_to=utcnow())
        spec = BackfillSpec(
            interval=interval,
            since=parse_when(since, relative_to=end),
            until=end,
            asset_ids=tuple(asset or ()),
            top=None if asset else (top or 100),
        )
    except BackfillError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if any(n not in ("coingecko", "coinpaprika") for n in names):
        err.print("[red]error:[/red] --source must be coingecko or coinpaprika")
        raise typer.Exit(2)
    if migrate_first:
        from kasparro.store.migrate import upgrade

        upgrade(settings.database_url)
    results = asyncio.run(_run_etl(settings, names, backfill=spec))
    print_summary(results)
    failed = [r for r in results if r.status not in OK]
    for r in failed:
        err.print(f"[red]{r.source} {r.status}:[/red] {r.error}")
    raise typer.Exit(1 if failed else 0)


identity_app = typer.Typer(
    no_args_is_help=True, help="Cross-source identity: relink, the review queue, decisions."
)
app.add_typer(identity_app, name="identity")


async def _with_engine(settings: Settings, work: Any) -> Any:
    from kasparro.store.engine import create_engine

    engine = create_engine(settings.database_url)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


@identity_app.command("show")
def identity_show() -> None:
    """The last relink, reference snapshots, links per method, review queue, anomalies."""
    from kasparro.query.identity import summary

    async def work(engine: Any) -> dict[str, Any]:
        async with engine.connect() as conn:
            return await summary(conn)

    data = asyncio.run(_with_engine(_settings(), work))
    out.print_json(data=data)


@identity_app.command("relink")
def identity_relink() -> None:
    """Link coins across sources now, from the stored reference and market data."""
    from kasparro.runs.identity import relink

    result = asyncio.run(_with_engine(_settings(), lambda e: relink(e, trigger="cli")))
    if result.status != "success":
        err.print(f"[yellow]relink {result.status}:[/yellow] {result.reason}")
        raise typer.Exit(0 if result.status == "skipped" else 1)
    out.print_json(data=result.stats)


@identity_app.command("review")
def identity_review(
    status: Annotated[
        str, typer.Option(help="pending | accepted | rejected | obsolete")
    ] = "pending",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List pairings waiting for a decision (or decided ones)."""
    from kasparro.query.identity import review_queue

    async def work(engine: Any) -> Any:
        async with engine.connect() as conn:
            return await review_queue(conn, status, limit=limit, after_id=None)

    page = asyncio.run(_with_engine(_settings(), work))
    table = Table(title=f"identity review: {status}")
    for col in ("id", "reason", "coingecko", "coinpaprika"):
        table.add_column(col)
    for item in page.items:
        table.add_row(
            str(item["id"]),
            item["reason"],
            _coin_line(item["coingecko"]),
            _coin_line(item["coinpaprika"]),
        )
    out.print(table)


def _coin_line(coin: dict[str, Any]) -> str:
    contracts = ", ".join(
        f"{c['chain'] or c['platform']}:{c['address']}" for c in coin["contracts"]
    )
    return f"{coin['id']} ({coin.get('symbol')}, {coin.get('name')}) {contracts}".strip()


def _decide(cg: str, cp: str, *, accept: bool, note: str | None) -> None:
    from kasparro.load.identity import decide
    from kasparro.runs.identity import relink
    from kasparro.runs.repository import utcnow

    async def work(engine: Any) -> Any:
        async with engine.begin() as conn:
            await decide(conn, cg, cp, accept=accept, decided_by="cli", note=note, now=utcnow())
        return await relink(engine, trigger="cli decision")

    result = asyncio.run(_with_engine(_settings(), work))
    verdict = "accepted" if accept else "rejected"
    out.print(f"{cg} + {cp}: {verdict}; relink {result.status}")


def _review_pair(review_id: int) -> tuple[str, str]:
    from kasparro.load.identity import review_item

    async def work(engine: Any) -> Any:
        async with engine.connect() as conn:
            return await review_item(conn, review_id)

    pair = asyncio.run(_with_engine(_settings(), work))
    if pair is None:
        err.print(f"[red]error:[/red] review item {review_id} does not exist")
        raise typer.Exit(2)
    return pair


NoteOpt = Annotated[str | None, typer.Option("--note", help="Why (kept with the decision).")]


@identity_app.command("accept")
def identity_accept(review_id: int, note: NoteOpt = None) -> None:
    """Accept a proposed pairing: one asset from now on (sticky)."""
    cg, cp = _review_pair(review_id)
    _decide(cg, cp, accept=True, note=note)


@identity_app.command("reject")
def identity_reject(review_id: int, note: NoteOpt = None) -> None:
    """Reject a proposed pairing: never one asset (sticky)."""
    cg, cp = _review_pair(review_id)
    _decide(cg, cp, accept=False, note=note)


@identity_app.command("link")
def identity_link(coingecko_id: str, coinpaprika_id: str, note: NoteOpt = None) -> None:
    """Pair a CoinGecko id with a CoinPaprika id by hand (sticky)."""
    _decide(coingecko_id, coinpaprika_id, accept=True, note=note)


@identity_app.command("unlink")
def identity_unlink(coingecko_id: str, coinpaprika_id: str, note: NoteOpt = None) -> None:
    """Keep a CoinGecko id and a CoinPaprika id apart by hand (sticky)."""
    _decide(coingecko_id, coinpaprika_id, accept=False, note=note)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
