"""The dashboard in a real headless Chromium: what it draws is what the API returns.

The store is filled by the real ETL against the emulator (market runs of both APIs, then a
90-day daily backfill of the top coins), served by the real app under uvicorn. Screenshots
are saved under ``test-artifacts/screenshots/`` for people to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from kasparro.emulator import EmulatorConfig, EmulatorServer
from kasparro.sources.history import BackfillSpec
from kasparro.store.datamode import mark_emulated
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
                # The bundled CSV sample too: its 2024 snapshot must not leak into the
                # market APIs' spread or stretch their charts.
                await run_etl(engine, settings, "coingecko", "coinpaprika", "csv")
                spec = BackfillSpec("1d", UNTIL - timedelta(days=90), UNTIL, top=10, now=UNTIL)
                await backfill(engine, settings, spec)
                async with engine.begin() as conn:  # as `kasparro demo` does
                    await mark_emulated(conn, {"emulator": emu.base_url})
            finally:
                await engine.dispose()

        run(fill)
    with LiveServer(settings) as server:
        yield server.url


def _page(browser: Any, site: str, width: int = 1400) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 1000})
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


def _asset_id(site: str, q: str) -> int:
    return int(httpx.get(f"{site}/api/v1/assets/search", params={"q": q}).json()["data"][0]["id"])


def test_the_spread_compares_only_current_quotes_of_the_sources_shown(
    browser: Any, site: str
) -> None:
    page = _page(browser, site)
    rows = page.eval_on_selector_all(
        "#top tbody tr",
        "rows => rows.map(r => ({id: Number(r.dataset.assetId), spread: r.dataset.spread,"
        " sources: r.dataset.spreadSources, title: r.querySelector('td.spread').title}))",
    )
    assert len(rows) == 10
    # The header says which sources are compared.
    assert "spread between the current coingecko and coinpaprika quotes" in page.inner_text(
        "#top-basis"
    )
    page.wait_for_function("(document.body.dataset.ready || '').split(' ').includes('rates')")
    headers = page.eval_on_selector_all("#top thead th", "hs => hs.map(h => h.textContent)")
    assert headers == ["#", "asset", "coingecko", "coinpaprika", "spread", "rate", "vs rate"]
    compared_two = 0
    for row in rows:
        latest = httpx.get(f"{site}/api/v1/assets/{row['id']}").json()["data"]["latest"]
        # The rule, recomputed from the asset's latest quotes: the shown sources only, and
        # only quotes within an hour of the freshest of them.
        shown = {s: q for s, q in latest.items() if s in ("coingecko", "coinpaprika")}
        times = {s: datetime.fromisoformat(q["observed_at"]) for s, q in shown.items()}
        fresh = [s for s in shown if max(times.values()) - times[s] <= timedelta(hours=1)]
        assert row["sources"] == " ".join(sorted(fresh))
        if len(fresh) < 2:
            assert row["spread"] == ""
            assert "not computed" in row["title"]
            continue
        compared_two += 1
        prices = [Decimal(shown[s]["price_usd"]) for s in fresh]
        expected = ((max(prices) - min(prices)) / min(prices) * 100).quantize(Decimal("0.0001"))
        assert Decimal(row["spread"]) == expected
        assert row["title"].startswith("compares the current quotes of coingecko and coinpaprika")
        if "csv" in latest:  # the bundled CSV's 2024 snapshot of this coin never counts
            csv_price = Decimal(latest["csv"]["price_usd"])
            mixed = (max([*prices, csv_price]) - min([*prices, csv_price])) / min(prices) * 100
            assert Decimal(row["spread"]) < mixed
    assert compared_two >= 8
    bitcoin = next(r for r in rows if r["id"] == _asset_id(site, "bitcoin"))
    assert Decimal(bitcoin["spread"]) < 10  # the CSV-mixed figure was 50.78 %
    assert page.errors == []


def _ready(page: Any, part: str) -> None:
    page.wait_for_function(
        f"(document.body.dataset.ready || '').split(' ').includes('{part}')", timeout=30_000
    )


def test_the_rate_column_and_the_asset_view_show_the_reference_rate_and_its_inputs(
    browser: Any, site: str
) -> None:
    page = _page(browser, site)
    _ready(page, "rates")
    _ready(page, "rate")
    _ready(page, "divergences")
    rows = page.eval_on_selector_all(
        "#top tbody tr",
        "rows => rows.map(r => ({id: Number(r.dataset.assetId), rate: r.querySelector('td.rate')"
        ".dataset.rate, vs: r.querySelector('[data-vs-rate]').dataset.vsRate,"
        " sources: r.querySelector('[data-vs-rate]').dataset.vsRateSources,"
        " title: r.querySelector('[data-vs-rate]').title}))",
    )
    rated = 0
    for row in rows:
        api = httpx.get(f"{site}/api/v1/assets/{row['id']}/rate")
        if api.status_code == 404:
            assert row["rate"] == "" and row["vs"] == ""
            continue
        rate = api.json()["data"]
        assert row["rate"] == rate["value"]
        # No venues here: the aggregators are the fallback, and the figure names them.
        assert rate["fallback"] and rate["n_inputs"] >= 2
        assert row["sources"] and row["title"].startswith("compares the reference rate with")
        latest = httpx.get(f"{site}/api/v1/assets/{row['id']}").json()["data"]["latest"]
        gaps = [
            abs(Decimal(latest[s]["price_usd"]) / Decimal(rate["value"]) - 1) * 100
            for s in row["sources"].split()
        ]
        assert abs(float(max(gaps)) - float(row["vs"])) < 0.001
        rated += 1
    assert rated >= 8
    # The asset view: the value, its band and every input; the included ones give it back.
    summary = page.eval_on_selector("#rate-summary", "s => ({...s.dataset})")
    inputs = page.eval_on_selector_all(
        "#rate-inputs tbody tr", "rs => rs.map(r => ({...r.dataset}))"
    )
    assert summary["value"] and inputs
    included = sorted(
        (Decimal(i["priceUsd"]), Decimal(i["weight"])) for i in inputs if i["included"] == "true"
    )
    half = sum(w for _, w in included) / 2
    running = Decimal(0)
    for value, weight in included:
        running += weight
        if running >= half:
            assert value == Decimal(summary["value"])
            break
    assert Decimal(summary["low"]) <= Decimal(summary["value"]) <= Decimal(summary["high"])
    assert "off their peg" in page.inner_text("#divergence-note")
    _shot(page, "dashboard-rate")
    assert page.errors == []


def test_the_junk_top_coin_is_shown_as_an_anomaly_not_ranked(browser: Any, site: str) -> None:
    page = _page(browser, site)
    tico = _asset_id(site, "ticoex")
    ranked = page.eval_on_selector_all(
        "#top tbody tr", "rows => rows.map(r => Number(r.dataset.assetId))"
    )
    assert tico not in ranked
    assert ranked[0] == _asset_id(site, "bitcoin")
    item = page.locator(f"#anomalies li[data-asset-id='{tico}']")
    assert item.is_visible()
    text = item.inner_text()
    assert "TICO · TICOEX Token" in text
    assert "coingecko rank 1" in text and "whole market" in text
    assert page.get_attribute(f"#anomalies li[data-asset-id='{tico}']", "data-codes") == "turnover"
    page.locator("#top-card").screenshot(path=str(_shot_path("top-assets-and-anomalies")))
    assert page.errors == []


def _shot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


# Counts, in the chart as drawn, the pixels of each source's colour; then again with each
# source's line drawn alone. A line hidden under another keeps few of its own pixels.
VISIBLE_PIXELS_JS = """async (colors) => {
  const svg = document.getElementById('chart');
  const [w, h] = [svg.clientWidth, svg.clientHeight];
  async function count(only) {
    const clone = svg.cloneNode(true);
    clone.setAttribute('width', w);
    clone.setAttribute('height', h);
    clone.querySelectorAll('.grid, text').forEach((n) => n.remove());
    if (only) clone.querySelectorAll('g.series-group').forEach((g) => {
      if (g.dataset.source !== only) g.remove();
    });
    const blob = new Blob([new XMLSerializer().serializeToString(clone)],
      {type: 'image/svg+xml'});
    const img = new Image();
    img.src = URL.createObjectURL(blob);
    await img.decode();
    const canvas = document.createElement('canvas');
    [canvas.width, canvas.height] = [w, h];
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const px = ctx.getImageData(0, 0, w, h).data;
    const out = {};
    for (const [source, [r, g, b]] of Object.entries(colors)) {
      let n = 0;
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3] > 200 && Math.abs(px[i] - r) + Math.abs(px[i + 1] - g)
            + Math.abs(px[i + 2] - b) < 40) n++;
      }
      out[source] = n;
    }
    return out;
  }
  const together = await count(null);
  const alone = {};
  for (const source of Object.keys(colors)) alone[source] = (await count(source))[source];
  return {together, alone};
}"""
CHART_COLORS = {"coingecko": [0x5B, 0x8D, 0xEF], "coinpaprika": [0xF4, 0x72, 0xB6]}


def _api_window(site: str, asset: int, interval: str, limit: int) -> list[dict[str, Any]]:
    newest_first = httpx.get(
        f"{site}/api/v1/assets/{asset}/history",
        params={
            "interval": interval,
            "order": "desc",
            "limit": limit,
            "source": ["coingecko", "coinpaprika"],
        },
    ).json()["data"]
    return newest_first[::-1]


def _drawn(page: Any) -> dict[str, Any]:
    return page.eval_on_selector(
        "#chart",
        "svg => ({x: [svg.dataset.xMin, svg.dataset.xMax], sources: svg.dataset.sources,"
        " series: Object.fromEntries([...svg.querySelectorAll('polyline.series')].map(p =>"
        " [p.dataset.source, [JSON.parse(p.dataset.buckets), JSON.parse(p.dataset.closes)]]))})",
    )


def _iso(bucket: str) -> str:
    return datetime.fromisoformat(bucket).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_the_chart_shows_the_latest_window_fitted_with_every_source_visible(
    browser: Any, site: str
) -> None:
    page = _page(browser, site)
    eth = _asset_id(site, "ethereum")
    page.click(f"#top tbody tr[data-asset-id='{eth}']")
    page.wait_for_function(f"document.querySelector('#chart').dataset.assetId === '{eth}'")
    for interval, limit in (("1d", 90), ("1h", 168)):
        if interval != "1d":
            page.select_option("#chart-interval", interval)
            page.wait_for_function(
                f"document.querySelector('#chart').dataset.interval === '{interval}'"
            )
        window = _api_window(site, eth, interval, limit)
        drawn = _drawn(page)
        # The market APIs only (the CSV's 2024 points are offered, not drawn)...
        assert drawn["sources"] == "coingecko coinpaprika"
        assert page.is_visible("#chart-legend label[data-source='csv'] input:not(:checked)")
        # ...their newest buckets: the axis ends at the newest bucket and starts at the
        # window's first one, not at 2024 and not at the oldest history.
        assert drawn["x"] == [_iso(window[0]["bucket_start"]), _iso(window[-1]["bucket_start"])]
        assert drawn["x"][1].startswith("2022-02-23")
        for source in ("coingecko", "coinpaprika"):
            mine = [c for c in window if c["source"] == source]
            assert drawn["series"][source] == [
                [c["bucket_start"] for c in mine],
                [c["close"] for c in mine],
            ]
        if interval == "1d":
            assert len(drawn["series"]["coingecko"][0]) > 80  # 90 days of backfilled history
            # The two APIs' histories coincide here: both lines must still show.
            pixels = page.evaluate(VISIBLE_PIXELS_JS, CHART_COLORS)
            for source in CHART_COLORS:
                assert pixels["alone"][source] > 500, pixels
                assert pixels["together"][source] > 0.3 * pixels["alone"][source], pixels
            page.locator("#chart-card").screenshot(path=str(_shot_path("chart-daily")))
    page.locator("#chart-card").screenshot(path=str(_shot_path("chart-hourly")))
    # Adding the CSV redraws with it, and the axis fits that too.
    page.check("#chart-legend label[data-source='csv'] input")
    page.wait_for_function("document.querySelector('#chart').dataset.sources.includes('csv')")
    assert page.errors == []


def test_the_demo_is_labelled(browser: Any, site: str) -> None:
    assert httpx.get(f"{site}/health").json()["mode"] == "demo"
    assert httpx.get(f"{site}/api/v1/stats").json()["data"]["mode"] == "demo"
    page = _page(browser, site)
    banner = page.locator("#mode-banner")
    assert banner.is_visible()
    assert "emulated data" in banner.inner_text()
    assert "not real market data" in banner.inner_text()
    assert page.errors == []


def test_search_finds_prefixes_and_enter_picks_the_first_match(browser: Any, site: str) -> None:
    page = _page(browser, site)
    page.fill("#search-input", "bitcoin")
    page.wait_for_selector("#search-results button")
    page.wait_for_function("[...document.querySelectorAll('#search-results button')].length > 1")
    found = page.eval_on_selector_all(
        "#search-results button", "bs => bs.map(b => [Number(b.dataset.assetId), b.textContent])"
    )
    listed = httpx.get(f"{site}/api/v1/assets/search", params={"q": "bitcoin"}).json()["data"]
    assert [f[0] for f in found] == [a["id"] for a in listed]
    assert found[0][1].startswith("BTC · Bitcoin")
    # Markets only: the backfill's history feeds are no market.
    assert all("_history" not in text and "_reference" not in text for _, text in found)
    assert "coingecko, coinpaprika" in found[0][1]
    _shot(page, "search")
    page.fill("#search-input", "us")
    page.press("#search-input", "Enter")
    first = httpx.get(f"{site}/api/v1/assets/search", params={"q": "us"}).json()["data"][0]
    assert first["symbol"].lower().startswith("us")
    page.wait_for_function(f"document.querySelector('#chart').dataset.assetId === '{first['id']}'")
    assert page.is_hidden("#search-results")
    assert first["name"] in page.inner_text("#chart-title")
    assert page.errors == []


def test_the_dashboard_fits_a_420_px_screen(browser: Any, site: str) -> None:
    page = _page(browser, site, width=420)
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
    )
    assert widths[0] <= 420 and widths[1] <= 420, widths
    # Every card, the chart and the search box lie within the screen.
    boxes = page.eval_on_selector_all(
        ".card, #chart, #search-input, #mode-banner",
        "els => els.map(e => [e.id || e.className, e.getBoundingClientRect().left,"
        " e.getBoundingClientRect().right])",
    )
    assert boxes and all(left >= 0 and right <= 420 for _, left, right in boxes), boxes
    assert page.eval_on_selector("#chart", "svg => svg.clientWidth") > 300
    _shot(page, "dashboard-420px")
    assert page.errors == []
