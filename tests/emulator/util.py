"""Helpers shared by the emulator tests."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx

from kasparro.emulator import EmulatorApp, EmulatorConfig, create_app
from kasparro.emulator.seed import CG_MARKETS, CP_BTC_TICKER, CP_GLOBAL, seed_json

# Key sets (in order) of the recorded samples shipped in the emulator's seed folder.
RECORDED_CG_ROW: list[str] = list(seed_json(CG_MARKETS)[0])
PCP_KEYS = [k for k in RECORDED_CG_ROW if k.endswith("_in_currency")]
CG_BASE_KEYS = [k for k in RECORDED_CG_ROW if k not in PCP_KEYS]
CP_TICKER_KEYS: list[str] = list(seed_json(CP_BTC_TICKER))
CP_QUOTE_KEYS: list[str] = list(seed_json(CP_BTC_TICKER)["quotes"]["USD"])
CP_GLOBAL_KEYS: list[str] = list(seed_json(CP_GLOBAL))

NUMBER_TOKEN = re.compile(r"(?<=[:\[,])(-?\d[\d.eE+-]*)(?=[,}\]])")


def decimal_json(body: bytes | str) -> Any:
    return json.loads(body, parse_float=Decimal)


@asynccontextmanager
async def asgi_client(
    config: EmulatorConfig | None = None, app: EmulatorApp | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, EmulatorApp]]:
    """An httpx client talking to the app in-process (no sockets)."""
    app = app or create_app(config or EmulatorConfig())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
        yield client, app


async def all_cg_pages(
    client: httpx.AsyncClient, per_page: int = 250, **params: Any
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        response = await client.get(
            "/api/v3/coins/markets",
            params={"vs_currency": "usd", "per_page": per_page, "page": page, **params},
        )
        assert response.status_code == 200, response.text
        batch = decimal_json(response.content)
        if not batch:
            return rows
        rows.extend(batch)
        page += 1
