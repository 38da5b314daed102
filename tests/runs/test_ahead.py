"""The producer's read-ahead buffer: bounded by items, payload bytes and pages, and never
leaving the consumer waiting for a producer that has stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kasparro.runs.prefetch import Ahead, prefetched
from kasparro.runs.stop import RunStop
from kasparro.sources.base import MarketSource


async def _blocked(put: Any) -> bool:
    """True when ``put`` is still waiting shortly after it started."""
    task = asyncio.ensure_future(put)
    await asyncio.sleep(0.05)
    blocked = not task.done()
    task.cancel()
    return blocked


async def test_waits_at_the_item_bound_but_one_big_batch_goes_alone() -> None:
    ahead = Ahead(300, max_bytes=10**9, max_entries=100)
    await ahead.put("a", 5000)  # bigger than the bound: alone in an empty buffer
    assert await _blocked(ahead.put("b", 1))
    assert await ahead.take() == ["a"]
    await ahead.put("b", 200)
    await ahead.put("c", 100)
    assert await _blocked(ahead.put("d", 1))
    assert await ahead.take() == ["b", "c"]


async def test_waits_at_the_byte_bound_whatever_the_item_count() -> None:
    # Few items, big bodies (an upstream padding every record): the bytes bound holds.
    ahead = Ahead(10**6, max_bytes=8 << 20, max_entries=100)
    await ahead.put("p1", 10, 5 << 20)
    assert await _blocked(ahead.put("p2", 10, 5 << 20))
    assert await ahead.take() == ["p1"]


async def test_waits_at_the_page_bound_for_pages_without_items() -> None:
    ahead = Ahead(2000, max_bytes=10**9, max_entries=3)
    for name in ("e1", "e2", "e3"):
        await ahead.put(name, 0, 2)
    assert await _blocked(ahead.put("e4", 0, 2))
    assert await ahead.take() == ["e1", "e2", "e3"]


class _CancelledInside(MarketSource):
    """A source whose page iteration raises CancelledError although nobody cancelled it (as
    an inner task of a client library can)."""

    name = "csv"
    namespace = "csv"

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Any]:
        raise asyncio.CancelledError
        yield  # an async generator

    def normalize(self, item: Any) -> Any:
        raise AssertionError("no page was produced")

    def contract_for(self, endpoint: str) -> None:
        return None


async def test_a_cancellation_raised_inside_the_source_reaches_the_consumer() -> None:
    def no_batches(page: Any, first: bool) -> Any:
        raise AssertionError("no page was produced")

    groups = prefetched(
        _CancelledInside(), None, max_items=100, batches_of=no_batches, stop=RunStop()
    )
    # Before: the producer re-raised without telling the consumer, which waited forever.
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(groups.__anext__(), 5)
    await groups.aclose()
