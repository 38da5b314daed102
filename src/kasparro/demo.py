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
import contextlib
import secrets
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.panel import Panel
from sqlalchemy.engine import URL, make_url

from kasparro.emulator.venues import VENUES as EMULATED_VENUES
from kasparro.logs import configure_logging
from kasparro.runtime import Runtime
from kasparro.settings import Settings
from kasparro.sources.history import BackfillSpec
from kasparro.status import NOT_FAILED

console = Console()

# In the working directory, while the demo serves: what points other commands at it.
ENV_FILE = "kasparro-demo.env"


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
    if sock is not None:
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
        shown = make_url(s.database_url).render_as_string(hide_password=True)
        console.print(f"database: {shown} (migrated; the demo's own, emulated data)")
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
                f"Health:  {base}/health\n"
                f"Metrics: {base}/metrics\n"
                f"CLI:     set -a; . ./{ENV_FILE}; set +a  (other commands, README)\n"
                + schedule_line(rt)
                # The token last, with what follows it kept short: it stays in view.
                + f"\nToken:   {token}\n"
                + (logs if quiet else "")
                + "Ctrl+C to stop.",
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

        env_file, env_text = Path(ENV_FILE), env_file_text(rt, emu.base_url)
        env_file.write_text(env_text, encoding="utf-8")
        try:
            serve(rt, with_scheduler=True, sock=sock)
        finally:
            # It names this process's emulator: stale once the demo stops (unless another
            # demo started here since wrote its own).
            with contextlib.suppress(OSError):
                if env_file.read_text(encoding="utf-8") == env_text:
                    env_file.unlink()
    return 0 if ok else 1


def schedule_line(runtime: Runtime) -> str:
    """What the scheduler does, from the registry: each kind of source and its interval."""
    catalog = runtime.catalog
    by_kind: dict[str, set[float]] = {}
    for name, seconds in catalog.scheduled().items():
        by_kind.setdefault(catalog.kind(name).value, set()).add(seconds)
    # One line per interval ("market, venue sources every 60 s"): the panel fits 80 columns.
    by_times: dict[tuple[float, ...], list[str]] = {}
    for kind, times in sorted(by_kind.items()):
        by_times.setdefault(tuple(sorted(times)), []).append(kind)
    lines = [
        f"{'Scheduler:' if not i else '':11}{', '.join(kinds)} sources every "
        f"{'/'.join(f'{t:g}' for t in times)} s"
        for i, (times, kinds) in enumerate(sorted(by_times.items()))
    ]
    refresh = runtime.settings.reference_refresh_seconds
    lines.append(f"           (reference data is fetched again once {refresh:g} s old).")
    return "\n".join(lines)


def env_file_text(runtime: Runtime, emulator_base: str) -> str:
    """The variables that point another command (``kasparro backfill``, ``identity``,
    ``export``...) at this demo: its database and its emulator, whose port is picked at
    start. Without them such a command would use ``./kasparro.db`` and the live APIs. No
    secret: neither the token nor the URL's password. Values are shell-quoted (the file is
    sourced) and a SQLite file's path is absolute (sourced from anywhere)."""
    url = make_url(runtime.settings.database_url)
    lines = [
        "# Written by `kasparro demo`: point other kasparro commands at the running demo.",
        "# Use: set -a; . ./" + ENV_FILE + "; set +a",
    ]
    if url.password is not None:
        lines.append("# The URL's password is not written here: set KASPARRO_DATABASE_PASSWORD.")
    # URL.set ignores None: the password goes by rebuilding the URL without it.
    bare = URL.create(
        url.drivername, url.username, None, url.host, url.port, url.database, url.query
    )
    if bare.get_backend_name() == "sqlite" and bare.database not in (None, "", ":memory:"):
        bare = bare.set(database=str(Path(bare.database or "").resolve()))
    variables = {"KASPARRO_DATABASE_URL": bare.render_as_string(hide_password=False)}
    for name in (p.name for p in runtime.registry.providers):
        base = getattr(runtime.catalog.config(name), "base_url", None)
        if isinstance(base, str) and base.startswith(emulator_base):
            variables[f"KASPARRO_{name.upper()}_BASE_URL"] = base
    lines += [f"{k}={shlex.quote(v)}" for k, v in variables.items()]
    return "\n".join(lines) + "\n"


def _token_text(settings: Settings, own: bool) -> str:
    if own or settings.api_token is None:
        return "$KASPARRO_API_TOKEN (yours)"
    return f"{settings.api_token.get_secret_value()} (this demo process only)"
