"""Per-API rate limits with the upstreams' real 429 bodies and headers, counted."""

from __future__ import annotations

import json

import httpx

from kasparro.emulator.ratelimit import SlidingWindowLimiter
from kasparro.emulator.seed import seed_json
from tests.fixtures.emulator import EmulatorFactory


class FakeClock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def test_coingecko_429_body_headers_and_counts(emulator_factory: EmulatorFactory) -> None:
    clock = FakeClock()
    server = emulator_factory(cg_rate_limit_per_minute=3, clock=clock)
    url = server.coingecko_base_url
    with httpx.Client() as client:
        statuses = [client.get(f"{url}/ping").status_code for _ in range(3)]
        limited = client.get(f"{url}/coins/markets", params={"vs_currency": "usd"})
        clock.now += 45
        later = client.get(f"{url}/ping")
        paprika = client.get(f"{server.coinpaprika_base_url}/global")
        clock.now += 16
        freed = client.get(f"{url}/ping")
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    recorded = seed_json("coingecko_error_429_rate_limit.json")
    assert limited.json() == recorded
    assert limited.content == json.dumps(recorded, separators=(",", ":")).encode()
    assert limited.headers["retry-after"] == "60"
    assert limited.headers["content-type"] == "application/json"
    assert (later.status_code, later.headers["retry-after"]) == (429, "15")
    assert paprika.status_code == 200  # limits are per API
    assert freed.status_code == 200
    stats = server.state.stats()["coingecko"]
    assert (stats["requests"], stats["rate_limited"], stats["status_429"]) == (6, 2, 2)
    assert stats["routes"]["/coins/markets"]["rate_limited"] == 1
    assert stats["routes"]["/ping"]["statuses"] == {"200": 4, "429": 1}


def test_coinpaprika_429_with_optional_retry_after(emulator_factory: EmulatorFactory) -> None:
    recorded = seed_json("coinpaprika_error_429.json")
    for send_retry_after in (False, True):
        server = emulator_factory(
            cp_rate_limit_per_minute=1, cp_retry_after=send_retry_after, clock=FakeClock()
        )
        with httpx.Client(base_url=server.coinpaprika_base_url) as client:
            assert client.get("/global").status_code == 200
            limited = client.get("/tickers")
        assert limited.status_code == 429
        assert limited.json() == recorded
        assert ("retry-after" in limited.headers) is send_retry_after
        assert server.state.stats()["coinpaprika"]["rate_limited"] == 1


def test_reset_frees_the_window(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(cg_rate_limit_per_minute=1, clock=FakeClock())
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/api/v3/ping").status_code == 200
        assert client.get("/api/v3/ping").status_code == 429
        assert client.post("/_emulator/reset").status_code == 200
        assert client.get("/api/v3/ping").status_code == 200
    assert server.state.stats()["coingecko"]["requests"] == 1


def test_sliding_window_arithmetic() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, clock)
    assert limiter.acquire() is None
    clock.now += 10
    assert limiter.acquire() is None
    assert limiter.acquire() == 50
    clock.now += 49.5
    assert limiter.acquire() == 1  # never less than one second
    clock.now += 0.5
    assert limiter.acquire() is None  # the first request left the window
    slow = SlidingWindowLimiter(0.5, clock)  # one request per two minutes
    assert slow.acquire() is None
    assert slow.acquire() == 120
