from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from kasparro.sources.http import Limiters


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # The csv source never uses it, but the Scheduler contract requires a client.
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def limiters() -> Limiters:
    return Limiters({})
