"""The emulator's clock: anchored at the recording (deterministic, the default) or at the
wall clock (the demo and `kasparro emulator`), with the plans' history depth counted back
from the emulator's own *now*."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kasparro.emulator import EmulatorConfig, create_app
from tests.emulator.util import all_cg_pages, asgi_client, decimal_json

WALL = 1_796_000_000  # 2026-11-30T00:53:20Z, as a wall clock would read it
DAY = 86_400


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _wall_config(**options: Any) -> EmulatorConfig:
    return EmulatorConfig(anchor="now", wall_clock=lambda: WALL + 0.75, **options)


async def test_anchor_now_serves_current_data_with_the_recordings_numbers() -> None:
    async with asgi_client(_wall_config()) as (client, app):
        assert app.state.emulator.now_ms() == WALL * 1000
        rows = await all_cg_pages(client)
        tickers_response = await client.get("/v1/tickers")
        market = decimal_json((await client.get("/v1/global")).content)
        health = (await client.get("/_emulator/health")).json()
    async with asgi_client() as (client, _):
        recorded_rows = await all_cg_pages(client)
        recorded_tickers = decimal_json((await client.get("/v1/tickers")).content)
    tickers = decimal_json(tickers_response.content)
    universe = app.state.emulator.universe
    for row in rows:
        age = WALL - _seconds(row["last_updated"])
        if universe.by_cg_id[row["id"]].stale:
            assert 30 * DAY <= age <= 401 * DAY  # dead coins stopped updating long ago
        else:
            assert 0 <= age < 600, row
    for ticker in tickers:
        age = WALL - _seconds(ticker["last_updated"])
        assert 0 <= age < 300 or universe.by_cp_id[ticker["id"]].stale, ticker
    assert 0 <= WALL - market["last_updated"] < 300
    assert tickers_response.headers["last-modified"] == "Mon, 30 Nov 2026 00:53:20 GMT"
    assert health["now"] == "2026-11-30T00:53:20.000Z"
    # Only the clock moved: the numbers are the recording's (CoinGecko's page verbatim).
    strip = {"last_updated"}
    assert [{k: v for k, v in r.items() if k not in strip} for r in rows] == [
        {k: v for k, v in r.items() if k not in strip} for r in recorded_rows
    ]
    assert [t["quotes"] for t in tickers] == [t["quotes"] for t in recorded_tickers]


async def test_the_wall_clock_anchor_reads_the_real_clock() -> None:
    before = time.time()
    async with asgi_client(EmulatorConfig(anchor="now")) as (client, _):
        btc = (
            await client.get(
                "/api/v3/coins/markets", params={"vs_currency": "usd", "ids": "bitcoin"}
            )
        ).json()[0]
    assert before - 600 < _seconds(btc["last_updated"]) <= time.time()


async def test_history_ends_now_and_the_plans_count_back_from_now() -> None:
    async with asgi_client(_wall_config()) as (client, _):
        week = (
            await client.get(
                "/api/v3/coins/bitcoin/market_chart", params={"vs_currency": "usd", "days": 7}
            )
        ).json()
        paprika_week = (
            await client.get(
                "/v1/tickers/btc-bitcoin/historical",
                params={"start": str(WALL - 7 * DAY), "interval": "1d"},
            )
        ).json()
        too_old = await client.get(
            "/api/v3/coins/bitcoin/market_chart/range",
            params={"vs_currency": "usd", "from": WALL - 366 * DAY, "to": WALL - 300 * DAY},
        )
        forever = await client.get(
            "/api/v3/coins/bitcoin/market_chart", params={"vs_currency": "usd", "days": "max"}
        )
        paprika_too_old = await client.get(
            "/v1/tickers/btc-bitcoin/historical",
            params={"start": str(WALL - 366 * DAY), "end": str(WALL - 300 * DAY), "interval": "1d"},
        )
        year = await client.get(
            "/api/v3/coins/bitcoin/market_chart/range",
            params={"vs_currency": "usd", "from": WALL - 364 * DAY, "to": WALL},
        )
    assert week["prices"][-1][0] == WALL * 1000  # the chart ends now, at the current price
    assert WALL - 7 * DAY <= week["prices"][0][0] / 1000 < WALL - 7 * DAY + 3600
    assert 5 <= len(paprika_week) <= 7
    assert all(WALL - 7 * DAY <= _seconds(p["timestamp"]) <= WALL for p in paprika_week)
    # CoinGecko's keyless/Demo plan: the past 365 days from now, counted by the API itself.
    assert too_old.status_code == forever.status_code == 401
    error = too_old.json()["error"]["status"]
    assert error["error_code"] == 10012 and "past 365 days" in error["error_message"]
    assert paprika_too_old.status_code == 402
    assert year.status_code == 200 and len(year.json()["prices"]) > 350


async def test_a_past_day_is_hourly_on_coingecko_only_the_last_day_is_five_minutely() -> None:
    async with asgi_client(_wall_config()) as (client, _):
        last_day = (
            await client.get(
                "/api/v3/coins/bitcoin/market_chart/range",
                params={"vs_currency": "usd", "from": WALL - DAY, "to": WALL},
            )
        ).json()
        past_day = (
            await client.get(
                "/api/v3/coins/bitcoin/market_chart/range",
                params={"vs_currency": "usd", "from": WALL - 3 * DAY, "to": WALL - 2 * DAY},
            )
        ).json()

    def step(chart: dict[str, list[list[float]]]) -> float:
        times = [t for t, _ in chart["prices"]]
        return min(b - a for a, b in itertools.pairwise(times))

    assert step(last_day) == 300_000
    assert step(past_day) == 3_600_000


async def test_with_the_wall_clock_a_tick_is_the_time_it_adds() -> None:
    monotonic = [100.0]
    config = _wall_config(clock=lambda: monotonic[0])
    assert config.tick_every_seconds == config.tick_step_seconds == 300
    async with asgi_client(config) as (client, app):
        first = (await client.get("/v1/tickers/eth-ethereum")).json()
        monotonic[0] += 300
        assert app.state.emulator.current_tick == 1
        assert app.state.emulator.now_ms() == (WALL + 300) * 1000
        second = (await client.get("/v1/tickers/eth-ethereum")).json()
    assert _seconds(second["last_updated"]) - _seconds(first["last_updated"]) == 300
    assert second["quotes"]["USD"]["price"] != first["quotes"]["USD"]["price"]
    # A faster clock shortens the tick: the data still never runs ahead of the wall clock.
    fast = _wall_config(tick_every_seconds=60)
    assert (fast.tick_step_seconds, fast.tick_every_seconds) == (60, 60)


def test_a_fixed_anchor_moves_every_timestamp_deterministically() -> None:
    anchor = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    emulator = create_app(EmulatorConfig(anchor="2026-01-02T03:04:05Z")).state.emulator
    assert emulator.now_ms() == int(anchor.timestamp()) * 1000
    assert emulator.config.describe()["anchor"] == "2026-01-02T03:04:05+00:00"
    assert EmulatorConfig(anchor=anchor + timedelta(hours=1)).anchor == anchor + timedelta(hours=1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"anchor": "yesterday"}, "anchor must be"),
        ({"anchor": datetime(2026, 1, 1)}, "timezone"),  # naive: the mistake tested
        ({"anchor": "now", "tick_every_seconds": 0.5}, "whole seconds"),
        ({"cg_plan": "pro"}, "cg_plan"),
    ],
)
def test_bad_clock_options_are_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EmulatorConfig(**options)


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "kasparro", "emulator", "--anchor", "yesterday"],
        [sys.executable, "-m", "kasparro.emulator", "--anchor", "yesterday"],
    ],
)
def test_a_bad_anchor_on_the_command_line_is_a_usage_error(command: list[str]) -> None:
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False, env=dict(os.environ)
    )
    assert proc.returncode == 2
    assert "anchor must be 'recording', 'now' or an ISO-8601 time" in proc.stderr
    assert "Traceback" not in proc.stderr
