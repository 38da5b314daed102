"""The offline demo behind ``make demo``: everything runs on this machine, on EMULATED data.

Starts the project's upstream emulator on loopback, points the CoinGecko and CoinPaprika
sources at it, migrates the embedded SQLite database, runs the ETL for every source, prints
the summary, backfills 90 days of the top 20 coins, and then serves the API, the dashboard and
the scheduler (``kasparro up``) on port 8000. The dashboard's URL is printed first.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from rich.console import Console
from rich.panel import Panel

from kasparro.runs.backfill import BackfillSpec
from kasparro.runs.status import NOT_FAILED
from kasparro.settings import Settings

console = Console()


def demo_settings(settings: Settings, emulator_base: str, api_port: int | None) -> Settings:
    update: dict[str, object] = {
        "coingecko_base_url": f"{emulator_base}/api/v3",
        "coinpaprika_base_url": f"{emulator_base}/v1",
        # The emulator has no rate limit in the demo; keep a budget anyway, like production.
        "coingecko_requests_per_minute": 300.0,
        "coinpaprika_requests_per_minute": 300.0,
        # Short intervals so the scheduler visibly picks up the emulator's new ticks.
        "schedule_coingecko_seconds": 60.0,
        "schedule_coinpaprika_seconds": 60.0,
        "schedule_csv_seconds": 60.0,
    }
    if settings.api_token is None:
        # A throwaway token for this demo session only, shown once on the console.
        update["api_token"] = SecretStr(secrets.token_urlsafe(24))
    if api_port:
        update["api_port"] = api_port
    return settings.model_copy(update=update)


def run_demo(
    settings: Settings,
    *,
    port: int | None,
    emulator_port: int,
    coins: int,
    serve_api: bool,
) -> int:
    from kasparro.cli import _run_etl, print_summary
    from kasparro.emulator import EmulatorConfig, EmulatorServer
    from kasparro.runs.service import validate_names
    from kasparro.store.datamode import mark_database_emulated
    from kasparro.store.migrate import upgrade

    dashboard = f"http://{settings.api_host}:{port or settings.api_port}/dashboard"
    console.print(f"[bold]Dashboard: {dashboard}[/bold]  (served once the first ETL run is in)")
    console.print(
        Panel.fit(
            "[bold yellow]EMULATED DATA[/bold yellow] — offline demo.\n"
            "CoinGecko and CoinPaprika are served by Kasparro's own emulator on loopback,\n"
            f"seeded from real recorded payloads plus a generated universe of {coins} coins.\n"
            "Prices are not real market data.",
            title="Kasparro demo",
        )
    )
    config = EmulatorConfig(coins=coins, tick_every_seconds=60.0)
    with EmulatorServer(config, port=emulator_port) as emu:
        console.print(f"emulator: {emu.base_url} (/api/v3 = CoinGecko, /v1 = CoinPaprika)")
        s = demo_settings(settings, emu.base_url, port)
        upgrade(s.database_url)
        # Marked in the database, so whoever serves this file later labels it as a demo.
        asyncio.run(mark_database_emulated(s.database_url, {"emulator": emu.base_url}))
        console.print(f"database: {s.database_url} (migrated)")
        results = asyncio.run(_run_etl(s, validate_names(None)))
        # Some history, so the dashboard's charts have a past: 90 days of the top 20 coins.
        until = datetime.fromtimestamp(emu.state.now_ms() / 1000, UTC)
        spec = BackfillSpec("1d", until - timedelta(days=90), until, top=20)
        results += asyncio.run(_run_etl(s, ["coingecko", "coinpaprika"], backfill=spec))
        print_summary(results)
        ok = all(r.status in NOT_FAILED for r in results)
        if not serve_api:
            return 0 if ok else 1
        token = s.api_token.get_secret_value() if s.api_token else ""
        base = f"http://{s.api_host}:{s.api_port}"
        console.print(
            Panel.fit(
                f"Dashboard: {base}/dashboard\n"
                f"API:     {base}/api/v1/data?limit=5\n"
                f"Docs:    {base}/docs\n"
                f"Stats:   {base}/api/v1/stats\n"
                f"Health:  {base}/health   Metrics: {base}/metrics\n"
                "Ctrl+C to stop.",
                title="Serving EMULATED data (API + scheduler)",
            )
        )
        console.print("Trigger a run (demo-only token, valid for this process):")
        console.print(
            f"curl -X POST -H 'Authorization: Bearer {token}' -H 'content-type: application/json'"
            f' -d \'{{"source":"all"}}\' {base}/api/v1/runs',
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
        from kasparro.api.server import serve

        serve(s, with_scheduler=True)
    return 0 if ok else 1
