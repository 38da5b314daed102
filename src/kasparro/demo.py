"""The offline demo behind ``make demo``: everything runs on this machine, on EMULATED data.

Holds the API's port first (a busy port fails at once, not after the ETL), starts the
project's upstream emulator on loopback, points the CoinGecko and CoinPaprika sources at it,
migrates the demo's own SQLite database (``./kasparro-demo.db``, never the live
``./kasparro.db``), runs the ETL for every source, prints the summary, backfills 90 days of
the top 20 coins, and then serves the API, the dashboard and the scheduler (``kasparro up``)
on port 8000. The dashboard's URL is printed first; the trigger token first and last.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from rich.console import Console
from rich.panel import Panel

from kasparro.emulator.venues import VENUES as EMULATED_VENUES
from kasparro.logs import configure_logging
from kasparro.runtime import Runtime
from kasparro.settings import Settings
from kasparro.sources.history import BackfillSpec
from kasparro.status import NOT_FAILED

console = Console()


def demo_runtime(
    runtime: Runtime, emulator_base: str, api_port: int | None, database_url: str
) -> Runtime:
    """The demo's wiring: the emulator's URLs, its own database, short schedules."""
    runtime = runtime.with_sources(
        # The emulator has no rate limit in the demo; keep a budget anyway, like production.
        # Short intervals so the scheduler visibly picks up the emulator's new ticks.
        coingecko={
            "base_url": f"{emulator_base}/api/v3",
            "requests_per_minute": 300.0,
            "schedule_seconds": 60.0,
        },
        coinpaprika={
            "base_url": f"{emulator_base}/v1",
            "requests_per_minute": 300.0,
            "schedule_seconds": 60.0,
        },
        csv={"schedule_seconds": 60.0},
        # The exchanges, at their own default budgets (the emulator serves each under
        # /<venue>, from the same market as the aggregators).
        **{
            venue: {"base_url": f"{emulator_base}/{venue}", "schedule_seconds": 60.0}
            for venue in EMULATED_VENUES
        },
    )
    update: dict[str, object] = {"database_url": database_url}
    if api_port is not None:
        update["api_port"] = api_port
    return runtime.with_settings(**update)


def run_demo(
    runtime: Runtime,
    *,
    port: int | None,
    emulator_port: int,
    coins: int,
    database_url: str,
    serve_api: bool,
) -> int:
    from kasparro.cli_common import print_summary, run_etl
    from kasparro.emulator import EmulatorConfig, EmulatorServer
    from kasparro.preflight import bind_port, check_database, listen, port_error
    from kasparro.store.datamode import mark_database_emulated
    from kasparro.store.migrate import upgrade

    settings = runtime.settings
    host, api_port = settings.api_host, settings.api_port if port is None else port
    # Checked before anything runs: the port is held from here (the API listens on it once
    # the ETL is in), and the demo's database must be usable.
    sock = bind_port(host, api_port) if serve_api else None
    if emulator_port:
        bind_port("127.0.0.1", emulator_port, option="--emulator-port", env=None).close()
    check_database(database_url, setting="--database-url")
    # A token of the user's own (KASPARRO_API_TOKEN) is a secret: never echoed. Otherwise a
    # throwaway one for this demo process only, shown first and again when serving.
    own_token = settings.api_token is not None
    if not own_token:
        runtime = runtime.with_settings(api_token=SecretStr(secrets.token_urlsafe(24)))
        settings = runtime.settings
    dashboard = f"http://{host}:{api_port}/dashboard"
    console.print(f"[bold]Dashboard: {dashboard}[/bold]  (served once the ETL is in)")
    console.print(
        Panel.fit(
            "[bold yellow]EMULATED DATA[/bold yellow] — offline demo.\n"
            "CoinGecko and CoinPaprika are served by Kasparro's own emulator on loopback,\n"
            f"seeded from real recorded payloads plus a generated universe of {coins} coins.\n"
            "Prices are not real market data.",
            title="Kasparro demo",
        )
    )
    if sock is not None:
        console.print(f"Trigger token: {_token_text(settings, own_token)}", highlight=False)
    config = EmulatorConfig(coins=coins, tick_every_seconds=60.0, anchor="now")
    try:
        emulator = EmulatorServer(config, port=emulator_port)
    except OSError as exc:
        raise port_error("127.0.0.1", emulator_port, exc, "--emulator-port", None) from None
    with emulator as emu:
        console.print(f"emulator: {emu.base_url} (/api/v3 = CoinGecko, /v1 = CoinPaprika)")
        rt = demo_runtime(runtime, emu.base_url, port, database_url)
        s = rt.settings
        upgrade(s.database_url)
        # Marked in the database, so whoever serves this file later labels it as a demo.
        asyncio.run(mark_database_emulated(s.database_url, {"emulator": emu.base_url}))
        console.print(f"database: {s.database_url} (migrated; the demo's own, emulated data)")
        results = asyncio.run(run_etl(rt, rt.registry.names()))
        # Some history, so the dashboard's charts have a past: 90 days of the top 20 coins.
        until = datetime.fromtimestamp(emu.state.now_ms() / 1000, UTC)
        spec = BackfillSpec("1d", until - timedelta(days=90), until, top=20)
        results += asyncio.run(run_etl(rt, rt.registry.backfill_providers(), backfill=spec))
        print_summary(results)
        ok = all(r.status in NOT_FAILED for r in results)
        if sock is None:
            return 0 if ok else 1
        listen(sock, host, api_port)  # another process may have taken it meanwhile
        # On a terminal the scheduler's run logs would scroll this panel (and the token)
        # away within a second: only warnings from here, unless a log level was asked for.
        quiet = console.is_terminal and "log_level" not in settings.model_fields_set
        if quiet:
            configure_logging("WARNING", settings.log_json)
        token = _token_text(s, own_token)
        bearer = token.split()[0]
        base = f"http://{host}:{api_port}"
        logs = "Logs:    warnings only (KASPARRO_LOG_LEVEL=INFO shows every run)\n"
        console.print(
            Panel.fit(
                f"Dashboard: {base}/dashboard\n"
                f"API:     {base}/api/v1/data?limit=5\n"
                f"Docs:    {base}/docs\n"
                f"Stats:   {base}/api/v1/stats\n"
                f"Health:  {base}/health   Metrics: {base}/metrics\n"
                f"Token:   {token}\n"
                + (logs if quiet else "")
                + "The scheduler runs every source each minute. Ctrl+C to stop.",
                title="Serving EMULATED data (API + scheduler)",
            ),
            highlight=False,
        )
        console.print("Trigger a run:")
        console.print(
            f"curl -X POST -H 'Authorization: Bearer {bearer}' -H 'content-type: application/json'"
            f' -d \'{{"source":"all"}}\' {base}/api/v1/runs',
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
        from kasparro.api.server import serve

        serve(rt, with_scheduler=True, sock=sock)
    return 0 if ok else 1


def _token_text(settings: Settings, own: bool) -> str:
    if own or settings.api_token is None:
        return "$KASPARRO_API_TOKEN (yours)"
    return f"{settings.api_token.get_secret_value()} (this demo process only)"
