"""The real `kasparro` console script: exit codes, summary, plain output when not a TTY."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.etl import CSV_HEADER, VENUE_NAMES

KASPARRO = [sys.executable, "-m", "kasparro"]


def run_cli(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "KASPARRO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        # Nothing listens on port 9: live sources fail fast with a connection error.
        "KASPARRO_COINGECKO_BASE_URL": "http://127.0.0.1:9/api/v3",
        "KASPARRO_COINPAPRIKA_BASE_URL": "http://127.0.0.1:9/v1",
        "KASPARRO_HTTP_MAX_ATTEMPTS": "2",
        "KASPARRO_HTTP_BACKOFF_INITIAL_SECONDS": "0.01",
        **env,
    }
    return subprocess.run(
        [*KASPARRO, *args],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_csv_run_succeeds_and_prints_a_summary(tmp_path: Path) -> None:
    csv_path = tmp_path / "m.csv"
    csv_path.write_text(CSV_HEADER + "bitcoin,BTC,Bitcoin,2024-01-01T00:00:00Z,42000.5,,,,1,,,\n")
    proc = run_cli(["etl", "run", "--source", "csv"], tmp_path, KASPARRO_CSV_PATHS=str(csv_path))
    assert proc.returncode == 0, proc.stderr
    assert "Kasparro ETL summary" in proc.stdout
    assert "success" in proc.stdout
    # Not a TTY: logs are JSON lines carrying run_id and source.
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    finished = [e for e in events if e.get("event") == "run_finished"]
    assert finished and finished[0]["source"] == "csv" and finished[0]["run_id"] >= 1


def test_unreachable_source_fails_with_reason_while_others_load(tmp_path: Path) -> None:
    csv_path = tmp_path / "m.csv"
    csv_path.write_text(CSV_HEADER + "bitcoin,BTC,Bitcoin,2024-01-01T00:00:00Z,42000.5,,,,1,,,\n")
    proc = run_cli(["etl", "run"], tmp_path, KASPARRO_CSV_PATHS=str(csv_path))
    assert proc.returncode == 1
    assert "coingecko failed:" in proc.stderr and "connection error" in proc.stderr
    assert "make demo" in proc.stderr  # hint that the offline demo works
    # The csv source still loaded.
    assert "csv" in proc.stdout and "success" in proc.stdout


def test_unknown_source_is_a_usage_error(tmp_path: Path) -> None:
    proc = run_cli(["etl", "run", "--source", "nope"], tmp_path)
    assert proc.returncode == 2
    assert "unknown source" in proc.stderr


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    proc = run_cli(["migrate"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cli.db").is_file()


def test_demo_runs_every_source_offline_on_emulated_data(tmp_path: Path) -> None:
    proc = run_cli(["demo", "--no-serve", "--coins", "600"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Nothing is served with --no-serve: no dashboard URL promised, no file pointing at an
    # emulator that is gone.
    assert "Dashboard:" not in proc.stdout and "EMULATED DATA" in proc.stdout
    assert not (tmp_path / "kasparro-demo.env").exists()
    for source in ("coingecko", "coinpaprika", "csv", "coingecko_history", "coinpaprika_history"):
        assert source in proc.stdout
    assert "failed" not in proc.stdout
    # Emulated data goes to the demo's own file, never where live data lives: neither
    # KASPARRO_DATABASE_URL (run_cli points it at cli.db) nor ./kasparro.db (`make run`).
    assert (tmp_path / "kasparro-demo.db").is_file()
    assert not (tmp_path / "cli.db").exists()
    assert not (tmp_path / "kasparro.db").exists()
    # The database itself says its data is emulated (/health and /stats: "mode": "demo").
    with sqlite3.connect(tmp_path / "kasparro-demo.db") as db:
        assert db.execute("SELECT key FROM store_metadata").fetchall() == [("data_mode",)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_serves_with_its_token_in_the_final_panel(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "KASPARRO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    env.pop("KASPARRO_API_TOKEN", None)
    proc = subprocess.Popen(
        [*KASPARRO, "demo", "--coins", "300", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        shown: list[str] = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not any("Ctrl+C" in line for line in shown):
            line = proc.stdout.readline()
            if not line:
                break
            shown.append(line)
        panel = "".join(shown)
        token_lines = [line for line in shown if "Token:" in line]
        assert len(token_lines) == 1, panel
        # The panel's last lines, after the summary: the token stays in view.
        token = token_lines[0].split("Token:")[1].split()[0]
        assert len(token) >= 24 and f"http://127.0.0.1:{port}/dashboard" in panel
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(100):
                try:
                    health = client.get("/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            assert health.status_code == 200
            triggered = client.post(
                "/api/v1/runs",
                json={"source": "csv", "force": True},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert triggered.status_code in (202, 409), triggered.text
        # What the scheduler does, as configured (not "every source each minute": reference
        # data is checked hourly).
        assert "market, venue sources every 60 s" in panel
        assert "reference sources every 3600 s" in panel
        # The file the panel names points another command at this demo: its database and
        # its emulator (a port picked at start), not ./kasparro.db and the live APIs.
        assert "kasparro-demo.env" in panel
        pointed = dict(
            shlex.split(line)[0].split("=", 1)
            for line in (tmp_path / "kasparro-demo.env").read_text().splitlines()
            if line and not line.startswith("#")
        )
        demo_db = (tmp_path / "kasparro-demo.db").resolve()
        assert pointed["KASPARRO_DATABASE_URL"] == f"sqlite+aiosqlite:///{demo_db}"
        assert pointed["KASPARRO_COINGECKO_BASE_URL"].startswith("http://127.0.0.1:")
        backfill = subprocess.run(
            [*KASPARRO, "backfill", "--source", "coingecko", "--top", "1", "--since", "2d"],
            cwd=tmp_path,
            env={**env, **pointed},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert backfill.returncode == 0, backfill.stderr[-2000:]
        assert "coingecko_history" in backfill.stdout and "success" in backfill.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert not (tmp_path / "cli.db").exists()
    assert not (tmp_path / "kasparro-demo.env").exists()  # it named a stopped emulator


def test_identity_commands_against_the_emulator(tmp_path: Path, emulator: Any) -> None:
    env = {
        "KASPARRO_COINGECKO_BASE_URL": emulator.coingecko_base_url,
        "KASPARRO_COINPAPRIKA_BASE_URL": emulator.coinpaprika_base_url,
        "KASPARRO_COINGECKO_REQUESTS_PER_MINUTE": "60000",
        "KASPARRO_COINPAPRIKA_REQUESTS_PER_MINUTE": "60000",
        "KASPARRO_COINGECKO_MAX_COINS": "all",
        # Every source runs: the exchanges too, on the emulator.
        **{f"KASPARRO_{v.upper()}_BASE_URL": f"{emulator.base_url}/{v}" for v in VENUE_NAMES},
        **{f"KASPARRO_{v.upper()}_REQUESTS_PER_MINUTE": "60000" for v in VENUE_NAMES},
    }
    first = run_cli(["etl", "run"], tmp_path, **env)
    assert first.returncode == 0, first.stderr
    assert "coingecko_reference" in first.stdout and "coinpaprika_reference" in first.stdout
    # Reference data is fresh for a day: the lists are not fetched again, only the coin
    # pages the relink wants (a run of pages alone) ...
    before = emulator.state.stats()["coingecko"]["routes"]
    asked = before.get("/coins/{id}", {}).get("requests", 0)
    pages = run_cli(["etl", "run", "--source", "coingecko_reference"], tmp_path, **env)
    assert pages.returncode == 0, pages.stderr
    stats = emulator.state.stats()["coingecko"]["routes"]
    assert stats["/coins/list"]["requests"] == before["/coins/list"]["requests"]
    assert 0 < stats["/coins/{id}"]["requests"] - asked <= 5  # ..._COINGECKO_DETAIL_PER_RUN
    # ... and without pages to fetch it is skipped, and that is not a failure.
    no_pages = {**env, "KASPARRO_COINGECKO_DETAIL_PER_RUN": "0"}
    again = run_cli(["etl", "run", "--source", "coingecko_reference"], tmp_path, **no_pages)
    assert again.returncode == 0, again.stderr
    assert "fresh" in again.stdout
    forced = run_cli(
        ["etl", "run", "--source", "coingecko_reference", "--refresh-reference"], tmp_path, **env
    )
    assert forced.returncode == 0 and "success" in forced.stdout, forced.stderr
    shown = run_cli(["identity", "show"], tmp_path, **env)
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["last_relink"]["status"] == "success"
    assert summary["links"]["coingecko"]["contract"] > 100
    review = run_cli(["identity", "review"], tmp_path, **env)
    assert review.returncode == 0 and "identity review: pending" in review.stdout
    first_id = next(
        line.split("│")[1].strip()
        for line in review.stdout.splitlines()
        if line.startswith("│") and line.split("│")[1].strip().isdigit()
    )
    accepted = run_cli(["identity", "accept", first_id, "--note", "checked"], tmp_path, **env)
    assert accepted.returncode == 0, accepted.stderr
    assert "accepted; relink success" in accepted.stdout
    missing = run_cli(["identity", "accept", "999999"], tmp_path, **env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
