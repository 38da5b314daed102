"""One way to stop runs: at their next page boundary, never inside a transaction.

Cancelling a task while it awaits a database call is unsafe on SQLite: aiosqlite still runs
the queued statement on its worker thread after the await is cancelled, and a connection can
go back to the pool holding the write lock, so every later write (the run's own "failed"
status, the lease release) waits out the busy timeout and fails. So whoever shuts down (the
scheduler, the API) *requests* a stop: the pipeline checks it before fetching each page and
after committing each group, and ends the run with :class:`StopRequested` (a
``SourceError``: recorded failed with the reason, every committed page kept, the checkpoint
intact, so the next run resumes). While the pipeline awaits the upstream no transaction is
open: :attr:`RunStop.fetching` tells a caller that cancelling right away is clean.
"""

from __future__ import annotations

from kasparro.sources.base import SourceError


class StopRequested(SourceError):
    """The run was asked to stop at a page boundary (shutdown)."""


class RunStop:
    """A stop request shared by the runs of one owner (a scheduler, an API process)."""

    def __init__(self) -> None:
        self._reason: str | None = None
        # Runs (by source name) currently awaiting their upstream, outside any transaction.
        self._fetching: set[str] = set()
        self.stopped: set[str] = set()  # runs that ended because of the request

    def request(self, reason: str) -> None:
        self._reason = self._reason or reason

    @property
    def requested(self) -> bool:
        return self._reason is not None

    def check(self, source: str) -> None:
        """Raise :class:`StopRequested` when a stop was requested (call at page boundaries)."""
        if self._reason is not None:
            self.stopped.add(source)
            raise StopRequested(self._reason)

    def fetching(self, source: str) -> bool:
        return source in self._fetching

    def set_fetching(self, source: str, value: bool) -> None:
        if value:
            self._fetching.add(source)
        else:
            self._fetching.discard(source)
