"""``"mode": "demo"`` on /health and /api/v1/stats while the store holds emulated data."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.api.ops_schemas import HealthResponse
from kasparro.settings import Settings
from kasparro.store.datamode import mark_emulated
from tests.fixtures.api import running_app


async def _modes(client: httpx.AsyncClient) -> tuple[str, str]:
    health = await client.get("/health")
    assert health.status_code == 200, health.text
    HealthResponse.model_validate(health.json())
    stats = await client.get("/api/v1/stats")
    assert stats.status_code == 200, stats.text
    return health.json()["mode"], stats.json()["data"]["mode"]


async def test_the_mode_is_read_from_the_store(
    engine: AsyncEngine, api_client: httpx.AsyncClient, api_settings: Settings
) -> None:
    assert await _modes(api_client) == ("live", "live")
    async with engine.begin() as conn:
        await mark_emulated(conn, {"emulator": "http://127.0.0.1:1"})
    # The app that served live data sees the mark at once (it is not a process setting)...
    assert await _modes(api_client) == ("demo", "demo")
    # ...and so does any later server of that database, as `kasparro serve` would be.
    async with running_app(api_settings) as later:
        assert await _modes(later) == ("demo", "demo")
