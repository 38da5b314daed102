"""Rate limits and retries against the emulator's per-API limits, over real HTTP.

The free tiers modelled are the ones the ``Settings`` defaults budget for: CoinGecko's keyless
public API at 10 calls/min (it is IP-shared and has ranged 5-30/min; the default budget is
the conservative 10) and CoinPaprika at 60/min. The emulator is configured with exactly those
limits, so "zero 429s" means our pacing never exceeds the limit it is configured for.

Time scaling: the emulator counts requests in a sliding 60 s window of its injectable clock.
A run that exercises that window several times at 10 calls/min would take minutes, so for
the pacing tests both sides are sped up by the same factor ``scale``: the emulator's clock
runs ``scale`` times faster (its 60 s window lasts 60/scale real seconds) and the ETL's
budget is ``default * scale`` requests per (real) minute. Request spacing relative to the
window is unchanged, which is the property under test.

Scenarios that must *hit* the limit use ``PerRequestClock`` instead (emulator time advances
a fixed step per request): the Retry-After the emulator computes is then a small, exact
number of seconds that the ETL really waits, and the outcome does not depend on how loaded
the test machine is. Retry-After and backoff themselves are measured in real time from the
ETL's HTTP exchanges (httpx event hooks: when each request left, when its answer came).

This bug was found here: pacing request *starts* 60/R apart tripped the upstream's window
when arrival delays varied (see ``RequestPacer`` in kasparro/sources/http.py); the zero-429
test below failed about one run in four before the fix.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.emulator import EmulatorServer
from kasparro.sources.coingecko import CoinGeckoSettings
from kasparro.sources.coinpaprika import CoinPaprikaSettings
from kasparro.sources.http import Fetcher, UpstreamError
from tests.fixtures.emulator import EmulatorFactory
from tests.fixtures.settings import runtime_for
from tests.resilience.conftest import ReferenceStore
from tests.resilience.helpers import (
    ExchangeLog,
    assert_reconciles,
    assert_run_row_matches,
    emu_settings,
    observation_values,
    run_logged,
)

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
CG_FREE_TIER = CoinGeckoSettings.model_fields["requests_per_minute"].default  # 10 calls/min
CP_FREE_TIER = CoinPaprikaSettings.model_fields["requests_per_minute"].default  # 60 calls/min


def fast_clock(scale: float) -> Callable[[], float]:
    """The emulator's clock, running ``scale`` times faster than real time."""
    return lambda: time.monotonic() * scale


def limited_emulator(
    factory: EmulatorFactory, scale: float, *, cg: float | None, cp: float | None, **options: Any
) -> EmulatorServer:
    return factory(
        cg_rate_limit_per_minute=cg,
        cp_rate_limit_per_minute=cp,
        clock=fast_clock(scale),
        **options,
    )


class PerRequestClock:
    """An emulator clock that moves ``step`` seconds each time it is read.

    The emulator reads its clock once per request to a rate-limited API, so with this clock
    the upstream sees a client sending exactly 60/step requests per minute, however fast or
    loaded the machine running the test is (a real-time version of this test needs the
    refused request to land within a few tens of milliseconds of the window's end)."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.now += self.step
            return self.now


def api_stats(emu: EmulatorServer, api: str) -> dict[str, Any]:
    stats: dict[str, Any] = emu.state.stats()[api]
    return stats


async def reference_values(
    factory: EmulatorFactory, reference_store: ReferenceStore, *names: str, **settings: Any
) -> dict[Any, Any]:
    """The store an unlimited, fault-free run of the same universe (same seed, tick 0) yields."""
    twin = factory(coins=settings.pop("coins"))
    ref = await reference_store()
    results = await run_logged(ref, emu_settings("sqlite+aiosqlite://", twin, **settings), *names)
    assert all(r.status == "success" for r in results.values())
    return await observation_values(ref)


# --- pacing at the default budget --------------------------------------------------------


@SQLITE_ONLY
async def test_default_budget_gets_zero_429s_at_the_modelled_free_tier_limits(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory
) -> None:
    scale = 60.0  # 60 s window = 1 s real; CoinGecko spacing 6 s = 0.1 s real
    emu = limited_emulator(emulator_factory, scale, cg=CG_FREE_TIER, cp=CP_FREE_TIER, coins=1500)
    pages = 30  # three times the window's capacity: the window slides over the whole run
    settings = emu_settings(
        db_url,
        emu,
        coingecko_requests_per_minute=CG_FREE_TIER * scale,
        coinpaprika_requests_per_minute=CP_FREE_TIER * scale,
        coingecko_per_page=20,
        coingecko_max_coins=20 * pages,
        http_max_attempts=1,  # a 429 must fail the run loudly, not be retried away
    )
    log = ExchangeLog()
    started = time.monotonic()
    results = await run_logged(engine, settings, "coingecko", "coinpaprika", log=log)
    elapsed = time.monotonic() - started

    for name, res in results.items():
        assert res.status == "success", (name, res.error)
        assert_reconciles(res)
    assert results["coingecko"].pages == pages
    for api in ("coingecko", "coinpaprika"):
        stats = api_stats(emu, api)
        assert stats["status_429"] == 0 and stats["rate_limited"] == 0, (api, stats)
    assert [e.status for e in log.for_api("coingecko")] == [200] * pages
    # The budget really paced the run (30 requests at most 6 model-seconds apart).
    assert elapsed >= (pages - 1) * 60 / (CG_FREE_TIER * scale)
    # And the limit was live: an 11th admission inside one window is refused (asked of the
    # emulator's limiter directly, so it takes microseconds, not 11 HTTP round trips).
    admissions = [emu.state.admit("coingecko") for _ in range(int(CG_FREE_TIER) + 1)]
    assert admissions[-1] is not None


@SQLITE_ONLY
async def test_budget_shared_by_concurrent_tasks_never_exceeds_the_limit(
    emulator_factory: EmulatorFactory, db_url: str
) -> None:
    """Several tasks of one process share one budget per upstream (as the API's run manager
    and the scheduler do): together they still never exceed it."""
    scale = 60.0
    emu = limited_emulator(emulator_factory, scale, cg=CG_FREE_TIER, cp=CP_FREE_TIER, coins=50)
    settings = emu_settings(
        db_url,
        emu,
        coingecko_requests_per_minute=CG_FREE_TIER * scale,
        coinpaprika_requests_per_minute=CP_FREE_TIER * scale,
        http_max_attempts=1,
    )
    limiters = runtime_for(settings).limiters()
    per_api = {"coingecko": 24, "coinpaprika": 130}  # >2 windows' worth for each API
    urls = {
        "coingecko": emu.coingecko_base_url + "/ping",
        "coinpaprika": emu.coinpaprika_base_url + "/global",
    }
    async with httpx.AsyncClient(timeout=5) as http:

        async def hammer(api: str, n: int) -> list[Any]:
            fetcher = Fetcher(api, http, limiters, settings)
            return [
                await fetcher.get(urls[api], endpoint="probe", params={}, parse=orjson.loads)
                for _ in range(n)
            ]

        tasks = [hammer(api, n // 2) for api, n in per_api.items() for _ in range(2)]
        await asyncio.gather(*tasks)
    for api, n in per_api.items():
        stats = api_stats(emu, api)
        assert stats["requests"] == n
        assert stats["status_429"] == 0, (api, stats)


# --- a budget above the limit -------------------------------------------------------------


@SQLITE_ONLY
async def test_run_above_the_limit_hits_429s_waits_retry_after_and_loads_everything(
    engine: AsyncEngine,
    db_url: str,
    emulator_factory: EmulatorFactory,
    reference_store: ReferenceStore,
) -> None:
    """A client 1% above CoinGecko's 10 calls/min: the 11th request of a window is refused
    with Retry-After: 1; the run waits it out, completes, and loads exactly what an
    unlimited run loads."""
    # 5.9375 s per request (exact in binary) = 10.1 requests per emulator minute; the ETL's
    # own budget is far higher, so the emulator's limit is what binds.
    coins, per_page, pages = 300, 25, 12  # CoinGecko lists 297 of the 300 coins
    emu = emulator_factory(
        coins=coins, cg_rate_limit_per_minute=CG_FREE_TIER, clock=PerRequestClock(5.9375)
    )
    overrides = {"coingecko_per_page": per_page, "coingecko_max_coins": "all"}
    settings = emu_settings(db_url, emu, http_max_attempts=4, **overrides)
    log = ExchangeLog()
    res = (await run_logged(engine, settings, "coingecko", log=log))["coingecko"]

    assert res.status == "success", res.error
    assert (res.pages, res.fetched) == (pages, 297)
    assert_reconciles(res)
    await assert_run_row_matches(engine, res)
    limited = [e for e in log.for_api("coingecko") if e.status == 429]
    assert [(e.page, e.retry_after) for e in limited] == [(11, "1")]
    assert api_stats(emu, "coingecko")["rate_limited"] == 1
    # Every page was served exactly once; the refusal was retried after its Retry-After.
    assert sorted(e.page for e in log.for_api("coingecko") if e.status == 200) == list(
        range(1, pages + 1)
    )
    ((_, gap),) = log.retry_gaps("coingecko")
    assert gap >= 1.0
    # Same data as a run that was never rate limited.
    expected = await reference_values(
        emulator_factory, reference_store, "coingecko", coins=coins, **overrides
    )
    assert await observation_values(engine) == expected


@SQLITE_ONLY
async def test_429_without_retry_after_backs_off_and_the_runs_complete(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory
) -> None:
    """CoinPaprika's 429 carries no Retry-After: a process running it back to back above its
    limit (one budget shared across runs, like the scheduler) backs off exponentially.

    Limit 3/min, the client seen at one request per 10 emulator seconds (PerRequestClock):
    runs 1-3 pass, run 4 is refused three times in a row (its window still holds runs 1-3)
    and admitted on its 4th attempt, run 5 passes."""
    emu = emulator_factory(coins=300, cp_rate_limit_per_minute=3, clock=PerRequestClock(10.0))
    settings = emu_settings(
        db_url,
        emu,
        http_backoff_initial_seconds=0.1,
        http_backoff_max_seconds=0.8,
        http_max_attempts=10,
        http_max_retry_seconds=10,
    )
    limiters = runtime_for(settings).limiters()
    log = ExchangeLog()
    results = [
        (await run_logged(engine, settings, "coinpaprika", log=log, limiters=limiters))[
            "coinpaprika"
        ]
        for _ in range(5)
    ]
    assert [r.status for r in results] == ["success"] * 5, [r.error for r in results]
    for r in results:
        assert_reconciles(r)
    assert results[0].loaded == results[0].fetched - results[0].rejected
    assert all(r.loaded == 0 for r in results[1:])  # same tick: nothing new, nothing lost
    assert [e.status for e in log.for_api("coinpaprika")] == [200] * 3 + [429] * 3 + [200] * 2
    assert all(e.retry_after is None for e in log.for_api("coinpaprika"))
    # Each retry of a refused request waits the exponential backoff: the k-th consecutive
    # refusal at least min(0.8, 0.1 * 2**k) s (stamina adds jitter on top, never less).
    exchanges = log.for_api("coinpaprika")
    streak = 0
    for ex, nxt in itertools.pairwise(exchanges):
        if ex.status != 429:
            streak = 0
            continue
        assert ex.answered_at is not None
        gap = nxt.sent_at - ex.answered_at
        assert gap >= min(0.8, 0.1 * 2**streak), (streak, gap)
        streak += 1


# --- Retry-After and backoff, measured ----------------------------------------------------


@pytest.mark.parametrize("api", ["coingecko", "coinpaprika"])
@SQLITE_ONLY
async def test_retry_after_is_honoured(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory, api: str
) -> None:
    page = ":page=2" if api == "coingecko" else ""
    emu = emulator_factory(coins=300, faults=[f"{api}:429{page}:first=1,retry_after=2"])
    # Backoff is 10-20 s: a retry at 2 s can only come from the Retry-After header, and one
    # that ignored it, or added a backoff to it, would come after 10 s or more.
    settings = emu_settings(
        db_url, emu, http_backoff_initial_seconds=10.0, http_backoff_max_seconds=10.0
    )
    log = ExchangeLog()
    res = (await run_logged(engine, settings, api, log=log))[api]
    assert res.status == "success", res.error
    gaps = log.retry_gaps(api)
    assert len(gaps) == 1
    ex, gap = gaps[0]
    assert (ex.status, ex.retry_after) == (429, "2")
    assert 2.0 <= gap < 5.0  # Retry-After alone (3 s of slack for a loaded machine)


@SQLITE_ONLY
async def test_429_without_retry_after_uses_exponential_backoff(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory
) -> None:
    emu = emulator_factory(coins=300, faults=["coingecko:429_no_retry_after:page=2,first=3"])
    settings = emu_settings(
        db_url,
        emu,
        http_backoff_initial_seconds=0.15,
        http_backoff_max_seconds=5,
        http_max_attempts=5,
    )
    log = ExchangeLog()
    started = time.monotonic()
    res = (await run_logged(engine, settings, "coingecko", log=log))["coingecko"]
    assert res.status == "success", res.error
    gaps = [gap for _, gap in log.retry_gaps("coingecko")]
    assert len(gaps) == 3
    # stamina: initial * 2**(n-1) + jitter in [0, initial]
    for n, gap in enumerate(gaps):
        assert gap >= 0.15 * 2**n, gaps
        assert gap <= 0.15 * 2**n + 0.15 + 1.0, gaps  # jitter plus scheduling slack
    assert time.monotonic() - started < 10


# --- other 4xx: never retried ---------------------------------------------------------------


@pytest.mark.parametrize("api", ["coingecko", "coinpaprika"])
@SQLITE_ONLY
async def test_a_404_fails_the_run_at_once_with_one_request(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory, api: str
) -> None:
    emu = emulator_factory(coins=50)
    # A misconfigured base URL: the upstream answers 404 in its own error shape.
    settings = emu_settings(
        db_url,
        emu,
        coingecko_base_url=emu.coingecko_base_url + "/v9",
        coinpaprika_base_url=emu.coinpaprika_base_url + "/v9",
        # A retry would show up as >= 30 s.
        http_backoff_initial_seconds=30.0,
        http_backoff_max_seconds=30.0,
        http_max_attempts=6,
    )
    started = time.monotonic()
    res = (await run_logged(engine, settings, api))[api]
    assert time.monotonic() - started < 20.0
    assert res.status == "failed"
    assert "HTTP 404" in (res.error or "") and "\n" not in (res.error or "")
    assert api_stats(emu, api)["requests"] == 1
    assert (res.pages, res.fetched) == (0, 0)
    await assert_run_row_matches(engine, res)


@pytest.mark.parametrize(
    ("api", "path", "params", "status"),
    [
        ("coingecko", "/coins/markets", {"per_page": 10}, 422),  # vs_currency missing
        ("coingecko", "/coins/markets", {"vs_currency": "usd", "page": 0}, 422),
        ("coinpaprika", "/tickers", {"quotes": "XYZ"}, 400),
        ("coinpaprika", "/tickers/no-such-coin", {}, 404),
    ],
)
async def test_fetcher_never_retries_other_4xx(
    emulator_factory: EmulatorFactory,
    api: str,
    path: str,
    params: dict[str, Any],
    status: int,
) -> None:
    emu = emulator_factory(coins=50)
    settings = emu_settings(
        "sqlite+aiosqlite:///unused.db",
        emu,
        http_backoff_initial_seconds=30.0,
        http_backoff_max_seconds=30.0,
    )
    base = emu.coingecko_base_url if api == "coingecko" else emu.coinpaprika_base_url
    async with httpx.AsyncClient(timeout=5) as http:
        fetcher = Fetcher(api, http, runtime_for(settings).limiters(), settings)
        started = time.monotonic()
        with pytest.raises(UpstreamError) as info:
            await fetcher.get(base + path, endpoint=path, params=params, parse=orjson.loads)
    assert time.monotonic() - started < 20.0  # no 30 s backoff: not retried
    assert info.value.status == status
    assert f"HTTP {status}" in str(info.value)
    assert api_stats(emu, api)["requests"] == 1


# --- a source that stays down ---------------------------------------------------------------


@pytest.mark.parametrize("bound", ["attempts", "time"])
async def test_source_that_stays_down_fails_within_its_bounds_while_the_other_succeeds(
    engine: AsyncEngine, db_url: str, emulator_factory: EmulatorFactory, bound: str
) -> None:
    emu = emulator_factory(coins=300, faults=["coingecko:503"])
    if bound == "attempts":
        limits: dict[str, Any] = {"http_max_attempts": 4, "http_backoff_initial_seconds": 0.01}
    else:
        limits = {
            # All 20 attempts would take over 5 s: fewer requests prove the time budget.
            "http_max_attempts": 20,
            "http_max_retry_seconds": 1.0,
            "http_backoff_initial_seconds": 0.1,
            "http_backoff_max_seconds": 0.3,
        }
    settings = emu_settings(db_url, emu, **limits)
    started = time.monotonic()
    results = await run_logged(engine, settings, "coingecko", "coinpaprika")
    elapsed = time.monotonic() - started

    down, up = results["coingecko"], results["coinpaprika"]
    assert down.status == "failed"
    error = down.error or ""
    assert error.startswith("coingecko /coins/markets: HTTP 503"), error
    assert "\n" not in error and "\r" not in error and len(error) < 400
    requests = api_stats(emu, "coingecko")["requests"]
    if bound == "attempts":
        assert requests == 4
    else:
        assert 2 <= requests < 20
        assert elapsed < 1.0 + 0.3 + 8.0  # the budget, one more wait, slack for a loaded box
    assert (down.pages, down.fetched) == (0, 0)
    await assert_run_row_matches(engine, down)

    assert up.status == "success", up.error
    assert up.fetched > 250 and up.loaded == up.fetched - up.rejected
    assert_reconciles(up)
    await assert_run_row_matches(engine, up)
