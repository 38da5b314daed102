"""The emulated history routes: granularity rules, gaps, delisted coins, plan limits."""

from __future__ import annotations

from datetime import UTC, datetime

from kasparro.emulator import build_universe
from kasparro.emulator.universe import BASE_TIME_MS
from tests.emulator.util import asgi_client

DAY = 86_400
NOW = BASE_TIME_MS // 1000


async def _chart(client: object, cg_id: str, start: int, end: int) -> dict[str, list[list[float]]]:
    resp = await client.get(  # type: ignore[attr-defined]
        f"/api/v3/coins/{cg_id}/market_chart/range",
        params={"vs_currency": "usd", "from": start, "to": end},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_coingecko_granularity_follows_the_range_like_the_real_api() -> None:
    async with asgi_client() as (client, _):
        day = await _chart(client, "bitcoin", NOW - DAY, NOW)
        quarter = await _chart(client, "bitcoin", NOW - 60 * DAY, NOW)
        year = await _chart(client, "bitcoin", NOW - 365 * DAY, NOW)
    # The last point of a range reaching now is now itself (unaligned): left out here.
    steps = {
        name: {b[0] - a[0] for a, b in zip(chart["prices"], chart["prices"][1:-1], strict=False)}
        for name, chart in (("day", day), ("quarter", quarter), ("year", year))
    }
    assert min(steps["day"]) == 300_000  # 5-minutely (gaps make some steps longer)
    assert min(steps["quarter"]) == 3_600_000  # hourly
    assert min(steps["year"]) == 86_400_000  # daily, at 00:00 UTC ...
    assert all(t % 86_400_000 == 0 for t, _ in year["prices"][:-1])
    # ... except the last point: now, at the current market price, as the recording shows.
    assert year["prices"][-1][0] == BASE_TIME_MS
    assert year["prices"][-1][1] == 38938  # the recorded /coins/markets price at tick 0
    assert len(year["prices"]) == len(year["market_caps"]) == len(year["total_volumes"])
    assert 350 <= len(year["prices"]) <= 366  # a few points missing: upstream gaps


async def test_dead_coins_have_no_history_after_they_stopped_and_unknown_ids_404() -> None:
    universe = build_universe(2500, 1)
    dead = next(a for a in universe.coingecko if a.stale and a.origin == "coins_list")
    async with asgi_client() as (client, _):
        chart = await _chart(client, dead.cg_id or "", NOW - 365 * DAY, NOW)
        missing = await client.get(
            "/api/v3/coins/nope/market_chart/range",
            params={"vs_currency": "usd", "from": 1, "to": 2},
        )
        no_currency = await client.get("/api/v3/coins/bitcoin/market_chart/range")
    assert chart["prices"] and chart["prices"][-1][0] < BASE_TIME_MS - 86_400_000
    assert missing.status_code == 404
    assert missing.json() == {"error": "Could not find coin with the given id"}
    assert no_currency.status_code == 422


async def test_coinpaprika_history_is_aligned_limited_and_bounded_by_the_plan() -> None:
    async with asgi_client() as (client, _):
        daily = await client.get(
            "/v1/tickers/btc-bitcoin/historical",
            params={"start": "2021-06-01", "interval": "1d", "limit": 10},
        )
        too_old = await client.get(
            "/v1/tickers/btc-bitcoin/historical", params={"start": "2019-01-01", "interval": "1d"}
        )
        five_min = await client.get(
            "/v1/tickers/btc-bitcoin/historical",
            params={"start": str(NOW - 3600), "interval": "5m"},
        )
    ticks = daily.json()
    assert daily.status_code == 200 and 1 <= len(ticks) <= 10
    assert list(ticks[0]) == ["timestamp", "price", "volume_24h", "market_cap"]
    assert all(t["timestamp"].endswith("T00:00:00Z") for t in ticks)
    assert datetime.fromisoformat(ticks[0]["timestamp"].replace("Z", "+00:00")) >= datetime(
        2021, 6, 1, tzinfo=UTC
    )
    assert too_old.status_code == five_min.status_code == 402
    assert "free plan" in five_min.json()["error"]
