"""A user's mistake gets one or two lines saying what to change, and exit status 2, from every
command: a bad setting, an unreachable or unusable database, a busy port (the real console
script in a subprocess, as a user runs it)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kasparro.scheduler import state as scheduler_state
from kasparro.store.engine import create_engine
from kasparro.store.migrate import upgrade
from tests.test_cli import KASPARRO, run_cli

# Every command that reads the settings, with arguments that are otherwise valid.
COMMANDS = [
    ["migrate"],
    ["etl", "run"],
    ["etl", "run", "--no-migrate"],
    ["backfill", "--top", "3"],
    ["serve", "--port", "0"],
    ["up", "--port", "0"],
    ["scheduler"],
    ["check-scheduler"],
    ["identity", "show"],
    ["identity", "relink"],
    ["identity", "review"],
    ["identity", "accept", "1"],
    ["identity", "link", "bitcoin", "btc-bitcoin"],
    ["demo", "--no-serve", "--coins", "300"],
    ["demo", "--port", "0", "--coins", "300"],
    ["export", "--to", "lake"],
    ["export", "--status"],
]
IDS = [" ".join(c) for c in COMMANDS]


def lines_of(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return (proc.stdout + proc.stderr).strip().splitlines()


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_a_bad_setting_is_named_in_two_lines(command: list[str], tmp_path: Path) -> None:
    proc = run_cli(command, tmp_path, KASPARRO_COINGECKO_PER_PAGE="300")
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = lines_of(proc)
    assert 1 <= len(lines) <= 2, lines
    assert "KASPARRO_COINGECKO_PER_PAGE='300'" in lines[0]
    assert "less than or equal to 250" in lines[0]
    assert not (tmp_path / "cli.db").exists()  # nothing ran


def test_several_bad_settings_are_all_named(tmp_path: Path) -> None:
    proc = run_cli(
        ["migrate"],
        tmp_path,
        KASPARRO_COINGECKO_MAX_COINS="lots",
        KASPARRO_API_PORT="http",
        KASPARRO_API_TOKEN="",
    )
    assert proc.returncode == 2
    lines = lines_of(proc)
    assert len(lines) == 2, lines
    assert (
        "KASPARRO_COINGECKO_MAX_COINS='lots': should be a whole number of coins or 'all'"
        in (lines[0])
    )
    assert "KASPARRO_API_PORT='http'" in lines[0]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # A typo in a provider's key used to be ignored (1000 coins fetched instead of 5).
        (
            {"KASPARRO_SOURCES": '{"coingecko": {"max_coin": 5}}'},
            "error: invalid setting KASPARRO_SOURCES: coingecko has no setting 'max_coin' "
            "(its settings: ",
        ),
        # An unknown level used to behave as INFO.
        (
            {"KASPARRO_LOG_LEVEL": "LOUD"},
            "error: invalid setting KASPARRO_LOG_LEVEL='LOUD': "
            "Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
        ),
        # JSON that does not parse used to name neither the variable nor JSON ...
        (
            {"KASPARRO_SOURCES": "{bad"},
            "error: invalid setting KASPARRO_SOURCES: not valid JSON (Expecting property name "
            "enclosed in double quotes: line 1 column 2)",
        ),
        # ... or, in a provider's setting, was a traceback.
        (
            {"KASPARRO_BINANCE_CCXT_OPTIONS": '{"timeout": }'},
            "error: invalid setting KASPARRO_BINANCE_CCXT_OPTIONS: not valid JSON "
            "(Expecting value: line 1 column 13)",
        ),
    ],
    ids=["unknown-key", "log-level", "json", "provider-json"],
)
def test_settings_that_passed_silently_are_named(
    env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    proc = run_cli(["etl", "run", "--source", "coingecko"], tmp_path, **env)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = lines_of(proc)
    assert len(lines) == 2, lines
    assert lines[0].startswith(expected), lines
    assert lines[1].startswith("hint: ")
    assert not (tmp_path / "cli.db").exists()  # nothing ran


def test_the_valid_keys_of_a_provider_are_listed(tmp_path: Path) -> None:
    proc = run_cli(["sources"], tmp_path, KASPARRO_SOURCES='{"csv": {"path": "m.csv"}}')
    assert proc.returncode == 2
    assert lines_of(proc)[0] == (
        "error: invalid setting KASPARRO_SOURCES: csv has no setting 'path' "
        "(its settings: schedule_seconds, paths, batch_rows)"
    )


def test_json_in_dotenv_and_other_mistakes_are_named_together(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KASPARRO_KRAKEN_RETRY_STATUSES=[429,\n")
    proc = run_cli(["sources"], tmp_path, KASPARRO_COINGECKO_PER_PAGE="300")
    assert proc.returncode == 2
    first = lines_of(proc)[0]
    assert first.startswith("error: invalid settings "), first
    assert "KASPARRO_COINGECKO_PER_PAGE='300'" in first
    assert "KASPARRO_KRAKEN_RETRY_STATUSES (in .env): not valid JSON (" in first


def _demo_db(command: list[str], url: str) -> list[str]:
    """The demo's database is its own option, not KASPARRO_DATABASE_URL."""
    return [*command, "--database-url", url] if command[0] == "demo" else command


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_an_unreachable_database_is_named_in_two_lines(command: list[str], tmp_path: Path) -> None:
    url = "postgresql+asyncpg://kasparro:hunter2@127.0.0.1:1/kasparro"  # nothing on port 1
    env = {"KASPARRO_DATABASE_URL": url}
    proc = run_cli(_demo_db(command, url), tmp_path, **env)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = lines_of(proc)
    assert 1 <= len(lines) <= 2, lines
    assert 'database "kasparro" at 127.0.0.1:1: connection refused' in lines[0]
    setting = "--database-url" if command[0] == "demo" else "KASPARRO_DATABASE_URL"
    assert setting in lines[-1]
    assert "hunter2" not in proc.stdout + proc.stderr  # the password is never printed


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://postgres@no-such-host.invalid/kasparro", "no-such-host.invalid:5432"),
        ("sqlite+aiosqlite:///{tmp}/no/such/dir/k.db", "/no/such/dir does not exist"),
        ("mysql://u@h/d", "unsupported database 'mysql'"),
        ("not a url", "is not a database URL"),
        ("sqlite+aiosqlite:///:memory:", "in-memory SQLite"),
    ],
)
def test_unusable_database_urls(url: str, expected: str, tmp_path: Path) -> None:
    # Every command goes through the same check (shown above with an unreachable server).
    proc = run_cli(["migrate"], tmp_path, KASPARRO_DATABASE_URL=url.format(tmp=tmp_path))
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = lines_of(proc)
    assert 1 <= len(lines) <= 2 and expected in lines[0], lines


def test_an_unmigrated_database_says_to_migrate(tmp_path: Path) -> None:
    for command in (["identity", "show"], ["check-scheduler"], ["etl", "run", "--no-migrate"]):
        proc = run_cli(command, tmp_path)
        assert proc.returncode == 2
        lines = lines_of(proc)
        assert len(lines) == 2 and "kasparro migrate" in lines[1], lines
        assert not (tmp_path / "cli.db").exists()  # not created as a side effect
    (tmp_path / "cli.db").write_bytes(b"")
    proc = run_cli(["identity", "show"], tmp_path)
    assert proc.returncode == 2 and "is not migrated" in lines_of(proc)[0]


# --- a busy port --------------------------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another server listens on."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["serve"], "--port N or KASPARRO_API_PORT=N"),
        (["up"], "--port N or KASPARRO_API_PORT=N"),
        (["demo", "--coins", "300"], "--port N or KASPARRO_API_PORT=N"),
        (["emulator", "--coins", "300"], "--port N"),
        (["demo", "--no-serve", "--coins", "300", "--emulator-port"], "--emulator-port N"),
    ],
    ids=["serve", "up", "demo", "emulator", "demo-emulator-port"],
)
def test_a_busy_port_fails_at_once_in_one_line(
    command: list[str], option: str, busy_port: int, tmp_path: Path
) -> None:
    argv = [*command, str(busy_port)] if command[-1] == "--emulator-port" else command
    if "--emulator-port" not in argv:
        argv = [*argv, "--port", str(busy_port)]
    proc = run_cli(argv, tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = lines_of(proc)
    assert lines == [
        f"error: port {busy_port} on 127.0.0.1 is already in use: choose another with {option}"
    ]
    # At once: nothing was migrated or loaded first.
    assert not (tmp_path / "cli.db").exists()
    assert not (tmp_path / "kasparro-demo.db").exists()


def test_a_port_taken_while_the_demo_loads_is_one_line(tmp_path: Path) -> None:
    """The demo holds its port (bound, not yet listening) through the ETL. Another server
    binding it with SO_REUSEADDR, as uvicorn does, can still take it in that window: the
    demo then stops with the same one line, not uvicorn's traceback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [*KASPARRO, "demo", "--coins", "300", "--port", str(port)],
        cwd=tmp_path,
        env=run_cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    intruder = socket.socket()
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Dashboard: "), first  # printed once the port is held
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        intruder.bind(("127.0.0.1", port))
        intruder.listen()
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        intruder.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, stderr[-3000:]
    assert "Kasparro ETL summary" in stdout  # the demo had run
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        f"error: port {port} on 127.0.0.1 is already in use: "
        "choose another with --port N or KASPARRO_API_PORT=N"
    )


def run_cli_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "KASPARRO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}


# --- the scheduler's healthcheck ----------------------------------------------------------


def test_check_scheduler_follows_the_heartbeat(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    none = run_cli(["check-scheduler"], tmp_path)
    assert none.returncode == 1 and "no heartbeat recorded" in none.stderr

    async def beat(at: datetime) -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await scheduler_state.ensure_rows(conn, ["csv"], at)
                await scheduler_state.heartbeat(conn, ["csv"], at)
        finally:
            await engine.dispose()

    asyncio.run(beat(datetime.now(UTC) - timedelta(seconds=125)))
    stale = run_cli(["check-scheduler"], tmp_path)
    assert stale.returncode == 1 and "scheduler: stale" in stale.stderr, stale.stderr
    asyncio.run(beat(datetime.now(UTC)))
    alive = run_cli(["check-scheduler"], tmp_path)
    assert alive.returncode == 0 and "scheduler: alive" in alive.stdout, alive.stderr
