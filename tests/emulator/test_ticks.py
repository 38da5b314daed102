"""Time: data is stable within a tick and moves deterministically between ticks."""

from __future__ import annotations

from datetime import datetime

from kasparro.emulator import EmulatorConfig, create_app
from tests.emulator.util import all_cg_pages, asgi_client, decimal_json


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_same_tick_same_bytes_and_next_tick_moves_time_and_prices() -> None:
    async with asgi_client() as (client, app):
        first = await client.get("/api/v3/coins/markets", params={"vs_currency": "usd"})
        again = await client.get("/api/v3/coins/markets", params={"vs_currency": "usd"})
        before = {r["id"]: r for r in await all_cg_pages(client)}
        assert app.state.emulator.tick() == 1
        after = {r["id"]: r for r in await all_cg_pages(client)}
        tickers_before = {
            t["id"]: t for t in decimal_json((await client.get("/v1/tickers")).content)
        }
        app.state.emulator.tick(2)
        tickers_after = {
            t["id"]: t for t in decimal_json((await client.get("/v1/tickers")).content)
        }
    assert first.content == again.content
    assert first.headers["x-emulator-tick"] == "0"
    assert set(before) == set(after)
    universe = app.state.emulator.universe
    moved = 0
    for cg_id, old in before.items():
        new = after[cg_id]
        delta = (_when(new["last_updated"]) - _when(old["last_updated"])).total_seconds()
        if universe.by_cg_id[cg_id].stale:
            assert new == old
            continue
        assert delta == 300
        # Five minutes move a price by basis points: a coarsely rounded price (a
        # stablecoin's 1.001) may not show it, its market cap does.
        was, now = (
            (old["current_price"], old["market_cap"]),
            (new["current_price"], new["market_cap"]),
        )
        moved += was != now
    assert moved > 0.8 * len(before)
    for cp_id, old in tickers_before.items():
        moved_by = _when(tickers_after[cp_id]["last_updated"]) - _when(old["last_updated"])
        assert moved_by.total_seconds() == (0 if universe.by_cp_id[cp_id].stale else 600)


async def test_two_instances_with_the_same_seed_serve_identical_bytes() -> None:
    paths: list[tuple[str, dict[str, str | int]]] = [
        ("/api/v3/coins/markets", {"vs_currency": "usd", "per_page": 250, "page": 4}),
        ("/api/v3/coins/list", {}),
        ("/v1/tickers", {}),
        ("/v1/global", {}),
    ]
    bodies = []
    for seed in (5, 5, 6):
        app = create_app(EmulatorConfig(seed=seed))
        app.state.emulator.tick(3)
        async with asgi_client(app=app) as (client, _):
            bodies.append([(await client.get(p, params=q)).content for p, q in paths])
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


async def test_ticks_can_follow_the_clock() -> None:
    now = [1000.0]
    config = EmulatorConfig(tick_every_seconds=60, clock=lambda: now[0])
    app = create_app(config)
    emulator = app.state.emulator
    assert emulator.current_tick == 0
    now[0] += 59
    assert emulator.current_tick == 0
    now[0] += 1
    assert emulator.current_tick == 1
    emulator.tick(2)
    assert emulator.current_tick == 3
    async with asgi_client(app=app) as (client, _):
        response = await client.get("/v1/global")
    assert response.headers["x-emulator-tick"] == "3"
    assert response.headers["last-modified"] == "Wed, 23 Feb 2022 11:46:45 GMT"
