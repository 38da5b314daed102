"""The served process (uvicorn, graceful SIGTERM) and the in-process scheduler hook."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from kasparro.api.server import GRACEFUL_SHUTDOWN_SECONDS, uvicorn_config
from tests.fixtures.api import AUTH, make_settings, running_app, write_csv
from tests.fixtures.settings import runtime_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_uvicorn_config(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/k.db", tmp_path, api_port=8123)
    config = uvicorn_config(runtime_for(settings), with_scheduler=False)
    assert (config.loop, config.http, config.workers, config.port) == (
        "uvloop",
        "httptools",
        1,
        8123,
    )
    assert config.timeout_graceful_shutdown == GRACEFUL_SHUTDOWN_SECONDS


async def _start_serving(db_url: str, tmp_path: Path) -> tuple[asyncio.subprocess.Process, int]:
    """``serve()`` in a child process, answering /health. A probed free port can be taken
    by a parallel test (or suite) before the child binds it: then the child exits (or a
    foreign server answers), so it is retried on another port."""
    code = (
        "from kasparro.api.server import serve; from kasparro.runtime import Runtime; "
        "serve(Runtime.build(), with_scheduler=False)"
    )
    for _attempt in range(3):
        port = _free_port()
        env = {
            **os.environ,
            "KASPARRO_DATABASE_URL": db_url,
            "KASPARRO_API_PORT": str(port),
            "KASPARRO_API_HOST": "127.0.0.1",
            "KASPARRO_API_TOKEN": "",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        seen = await _read_until(proc, b"api_started", deadline)
        # uvicorn binds right after the lifespan startup that logs api_started: a child
        # that lost the port exits within milliseconds of it, so an answer on the port
        # half a second later, with the child alive, is the child's (not a foreign server's).
        await asyncio.sleep(0.5)
        if proc.returncode is None and b"api_started" in seen:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                while proc.returncode is None and time.monotonic() < deadline:
                    try:
                        await client.get("/health")
                        return proc, port
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
        if proc.returncode is None:
            proc.kill()
        rest, _ = await proc.communicate()
        output = seen + rest
        if b"already in use" not in output:
            pytest.fail(f"server did not start:\n{output.decode(errors='replace')}")
    pytest.fail("no free port after 3 attempts")


async def _read_until(proc: asyncio.subprocess.Process, marker: bytes, deadline: float) -> bytes:
    """The child's output up to the line holding ``marker`` (or its end, or the deadline)."""
    assert proc.stdout is not None
    seen = b""
    while marker not in seen and time.monotonic() < deadline:
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), deadline - time.monotonic())
        except TimeoutError:
            break
        if not line:  # the child exited
            break
        seen += line
    return seen


async def test_serve_answers_and_stops_on_sigterm(db_url: str, tmp_path: Path) -> None:
    proc, port = await _start_serving(db_url, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            resp = await client.get("/health")
            assert resp.status_code == 200
            assert resp.json()["status"] == "ok"
            assert "x-request-id" in resp.headers and "server" not in resp.headers
            assert (await client.get("/api/v1/data")).status_code == 200
            refused = await client.post("/api/v1/runs", json={"source": "csv"}, headers=AUTH)
            assert refused.status_code == 403  # blank token in the environment: disabled
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(proc.communicate(), GRACEFUL_SHUTDOWN_SECONDS + 10)
        # uvicorn drains, runs the lifespan shutdown, then re-raises SIGTERM (exit -15) so
        # supervisors see the conventional status.
        assert proc.returncode in (0, -signal.SIGTERM)
        assert "api_stopped" in output.decode(), output.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_with_scheduler_starts_and_reports_it(db_url: str, tmp_path: Path) -> None:
    write_csv(tmp_path / "markets.csv", 2)
    settings = make_settings(
        db_url, tmp_path, schedule_enabled_sources=["csv"], schedule_csv_seconds=3600
    )
    from kasparro.api.app import create_app

    app = create_app(runtime_for(settings), with_scheduler=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            health = (await client.get("/health")).json()
            assert health["scheduler"]["in_process"] is True
            stats = (await client.get("/api/v1/stats")).json()["data"]["sources"]["csv"]
            assert stats["scheduler"] is not None
            assert stats["next_run_at"] is not None
    assert app.state.kasparro.scheduler is not None


@pytest.mark.parametrize("flag", ["0", ""])
def test_bench_flag_off_values(flag: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kasparro.api.config import ApiConfig

    monkeypatch.setenv("KASPARRO_BENCH_ENDPOINTS", flag)
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/k.db", tmp_path)
    assert ApiConfig.from_settings(settings).bench_endpoints is False


async def test_running_app_helper_shuts_down_cleanly(db_url: str, tmp_path: Path) -> None:
    async with running_app(make_settings(db_url, tmp_path)) as client:
        assert (await client.get("/health")).status_code == 200
