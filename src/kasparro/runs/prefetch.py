"""Fetching and normalizing run ahead of the commit: a producer task and a bounded buffer.

The next pages are downloaded and parsed while the database works. Whatever is ready when a
commit ends is committed next, together: when the upstream is slower than the database every
page is its own transaction; when it is faster (a local emulator, a big backfill), small pages
share one, up to ``load_batch_rows`` items, instead of paying a dozen statements and a commit
each. The producer only reads and computes; everything durable happens in the consumer, so
running ahead never lets a checkpoint pass data that is not committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Final

from kasparro.runs.batches import Batch
from kasparro.runs.stop import RunStop
from kasparro.sources.base import Page, Source

END: Final = object()

# How much the producer may hold ready beyond the items bound: raw bodies (a page of 250
# coins is ~180 KB, but nothing caps what an upstream sends) and pages (an empty page holds
# no items at all).
AHEAD_MAX_BYTES: Final = 32 * 1024 * 1024
AHEAD_MAX_PAGES: Final = 64


class Ahead:
    """What the producer prepared ahead of the commit: ``put`` waits while the queued batches
    hold ``max_items`` items, ``AHEAD_MAX_BYTES`` of raw bodies or ``AHEAD_MAX_PAGES`` entries
    (one bigger batch still goes alone), ``take`` hands the consumer everything queued at
    once, to commit together.

    (asyncio.Queue bounds the number of entries; here the bound must be items and bytes, so
    that eight 250-item pages may wait where one 2,000-item batch may.)"""

    def __init__(
        self,
        max_items: int,
        *,
        max_bytes: int = AHEAD_MAX_BYTES,
        max_entries: int = AHEAD_MAX_PAGES,
    ) -> None:
        self._entries: list[Any] = []  # batches, then possibly END or an exception
        self._items = 0
        self._bytes = 0
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._changed = asyncio.Condition()

    def room_for(self, items: int, nbytes: int) -> bool:
        return not self._entries or (
            self._items + items <= self._max_items
            and self._bytes + nbytes <= self._max_bytes
            and len(self._entries) < self._max_entries
        )

    async def put(self, entry: Any, items: int = 0, nbytes: int = 0) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.room_for(items, nbytes))
            self._entries.append(entry)
            self._items += items
            self._bytes += nbytes
            self._changed.notify_all()

    async def take(self) -> list[Any]:
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._entries))
            taken, self._entries, self._items, self._bytes = self._entries, [], 0, 0
            self._changed.notify_all()
            return taken


BatchesOf = Callable[[Page, bool], AsyncIterator[Batch]]


async def _pages(source: Source, checkpoint: dict[str, Any] | None, stop: RunStop) -> Any:
    """The source's pages, checking ``stop`` before each fetch and marking the run as
    waiting on its upstream (no transaction open) while it fetches."""
    pages = aiter(source.pages(checkpoint))
    try:
        while True:
            stop.check(source.name)
            stop.set_fetching(source.name, True)
            try:
                page = await anext(pages)
            except StopAsyncIteration:
                return
            finally:
                stop.set_fetching(source.name, False)
            yield page
    finally:
        # Close the upstream generator now (its open responses and files), not at GC time.
        close = getattr(pages, "aclose", None)  # an async iterator need not be a generator
        if close is not None:
            await close()


async def prefetched(
    source: Source,
    checkpoint: dict[str, Any] | None,
    *,
    max_items: int,
    batches_of: BatchesOf,
    stop: RunStop,
) -> AsyncGenerator[list[Batch], None]:
    """The source's batches in order, fetched and normalized ahead of the commit, in groups:
    everything prepared while the previous group was committing (at most ``max_items`` items
    waiting, or one bigger batch, plus one more being prepared). An error of the producer
    reaches the caller in its place in the sequence, after every batch before it."""
    ahead = Ahead(max_items)

    async def produce() -> None:
        try:
            first_of_run = True
            async for page in _pages(source, checkpoint, stop):
                async for batch in batches_of(page, first_of_run):
                    await ahead.put(batch, batch.fetched, batch.held_bytes)
                first_of_run = False
            await ahead.put(END)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # stopped by the consumer, which no longer waits for it
            # Raised inside the source without anyone cancelling this task: the consumer
            # is still waiting in take() and must not wait forever.
            await ahead.put(exc)
            raise
        except BaseException as exc:  # whatever ends the producer must reach the consumer
            await ahead.put(exc)
            if not isinstance(exc, Exception):
                raise

    producer = asyncio.create_task(produce())
    try:
        while True:
            group: list[Batch] = []
            for entry in await ahead.take():
                if isinstance(entry, Batch):
                    group.append(entry)
                    continue
                if group:
                    yield group
                if isinstance(entry, BaseException):
                    raise entry
                return  # END
            yield group
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer
