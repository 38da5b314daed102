"""What a run reports, as it goes and when it ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kasparro.sources.base import Page
from kasparro.status import RunStatus


@dataclass(slots=True)
class RunResult:
    run_id: int
    source: str
    status: RunStatus
    pages: int = 0
    fetched: int = 0
    loaded: int = 0
    unchanged: int = 0
    rejected: int = 0
    error: str | None = None
    resumed_from: int | None = None
    crashed_runs: list[int] = field(default_factory=list)
    duration_s: float = 0.0
    # Source ids this run mapped for the first time (not persisted): they may need linking.
    new_ids: int = 0
    relink: str | None = None  # how the identity relink after the run ended, if one ran
    # The request itself is wrong for this source (e.g. a backfill window its plan never
    # serves): the caller's mistake, not the service's (the API answers 422, not 503).
    invalid_request: bool = False

    @property
    def reconciles(self) -> bool:
        return self.fetched == self.loaded + self.unchanged + self.rejected


ProgressCallback = Callable[[RunResult, Page | None], None]


def one_line_error(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one bounded line.

    A database error's text from SQLAlchemy also carries the failed statement and its
    parameters over several lines (for a page insert: kilobytes of market data), which made
    the reason of a run that lost its database neither one line nor readable; keep the
    driver's own message (its first line) instead."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
