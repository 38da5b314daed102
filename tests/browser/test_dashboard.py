"""The dashboard in a real headless Chromium: what it draws is what the API returns.

The store is filled by the real ETL against the emulator (market runs of both APIs, then a
90-day daily backfill of the top coins), served by the real app under uvicorn. Screenshots
are saved under ``test-artifacts/screenshots/`` for people to look at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kasparro.emulator import EmulatorConfig, EmulatorServer
from kasparro.runs.backfill import BackfillSpec
from kasparro.store.engine import create_engine
from kasparro.store.migrate import upgrade
from tests.browser.conftest import SCREENSHOTS, LiveServer, run
from tests.fixtures.etl import make_settings, run_etl
from tests.runs.test_backfill import backfill

UNTIL = datetime(2022, 2, 23, 11, 31, 45, tzinfo=UTC)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("dashboard") / "kasparro.db"
    url = f"sqlite+aiosqlite:///{db}"
    run(lambda: upgrade(url))
    with EmulatorServer(EmulatorConfig(coins=300)) as emu:
        settings = make_settings(
            url,
            coingecko_base_url=emu.coingecko_base_url,
            coinpaprika_base_url=emu.coinpaprika_base_url,
        )

        async def fill() -> None:
            engine = create_engine(url)
            try:
                await run_etl(engine, settings, "coingecko", "coinpaprika")
                spec = BackfillSpec("1d", UNTIL - timedelta(days=90), UNTIL, top=10)
                await backfill(engine, settings, spec)
            finally:
                await engine.dispose()

        run(fill)
    with LiveServer(settings) as server:
        yield server.url


def _page(browser: Any, site: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors
    page.goto(f"{site}/")  # redirects to /dashboard
    for part in ("health", "timeline", "top", "chart"):
        page.wait_for_function(
            f"(document.body.dataset.ready || '').split(' ').includes('{part}')", timeout=30_000
        )
    return page


def _shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_dashboard_shows_pipeline_health_and_runs_as_the_api_reports_them(
    browser: Any, site: str
) -> None:
    page = _page(browser, site)
    assert page.url.endswith("/dashboard")
    stats = httpx.get(f"{site}/api/v1/stats").json()["data"]["sources"]
    rows = page.eval_on_selector_all(
        "#health tbody tr",
        "rows => rows.map(r => [r.dataset.source, r.dataset.status, r.dataset.loaded,"
        " r.dataset.quarantined])",
    )
    assert [r[0] for r in rows] == list(stats)
    for source, status, loaded, quarantined in rows:
        expected = stats[source]
        assert status == (expected["last_run_status"] or "")
        assert loaded == str((expected["last_run"] or {}).get("loaded", ""))
        assert quarantined == str(expected["quarantined_records"])
    runs = httpx.get(f"{site}/api/v1/runs", params={"limit": 100}).json()["data"]
    drawn = page.eval_on_selector_all(
        "#timeline rect", "rs => rs.map(r => [Number(r.dataset.runId), r.dataset.status])"
    )
    assert sorted(drawn) == sorted([r["id"], r["status"]] for r in runs)
    assert page.errors == []
    _shot(page, "dashboard")


def test_price_chart_and_spread_hold_the_api_numbers(browser: Any, site: str) -> None:
    page = _page(browser, site)
    top = page.eval_on_selector_all(
        "#top tbody tr", "rows => rows.map(r => [Number(r.dataset.assetId), r.dataset.spread])"
    )
    assert len(top) == 10
    for asset_id, spread in top:
        detail = httpx.get(f"{site}/api/v1/assets/{asset_id}").json()["data"]
        prices = [float(q["price_usd"]) for q in detail["latest"].values()]
        if len(prices) < 2:  # listed by CoinGecko only (the recorded junk rank 1 is)
            assert spread == ""
            continue
        assert float(spread) == pytest.approx((max(prices) - min(prices)) / min(prices), abs=1e-6)
    assert sum(1 for _, spread in top if spread) >= 8  # one asset, both APIs' quotes
    # The first asset is charted at load; chart the first one both APIs list.
    asset_id = next(a for a, spread in top if spread)
    page.click(f"#top tbody tr[data-asset-id='{asset_id}']")
    page.wait_for_function(f"document.querySelector('#chart').dataset.assetId === '{asset_id}'")
    # The chart is the selected asset's daily closes, per source, exactly as the API sent.
    assert page.get_attribute("#chart", "data-asset-id") == str(asset_id)
    candles = httpx.get(
        f"{site}/api/v1/assets/{asset_id}/history",
        params={"interval": "1d", "order": "asc", "limit": 1000},
    ).json()["data"]
    for series in page.query_selector_all("#chart polyline.series"):
        source = series.get_attribute("data-source")
        closes = json.loads(series.get_attribute("data-closes") or "[]")
        assert closes == [c["close"] for c in candles if c["source"] == source]
        assert len(closes) > 80  # 90 days of backfilled history
    assert len(page.query_selector_all("#chart polyline.series")) == 2
    # Another interval redraws from the API.
    page.select_option("#chart-interval", "1w")
    page.wait_for_function("document.querySelector('#chart').dataset.interval === '1w'")
    _shot(page, "chart-weekly")
    assert page.errors == []


def test_searching_an_asset_charts_it(browser: Any, site: str) -> None:
    page = _page(browser, site)
    page.fill("#search-input", "uni")
    page.wait_for_selector("#search-results button")
    found = page.eval_on_selector_all(
        "#search-results button", "bs => bs.map(b => [Number(b.dataset.assetId), b.textContent])"
    )
    listed = httpx.get(f"{site}/api/v1/assets", params={"symbol": "uni", "limit": 10}).json()
    assert [f[0] for f in found] == [a["id"] for a in listed["data"]]
    assert len(found) >= 3  # uni: Uniswap, Unicorn Token, Universe Token... never merged
    _shot(page, "search")
    page.click(f"#search-results button[data-asset-id='{found[0][0]}']")
    page.wait_for_function(f"document.querySelector('#chart').dataset.assetId === '{found[0][0]}'")
    assert page.errors == []
