"""/docs and /redoc in a real headless Chromium with every host but this one blocked.

FastAPI's default pages load Swagger UI and ReDoc from a CDN and are blank offline; the
app serves them from the installed package instead. Every request the pages make goes
through a route that aborts anything not addressed to 127.0.0.1/localhost and records it:
the pages must render the API's operations, and need nothing from elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from kasparro.store.migrate import upgrade
from tests.browser.conftest import LiveServer, run
from tests.fixtures.etl import make_settings

LOCAL = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('docs') / 'kasparro.db'}"
    run(lambda: upgrade(url))
    with LiveServer(make_settings(url)) as server:
        yield server.url


def _offline_page(browser: Any) -> Any:
    """A page whose requests to any other host are aborted and recorded."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.blocked = []
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))

    def route(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOCAL:
            route.continue_()
        else:
            page.blocked.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return page


def _operations(site: str) -> list[tuple[str, str]]:
    spec = httpx.get(f"{site}/openapi.json").json()
    return [(method, path) for path, ops in spec["paths"].items() for method in ops]


def test_swagger_ui_renders_every_operation_offline(browser: Any, site: str) -> None:
    page = _offline_page(browser)
    page.goto(f"{site}/docs")
    page.wait_for_selector(".opblock .opblock-summary-path", timeout=30_000)
    rendered = page.eval_on_selector_all(
        ".opblock",
        "els => els.map(e => [e.querySelector('.opblock-summary-method').textContent,"
        " e.querySelector('.opblock-summary-path').dataset.path])",
    )
    assert sorted((m.lower(), p) for m, p in rendered) == sorted(_operations(site))
    # Usable, not only drawn: "Try it out" on /health calls this server and shows its answer.
    health = page.locator(".opblock", has=page.locator("[data-path='/health']"))
    health.locator(".opblock-summary").click()
    health.locator("button.try-out__btn").click()
    health.locator("button.execute").click()
    status = health.locator(".live-responses-table tbody td.response-col_status").first
    status.wait_for(timeout=30_000)
    assert status.inner_text().strip() == "200"
    assert page.blocked == [] and page.errors == []


def test_redoc_renders_every_operation_offline(browser: Any, site: str) -> None:
    page = _offline_page(browser)
    page.goto(f"{site}/redoc")
    operation = "[data-section-id^='tag/'][data-section-id*='/operation/']"
    page.wait_for_selector(operation, timeout=60_000)
    # Each operation's section shows its method and path in the right-hand panel.
    shown = page.eval_on_selector_all(
        operation,
        "els => els.map(e => e.querySelector('[class*=http-verb]').parentElement.textContent)",
    )
    assert sorted(shown) == sorted(f"{m}{p}" for m, p in _operations(site))
    assert page.blocked == [] and page.errors == []
