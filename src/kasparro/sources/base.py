"""The small contract every upstream implements, and what it hands to the pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from kasparro.models import Normalized, ReferenceRecord

if TYPE_CHECKING:
    import httpx

    from kasparro.settings import Settings


@dataclass(slots=True)
class RawResponse:
    """One upstream payload exactly as received (kept so any run can be re-normalized)."""

    endpoint: str
    params: dict[str, Any]
    status: int | None
    content_type: str | None
    body: bytes
    fetched_at: datetime


@dataclass(slots=True)
class Page:
    """A unit of work the pipeline commits atomically together with ``checkpoint``."""

    number: int
    raw: RawResponse
    items: list[Any]
    # Complete source-specific cursor state to persist with this page's rows.
    checkpoint: dict[str, Any]
    # Best estimate of the run's total pages, for progress display.
    total_pages: int | None = None
    # Set by a source when a page could not be parsed as a list of records; such pages
    # are recorded raw and fail the run with this reason (after retries are exhausted).
    error: str | None = None
    # Reference sources: the snapshot scope this page replaces (load.reference), and the
    # normalizer of its items when it is not the source's own (it needs the page's context).
    scope: str | None = None
    normalize: Callable[[Any], Any] | None = None
    # History sources: (source id, interval, from, to) this page completes, committed with it.
    watermark: tuple[str, str, datetime, datetime] | None = None


@dataclass(slots=True)
class SourceContext:
    """Everything a source needs, created at the entry point and passed down."""

    settings: Settings
    http: httpx.AsyncClient
    limiters: Any = None  # kasparro.sources.http.Limiters
    extra: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """An upstream: yields pages from a checkpoint and knows how to normalize its records."""

    name: str

    def normalize(self, item: Any) -> Normalized | ReferenceRecord: ...

    def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]: ...


SourceFactory = Callable[[SourceContext], Source]


class SourceError(Exception):
    """A source could not produce a page (after retries): fails the run with a clear reason."""
