"""The CLI on a real terminal: run in a pseudo-terminal, its bytes rendered by a VT emulator
(pyte) into the screen a user sees. The progress bars and the log lines must not garble each
other: log lines scroll above the bars, which are drawn once at the bottom."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import httpx
import pyte

COLUMNS, ROWS = 140, 40
LOG_EVENTS = ("run_started", "page_committed", "run_finished")


def run_in_pty(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> bytes:
    """Run ``args`` with stdin, stdout and stderr on a pseudo-terminal; return its output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    proc = subprocess.Popen(
        args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, close_fds=True
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        os.close(master)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    return b"".join(chunks)


def screen_of(output: bytes) -> list[str]:
    """Every line the terminal showed, top to bottom (tall enough that nothing scrolls off)."""
    screen = pyte.Screen(COLUMNS, 5000)
    pyte.ByteStream(screen).feed(output)
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def test_etl_progress_bars_and_logs_stay_readable(tmp_path: Path, emulator: Any) -> None:
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "KASPARRO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tty.db'}",
        "KASPARRO_COINGECKO_BASE_URL": emulator.coingecko_base_url,
        "KASPARRO_COINPAPRIKA_BASE_URL": emulator.coinpaprika_base_url,
        "KASPARRO_COINGECKO_REQUESTS_PER_MINUTE": "60000",
        "KASPARRO_COINPAPRIKA_REQUESTS_PER_MINUTE": "60000",
        "KASPARRO_COINGECKO_MAX_COINS": "1000",
        "KASPARRO_COINGECKO_PER_PAGE": "100",  # ten pages: ten progress updates and logs
    }
    env.pop("KASPARRO_LOG_JSON", None)
    sources = ["coingecko", "coinpaprika", "csv"]
    args = [sys.executable, "-m", "kasparro", "etl", "run"]
    for name in sources:
        args += ["--source", name]
    lines = screen_of(run_in_pty(args, tmp_path, env))
    text = "\n".join(lines)

    bars = [line for line in lines if "━" in line]
    # The bars are drawn once, where they ended: no half-drawn copies left between log lines.
    assert len(bars) == len(sources), text
    for name in sources:
        assert sum(line.split()[0] == name for line in bars) == 1, text
    # No log line is written into a bar, and every log line is there, whole, above the bars.
    first_bar = lines.index(bars[0])
    assert all(line == bar for line, bar in zip(lines[first_bar:], bars, strict=False)), text
    for line in lines:
        if "━" in line:
            assert not any(event in line for event in LOG_EVENTS), line
    committed = [line for line in lines[:first_bar] if "page_committed" in line]
    assert len(committed) >= 11, text  # ten CoinGecko pages and CoinPaprika's one at least
    assert sum("run_finished" in line for line in lines[:first_bar]) == len(sources), text
    # Then the summary table, below the bars.
    assert "Kasparro ETL summary" in "\n".join(lines[first_bar + len(sources) :]), text


def test_demo_token_stays_in_view_while_serving(tmp_path: Path) -> None:
    """The final panel carries the token, and the scheduler's runs (due at once when serving
    starts) do not scroll it off the screen."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "TERM": "xterm-256color"}
    for name in ("KASPARRO_LOG_JSON", "KASPARRO_LOG_LEVEL", "KASPARRO_API_TOKEN"):
        env.pop(name, None)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    args = [sys.executable, "-m", "kasparro", "demo", "--coins", "300", "--port", str(port)]
    proc = subprocess.Popen(
        args, stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path, env=env, close_fds=True
    )
    os.close(slave)
    output = b""
    scheduled = False
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and not scheduled:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    output += os.read(master, 65536)
                except OSError:
                    break
            if b"Ctrl+C to stop" in output:
                scheduled = _a_scheduled_run_finished(port)
        assert scheduled, output.decode(errors="replace")[-3000:]
        time.sleep(1)
        while select.select([master], [], [], 0.2)[0]:
            output += os.read(master, 65536)
    finally:
        proc.kill()
        proc.wait(30)
        os.close(master)
    lines = screen_of(output)
    text = "\n".join(lines)
    token_lines = [i for i, line in enumerate(lines) if "Token:" in line]
    assert len(token_lines) == 1, text
    token = lines[token_lines[0]].split("Token:")[1].split()[0]
    # The token printed at the start is the one in the panel, and the panel is the last
    # thing on the screen: nothing logged after it.
    assert f"Trigger token: {token}" in text
    after = [line for line in lines[token_lines[0] :] if line.strip()]
    assert len(after) <= 8 and "Ctrl+C to stop" in "\n".join(after), text
    assert f"Bearer {token}" in "\n".join(after).replace("\n", "")


def _a_scheduled_run_finished(port: int) -> bool:
    try:
        resp = httpx.get(f"http://127.0.0.1:{port}/api/v1/runs", params={"limit": 50}, timeout=5)
    except httpx.TransportError:
        return False
    if resp.status_code != 200:
        return False
    runs = resp.json()["data"]
    return any(r["trigger"] == "schedule" and r["status"] != "running" for r in runs)
