"""Each venue's rate-limit signals, handled like the aggregators': Binance's 429 with
Retry-After and its 418 ban, Kraken's limit inside a 200 body; and the default budgets
never trip the venues' published limits (the emulator enforces them)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.emulator import EmulatorConfig
from kasparro.sources.http import Fetcher, Limiters, UpstreamError
from tests.fixtures.etl import VENUE_NAMES, make_settings, run_etl, venue_urls


class Stepping:
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_kraken_rate_limit_in_a_200_body_is_retried(
    engine: AsyncEngine, db_url: str, emulator_factory: Any
) -> None:
    # One request a minute, and 40 s pass between two requests: every second request finds
    # the window full (Kraken answers 200 {"error":["EAPI:Rate limit exceeded"]}), its retry
    # finds it free.
    clock = Stepping(20.0)  # read twice per request: 40 s a request
    emu = emulator_factory(EmulatorConfig(coins=400, venue_rate_limits={"kraken": 1}, clock=clock))
    settings = make_settings(db_url, **venue_urls(emu))
    results = await run_etl(engine, settings, "kraken_markets", "kraken")
    stats = emu.state.stats()["venues"]["kraken"]
    assert stats.get("rate_limited", 0) >= 2, stats  # inside 200 bodies
    assert "429" not in stats
    for res in results.values():
        assert res.status == "success", res.error


async def test_binance_429_then_ban_fails_the_run_with_the_reason_and_stops_asking(
    engine: AsyncEngine, db_url: str, emulator_factory: Any
) -> None:
    clock = Clock()
    emu = emulator_factory(
        EmulatorConfig(coins=400, venue_rate_limits={"binance": 100}, clock=clock,
                       binance_ban_seconds=3600)
    )  # fmt: skip
    # Retry-After longer than the run may wait: the run fails, saying why.
    settings = make_settings(db_url, **venue_urls(emu), http_max_retry_after_seconds=5)
    results = await run_etl(engine, settings, "binance_markets", "binance")  # 20 + 80 weight
    assert results["binance"].status == "success"
    emu.state.tick()
    limited = (await run_etl(engine, settings, "binance"))["binance"]
    assert limited.status == "failed"
    assert "429" in (limited.error or "") and "-1003" in (limited.error or "")
    statuses = emu.state.stats()["venues"]["binance"]
    assert statuses.get("429") == 1 and "418" not in statuses  # the client backed off
    # Ignoring a Retry-After gets Binance's ban: 418 with its own Retry-After.
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{emu.base_url}/binance/api/v3/ticker/24hr")
    assert r.status_code == 418 and int(r.headers["retry-after"]) > 3000


async def test_default_budgets_stay_inside_the_venues_published_limits(
    engine: AsyncEngine, db_url: str, emulator_factory: Any
) -> None:
    """Binance's 6,000 weight/min (its real limit) and one request per second for Kraken:
    at the default budgets, back-to-back runs never get a 429, 418 or EAPI limit."""
    emu = emulator_factory(
        EmulatorConfig(coins=400, venue_rate_limits={"binance": 6000, "kraken": 60, "okx": 600,
                                                     "coinbase": 600})
    )  # fmt: skip
    settings = make_settings(db_url, **venue_urls(emu))
    # The defaults (make_settings raises every budget for speed): drop those overrides.
    for v in VENUE_NAMES:
        del settings.sources[v]["requests_per_minute"]
    await run_etl(engine, settings, *(f"{v}_markets" for v in VENUE_NAMES))
    for _ in range(2):
        emu.state.tick()
        results = await run_etl(engine, settings, *VENUE_NAMES)
        assert all(r.status == "success" for r in results.values())
    stats = emu.state.stats()["venues"]
    assert all(stats[v].get("rate_limited", 0) == 0 for v in VENUE_NAMES), stats


async def test_a_retry_after_holds_for_every_later_request_to_that_venue(
    emulator_factory: Any,
) -> None:
    """After Binance's 418 (a ban, Retry-After 3600 s), the fetcher asks nothing more of
    Binance in this process until then: the next request fails at once, saying why."""
    clock = Clock()
    emu = emulator_factory(
        EmulatorConfig(coins=400, venue_rate_limits={"binance": 80}, clock=clock,
                       binance_ban_seconds=3600)
    )  # fmt: skip
    settings = make_settings("sqlite+aiosqlite:///unused.db", http_max_retry_after_seconds=5)
    limiters = Limiters({"binance": 60_000})
    url = f"{emu.base_url}/binance/api/v3/ticker/24hr"
    async with httpx.AsyncClient() as http:
        fetcher = Fetcher("binance", http, limiters, settings, retry_statuses=frozenset({429, 418}))

        async def ask() -> str:
            try:
                await fetcher.get(url, endpoint="/api/v3/ticker/24hr", params={}, parse=bytes)
            except UpstreamError as exc:
                return str(exc)
            return "ok"

        assert await ask() == "ok"  # 80 weight: the whole minute's budget
        await http.get(url)  # someone else on this IP ignores the limit: 429
        await http.get(url)  # ... and comes back before its Retry-After: banned (418)
        banned = await ask()
        assert "418" in banned
        seen = emu.state.stats()["venues"]["binance"]["requests"]
        again = await ask()
    assert "asked to wait" in again and "KASPARRO_HTTP_MAX_RETRY_AFTER_SECONDS" in again
    assert emu.state.stats()["venues"]["binance"]["requests"] == seen  # nothing was sent
