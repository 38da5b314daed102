from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from kasparro.sources.http import Limiters
from tests.fixtures.settings import builtin_registry


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # The csv source never uses it, but the Scheduler contract requires a client.
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def limiters() -> Limiters:
    # Generous budgets for every built-in provider: the scheduler tests are about slots.
    return Limiters({p: 60_000.0 for p in builtin_registry().provider_names()})
