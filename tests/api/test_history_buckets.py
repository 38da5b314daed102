"""OHLC buckets on /api/v1/assets/{id}/history?interval=, and POST /api/v1/backfills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.emulator import EmulatorConfig
from tests.fixtures.api import AUTH, make_settings, rec, running_app, seed_run, walk
from tests.fixtures.emulator import EmulatorFactory

T = datetime(2024, 5, 1, tzinfo=UTC)
# Prices by the hour over two days, with exact tiny and huge values, two sources.
PRICES = ["1", "3", "2", "0.0000000001", "5", "4.5", "1e3", "2.25"]


async def _seed(engine: AsyncEngine) -> int:
    gecko = [
        rec(
            "coin",
            symbol="CN",
            name="Coin",
            at=T + timedelta(hours=6 * i),
            price=p,
            market_cap=str(100 + i),
            volume="7",
        )
        for i, p in enumerate(PRICES)
    ]
    paprika = [
        rec(
            "cn-coin",
            source="coinpaprika",
            symbol="CN",
            name="Coin",
            at=T + timedelta(hours=6 * i + 1),
            price=str(Decimal(p) * 2),
        )
        for i, p in enumerate(PRICES)
    ]
    seeded = await seed_run(engine, "coingecko", gecko)
    await seed_run(engine, "coinpaprika", paprika)
    return seeded.asset_ids["coin"]


async def test_daily_buckets_hold_exact_open_high_low_close_per_source(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    asset = await _seed(engine)
    resp = await api_client.get(
        f"/api/v1/assets/{asset}/history", params={"interval": "1d", "order": "asc"}
    )
    assert resp.status_code == 200, resp.text
    got = [
        (
            c["bucket_start"],
            c["source"],
            c["open"],
            c["high"],
            c["low"],
            c["close"],
            c["observations"],
        )
        for c in resp.json()["data"]
    ]
    assert got == [
        ("2024-05-01T00:00:00Z", "coingecko", "1", "3", "0.0000000001", "0.0000000001", 4),
        ("2024-05-01T00:00:00Z", "coinpaprika", "2", "6", "0.0000000002", "0.0000000002", 4),
        ("2024-05-02T00:00:00Z", "coingecko", "5", "1000", "2.25", "2.25", 4),
        ("2024-05-02T00:00:00Z", "coinpaprika", "10", "2000", "4.5", "4.5", 4),
    ]
    first = resp.json()["data"][0]
    assert first["market_cap_usd"] == "103" and first["volume_24h_usd"] == "7"  # the close's
    only = await api_client.get(
        f"/api/v1/assets/{asset}/history",
        params={"interval": "1d", "source": "coinpaprika", "order": "desc"},
    )
    assert [c["bucket_start"] for c in only.json()["data"]] == [
        "2024-05-02T00:00:00Z",
        "2024-05-01T00:00:00Z",
    ]


async def test_buckets_page_by_time_window_without_gaps_or_repeats(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    asset = await _seed(engine)
    path = f"/api/v1/assets/{asset}/history"
    for order in ("asc", "desc"):
        walked = await walk(
            api_client, path, {"interval": "1h", "limit": 5, "source": "coingecko", "order": order}
        )
        starts = [c["bucket_start"] for c in walked]
        assert len(starts) == len(PRICES) == len(set(starts))
        assert starts == sorted(starts, reverse=order == "desc")
    bad = await api_client.get(path, params={"interval": "2h"})
    assert bad.status_code == 422
    for _ in range(2):  # the second time from the cached empty page: still a 404
        missing = await api_client.get("/api/v1/assets/424242/history", params={"interval": "1d"})
        assert missing.status_code == 404


def _app_state(client: httpx.AsyncClient) -> Any:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return transport.app.state.kasparro  # type: ignore[attr-defined]


async def test_the_newest_page_of_some_sources_starts_at_their_newest_data(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    """A CSV snapshot two years after the market data must not decide where the market
    sources' newest page is: the dashboard's chart asks for exactly that page."""
    asset = await _seed(engine)
    await seed_run(
        engine,
        "csv",
        [rec("coin", source="csv", symbol="CN", name="Coin", at=T + timedelta(days=730))],
    )
    resp = await api_client.get(
        f"/api/v1/assets/{asset}/history",
        params={
            "interval": "1d",
            "order": "desc",
            "limit": 1,
            "source": ["coingecko", "coinpaprika"],
        },
    )
    assert resp.status_code == 200, resp.text
    page = resp.json()["data"]
    assert {c["bucket_start"] for c in page} == {"2024-05-02T00:00:00Z"}
    assert {c["source"] for c in page} == {"coingecko", "coinpaprika"}
    assert resp.json()["meta"]["has_more"] is True  # 2024-05-01 follows


async def test_cached_bucket_pages_show_every_commit(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    asset = await _seed(engine)
    params = {"interval": "1d", "source": "coingecko", "order": "asc"}
    path = f"/api/v1/assets/{asset}/history"
    state = _app_state(api_client)
    # PostgreSQL's data version moves with every commit in the cluster (a parallel test
    # too), which rightly empties the cache: a repeat is a hit only while it holds still.
    for _ in range(50):
        version = await state.reader.data_version()
        first = (await api_client.get(path, params=params)).json()["data"]
        hits = state.cache.hits
        assert (await api_client.get(path, params=params)).json()["data"] == first
        if await state.reader.data_version() == version:
            assert state.cache.hits == hits + 1  # the second answer was the cached page
            break
    else:
        pytest.fail("the data version never held still for two requests")
    later = rec("coin", symbol="CN", name="Coin", at=T + timedelta(days=2, hours=3), price="9")
    await seed_run(engine, "coingecko", [later])
    again = (await api_client.get(path, params=params)).json()["data"]
    assert [c["bucket_start"] for c in again] == [
        "2024-05-01T00:00:00Z",
        "2024-05-02T00:00:00Z",
        "2024-05-03T00:00:00Z",
    ]
    assert again[-1]["open"] == again[-1]["close"] == "9"


async def test_a_backfill_started_over_the_api_is_a_run_like_any_other(
    db_url: str, tmp_path: Path, emulator_factory: EmulatorFactory
) -> None:
    from tests.fixtures.api import wait_for_run

    # The emulator's 2022 history is older than the free plans' last year: a paid plan.
    emu = emulator_factory(EmulatorConfig(coins=200, cg_plan="paid"))
    settings = make_settings(
        db_url,
        tmp_path,
        coingecko_base_url=emu.coingecko_base_url,
        coinpaprika_base_url=emu.coinpaprika_base_url,
        coingecko_plan="analyst",
    )
    async with running_app(settings) as client:
        market = await client.post("/api/v1/runs", json={"source": "coingecko"}, headers=AUTH)
        await wait_for_run(client, market.json()["data"]["runs"][0]["run_id"])
        body: dict[str, Any] = {
            "source": "coingecko",
            "top": 3,
            "since": "2021-02-23",
            "until": "2022-02-23T11:31:45Z",
        }
        assert (await client.post("/api/v1/backfills", json=body)).status_code == 401
        for since, kind in [
            ("soon", "datetime_parsing"),  # the documented pattern, enforced by the parser
            ("2021-02-30", "datetime_parsing"),
            ("0001-01-01T00:00+01:00", "datetime_range"),  # a year 0 in UTC
            ("2022-02-24", "range"),  # after until
        ]:
            bad = await client.post(
                "/api/v1/backfills", json={**body, "since": since}, headers=AUTH
            )
            assert bad.status_code == 422, (since, bad.text)
            assert [d["type"] for d in bad.json()["error"]["details"]] == [kind], bad.text
        started = await client.post("/api/v1/backfills", json=body, headers=AUTH)
        assert started.status_code == 202, started.text
        (run,) = started.json()["data"]["runs"]
        done = await wait_for_run(client, run["run_id"], within=60)
        assert done["source"] == "coingecko_history" and done["status"] == "success"
        assert done["pages"] == 3
        listed = (await client.get("/api/v1/runs", params={"source": "coingecko_history"})).json()
        assert [r["id"] for r in listed["data"]] == [run["run_id"]]


async def _pages(
    client: httpx.AsyncClient, path: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every page of a walk, as answered (data and meta)."""
    pages: list[dict[str, Any]] = []
    cursor = None
    while len(pages) < 1000:
        resp = await client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert resp.status_code == 200, resp.text
        pages.append(resp.json())
        cursor = pages[-1]["meta"]["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("pagination did not terminate")


async def test_sparse_history_never_pages_through_empty_windows(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    # The demo's shape: one CSV point years before ten days of market data. Daily buckets
    # three at a time walked the gap window by window: 265 empty pages saying has_more.
    recent = [
        rec("coin", symbol="CN", name="Coin", at=T + timedelta(hours=6 * i), price=str(i + 1))
        for i in range(40)
    ]
    old = rec("coin-csv", source="csv", symbol="CN", name="Coin", at=T - timedelta(days=700))
    asset = (await seed_run(engine, "coingecko", recent)).asset_ids["coin"]
    assert (await seed_run(engine, "csv", [old])).asset_ids["coin-csv"] == asset
    path = f"/api/v1/assets/{asset}/history"
    for interval, limit, order, expected in [
        ("1d", 3, "desc", 5),  # days 10-8, 7-5, 4-2, 1 (+2 empty days), then the CSV day
        ("1d", 3, "asc", 5),  # the CSV day, then days 1-3, 4-6, 7-9, 10
        ("1w", 1, "desc", 3),
        ("1h", 24, "asc", 1 + 10),
    ]:
        params = {"interval": interval, "limit": limit, "order": order}
        pages = await _pages(api_client, path, params)
        empty_with_more = [p["meta"] for p in pages if not p["data"] and p["meta"]["has_more"]]
        assert not empty_with_more, (interval, order, empty_with_more)
        assert len(pages) == expected, (interval, order, [len(p["data"]) for p in pages])
        walked = [c for p in pages for c in p["data"]]
        whole = await api_client.get(path, params={**params, "limit": 1000})
        if interval != "1h":  # 1000 hours do not reach back 700 days
            assert walked == whole.json()["data"]
        assert walked[-1 if order == "asc" else 0]["source"] == "coingecko"
        assert walked[0 if order == "asc" else -1]["source"] == "csv"
    # A filter that leaves nothing: one empty page, and it says so.
    (only,) = await _pages(api_client, path, {"interval": "1d", "source": "coinpaprika"})
    assert only["data"] == [] and only["meta"]["has_more"] is False
    # The plain series pages by rows: never an empty page either.
    pages = await _pages(api_client, path, {"limit": 3})
    assert [len(p["data"]) for p in pages] == [3] * 13 + [2]
    assert all(p["meta"]["has_more"] for p in pages[:-1]) and not pages[-1]["meta"]["has_more"]
