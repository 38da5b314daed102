"""A real API server on a free port and a real headless Chromium (Debian's package).

Without a browser (no ``chromium`` binary, or no playwright), the browser tests are skipped
with a loud notice at the end of the run, except in CI (``CI`` or
``KASPARRO_REQUIRE_BROWSER`` set), where they fail: ``.ci/run`` installs chromium.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from kasparro.api.app import create_app
from kasparro.settings import Settings
from tests.fixtures.settings import runtime_for

BROWSER_FLAGS = [
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # This machine's network is closed: background fetches would only fail, many at a time.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots the tests take, kept for people to look at (not compared pixel by pixel).
SCREENSHOTS = Path(os.environ.get("KASPARRO_SCREENSHOTS", "test-artifacts/screenshots"))


def browser_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("KASPARRO_REQUIRE_BROWSER"))


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Module scope, not session: Playwright's sync API keeps its event loop marked as running on
# this thread while it is open, so every asyncio test this worker ran after the browser
# module (in random order, most of them) would fail with "cannot be called from a running
# event loop". Closed at the end of the module, it leaves the thread as it found it.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _browser_missing()
    if missing is not None:
        if browser_required():
            pytest.fail(f"{missing} (CI/KASPARRO_REQUIRE_BROWSER set: refusing to skip)")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=BROWSER_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


class LiveServer:
    """The app under uvicorn on a port the OS picked, in a thread with its own loop."""

    def __init__(self, settings: Settings) -> None:
        config = uvicorn.Config(
            create_app(runtime_for(settings)),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60  # a hang guard: startup migrates nothing here
        while not self.server.started:
            assert self.thread.is_alive(), "the API server stopped during startup"
            assert time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.02)
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def run(work: Any) -> Any:
    """Run ``work()`` (sync, or returning a coroutine) in a thread of its own: Playwright's
    sync API keeps an event loop on this thread, so asyncio.run() cannot run here."""
    out: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result = work()
            out.append(asyncio.run(result) if asyncio.iscoroutine(result) else result)
        except BaseException as exc:  # re-raised in the caller
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return out[0] if out else None


def _browser_missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (make install)"
    if chromium_path() is None:
        return "no headless browser: install Debian's chromium (apt-get install chromium)"
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Checked here, in the process that prints the summary (with xdist, not the workers that
    # ran, and skipped, the tests).
    missing = _browser_missing()
    if missing and not browser_required():
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(missing, red=True)
