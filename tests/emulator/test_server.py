"""The real-HTTP fixture, the server runner and the control routes."""

from __future__ import annotations

import socket

import httpx
import pytest

from kasparro.emulator import Emulator, EmulatorConfig, EmulatorServer
from tests.fixtures.emulator import EmulatorFactory, EmulatorHandle


def test_emulator_fixture_handle(emulator: EmulatorHandle) -> None:
    assert emulator.coingecko_base_url == f"http://127.0.0.1:{emulator.port}/api/v3"
    assert emulator.coinpaprika_base_url == f"http://127.0.0.1:{emulator.port}/v1"
    assert isinstance(emulator.state, Emulator)
    assert emulator.config == EmulatorConfig()
    assert httpx.get(f"{emulator.coingecko_base_url}/ping").status_code == 200
    assert httpx.get(f"{emulator.coinpaprika_base_url}/global").status_code == 200


def test_factory_takes_a_config_or_options(emulator_factory: EmulatorFactory) -> None:
    small = emulator_factory(coins=300, seed=3)
    capped = emulator_factory(EmulatorConfig(coins=300), cp_tickers_cap=10)
    assert small.port != capped.port
    assert len(small.state.universe) == 300
    assert len(httpx.get(f"{capped.coinpaprika_base_url}/tickers").json()) == 10


def test_server_stops_and_frees_its_port() -> None:
    server = EmulatorServer(EmulatorConfig(coins=50)).start()
    port = server.port
    health = httpx.get(f"{server.base_url}/_emulator/health").json()
    assert health == {"status": "ok", "tick": 0, "now": "2022-02-23T11:31:45.000Z"}
    server.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_control_routes(emulator: EmulatorHandle) -> None:
    with httpx.Client(base_url=emulator.control_url) as control:
        httpx.get(f"{emulator.coingecko_base_url}/coins/markets", params={"vs_currency": "usd"})
        httpx.get(f"{emulator.coinpaprika_base_url}/tickers/btc-bitcoin")
        stats = control.get("/stats").json()
        assert stats["tick"] == 0
        assert stats["coingecko"]["routes"]["/coins/markets"]["statuses"] == {"200": 1}
        assert stats["coinpaprika"]["routes"]["/tickers/{id}"]["requests"] == 1
        assert stats["coingecko"]["bytes_sent"] > 10_000
        assert control.post("/tick").json() == {"tick": 1}
        assert control.post("/tick", params={"n": 3}).json() == {"tick": 4}
        assert control.post("/tick", json={"n": 2}).json() == {"tick": 6}
        assert control.post("/tick", params={"n": -1}).status_code == 400
        assert emulator.state.current_tick == 6
        reset = control.post("/reset").json()
        assert reset["coingecko"]["requests"] == 0 and reset["tick"] == 6
        quirks = control.get("/quirks").json()
        assert quirks["name_overrides"]["binancecoin"] == ["bnb-binance-coin", "Binance Coin"]
        assert quirks["counts"]["assets"] == 2500
        assert control.get("/config").json()["coins"] == 2500
        assert control.get("/nope").status_code == 404
    # Control traffic is not counted as upstream traffic.
    assert emulator.state.stats()["coingecko"]["requests"] == 0


def test_in_process_control_object(emulator: EmulatorHandle) -> None:
    state = emulator.state
    httpx.get(f"{emulator.coingecko_base_url}/ping")
    assert state.stats()["coingecko"]["requests"] == 1
    state.reset_stats()
    assert state.stats()["coingecko"] == {
        "requests": 0,
        "rate_limited": 0,
        "status_429": 0,
        "faults_injected": 0,
        "bytes_sent": 0,
        "statuses": {},
        "routes": {},
    }
    assert state.tick() == 1
    assert httpx.get(f"{emulator.coingecko_base_url}/ping").headers["x-emulator-tick"] == "1"


def test_unknown_top_level_path(emulator: EmulatorHandle) -> None:
    assert httpx.get(f"{emulator.base_url}/api/v2/ping").status_code == 404
