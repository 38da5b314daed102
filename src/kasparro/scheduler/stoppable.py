"""A source wrapper that lets shutdown stop a run without cancelling it inside a transaction.

Cancelling a task while it awaits a database call is unsafe on SQLite: aiosqlite still runs the
queued statement on its worker thread after the await is cancelled, and we have seen the
connection go back to the pool holding the write lock, so every later write (the run's own
"failed" status, the lease release) waits out the busy timeout and fails. The pipeline only
touches the database *between* pages (committing the page it was handed), so:

- at a page boundary, an aborted run stops by raising ``ShutdownRequested`` (a
  ``SourceError``: the pipeline records the run failed with that reason, nothing in flight);
- while it awaits the upstream for the next page, no transaction is open, so the scheduler may
  cancel the task right away (``fetching`` tells it when).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from kasparro.models import Normalized, ReferenceRecord
from kasparro.sources.base import Page, Source, SourceError

SHUTDOWN_REASON = (
    "cancelled: scheduler shutting down; stopped between pages, every committed page is kept "
    "and the next run resumes from the checkpoint"
)


class ShutdownRequested(SourceError):
    """The scheduler is stopping: end this run at the page boundary."""


class StoppableSource:
    def __init__(self, inner: Source, abort: asyncio.Event) -> None:
        self.name = inner.name
        self._inner = inner
        self._abort = abort
        self.fetching = False  # True only while awaiting the upstream (no transaction open)
        self.aborted = False

    def normalize(self, item: Any) -> Normalized | ReferenceRecord:
        return self._inner.normalize(item)

    def __getattr__(self, name: str) -> Any:
        # The rest of what the pipeline asks a source (its drift contract, a reference
        # source's loader flags and refresh interval) is the wrapped source's.
        return getattr(self._inner, name)

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        pages = aiter(self._inner.pages(checkpoint))
        try:
            while True:
                if self._abort.is_set():
                    self.aborted = True
                    raise ShutdownRequested(SHUTDOWN_REASON)
                self.fetching = True
                try:
                    page = await anext(pages)
                except StopAsyncIteration:
                    return
                finally:
                    self.fetching = False
                yield page
        finally:
            # Close the upstream generator now (its open responses/files), not at GC time.
            close = getattr(pages, "aclose", None)
            if close is not None:
                await close()
