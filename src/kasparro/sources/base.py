"""The declared contract of every upstream, one per kind, and what a source hands the pipeline.

Three kinds of source, each an abstract base class the pipeline dispatches on (never on
attributes discovered at run time):

- :class:`MarketSource`: market snapshots (prices, caps, volumes) loaded as observations and
  advancing each asset's latest observation;
- :class:`ReferenceSource`: an API's coin list and contracts, stored as a snapshot for the
  identity linker, refreshed every ``refresh_seconds``;
- :class:`HistorySource`: past prices for a backfill, planned before the run (the plan is
  passed in), loaded as observations with the watermark of the range each page completes;
- :class:`VenueSource`: an exchange's tickers, in their quote currencies, loaded as venue
  quotes (never as USD observations); the market list it reads them with is its
  :class:`VenueMarketsSource`'s stored snapshot, passed in before the run.

Every source declares its ``name`` (unique: runs, checkpoints and leases are keyed by it),
its ``namespace`` (the upstream whose ids its records carry: CoinGecko's market, reference
and history sources all speak ``coingecko`` ids), and, per endpoint, the drift contract its
payloads are checked against (``None`` says "no contract", on purpose).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from kasparro.models import Normalized, ReferenceRecord
from kasparro.sources.config import SourceSettings

if TYPE_CHECKING:
    import httpx

    from kasparro.normalize.drift import Contract
    from kasparro.settings import Settings
    from kasparro.sources.history import BackfillSpec, Target
    from kasparro.sources.http import Limiters


C = TypeVar("C", bound=SourceSettings)


class SourceKind(StrEnum):
    MARKET = "market"
    REFERENCE = "reference"
    HISTORY = "history"
    VENUE = "venue"


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
    items: Any  # a sequence of raw records (a list, or a lazily decoded JsonArray)
    # Complete source-specific cursor state to persist with this page's rows.
    checkpoint: dict[str, Any]
    # Best estimate of the run's total pages, for progress display.
    total_pages: int | None = None
    # Reference sources: the snapshot scope this page replaces (load.reference), and the
    # normalizer of its items when it is not the source's own (it needs the page's context).
    scope: str | None = None
    normalize: Callable[[Any], Any] | None = None
    # History sources: (source id, interval, from, to) this page completes, committed with it.
    watermark: tuple[str, str, datetime, datetime] | None = None


@dataclass(slots=True)
class SourceContext:
    """Everything a source needs, created by the composition root and passed down: the core
    settings, its provider's own settings, the HTTP client and the request budgets."""

    settings: Settings
    config: SourceSettings
    http: httpx.AsyncClient
    limiters: Limiters

    def config_as(self, kind: type[C]) -> C:
        """The provider settings, as the class the source declared."""
        if not isinstance(self.config, kind):
            raise TypeError(f"expected {kind.__name__}, got {type(self.config).__name__}")
        return self.config


class Source(ABC):
    """What every kind of source declares."""

    kind: ClassVar[SourceKind]
    name: str
    # The upstream whose ids the records carry (identity namespace and request budget).
    namespace: str

    @abstractmethod
    def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        """The pages from ``checkpoint`` (the state the last committed page left) on."""

    @abstractmethod
    def normalize(self, item: Any) -> Any:
        """A raw record -> a canonical record or a ``Rejection`` (pure)."""

    @abstractmethod
    def contract_for(self, endpoint: str) -> Contract | None:
        """The drift contract of ``endpoint``'s records; ``None``: deliberately unchecked."""

    def record_key(self, record: Any) -> Hashable:
        """What makes two records of one response the same record (duplicates)."""
        return (record.source_asset_id, record.observed_at)


class MarketSource(Source):
    kind: ClassVar[SourceKind] = SourceKind.MARKET

    @abstractmethod
    def normalize(self, item: Any) -> Normalized: ...


class ReferenceSource(Source):
    kind: ClassVar[SourceKind] = SourceKind.REFERENCE
    # A run is skipped ("fresh") while the last complete snapshot is younger than this.
    refresh_seconds: float
    # Per-coin pages identity wants (sources.detail): at most this many a run, 0: none. The
    # provider's setting; the pipeline hands the ids in before the run (want_detail).
    detail_per_run: int = 0
    detail_ids: tuple[str, ...] = ()
    detail_only: bool = False  # the lists are fresh: this run fetches the pages alone
    listed_at: datetime | None = None  # when the lists were last fetched (detail_only)

    def want_detail(
        self, ids: Sequence[str], *, only: bool = False, listed_at: datetime | None = None
    ) -> None:
        """The coins whose own pages identity wants, best first (cut to ``detail_per_run``);
        ``only``: fetch nothing else this run (the lists, fetched ``listed_at``, are fresh)."""
        self.detail_ids = tuple(ids[: self.detail_per_run])
        self.detail_only = only and bool(self.detail_ids)
        self.listed_at = listed_at

    @abstractmethod
    def normalize(self, item: Any) -> ReferenceRecord | Normalized: ...

    @abstractmethod
    def record_key(self, record: Any) -> Hashable: ...


class HistorySource(Source):
    """Constructed with its backfill's spec (``spec``); before the run, the pipeline reads
    the coins to backfill and how far their history already goes from the store, inside the
    lease, and hands them to :meth:`plan` (a source never reads the store itself)."""

    kind: ClassVar[SourceKind] = SourceKind.HISTORY
    spec: BackfillSpec

    @abstractmethod
    def normalize(self, item: Any) -> Normalized: ...

    @abstractmethod
    def plan(self, targets: list[Target]) -> None:
        """Plan the requests for ``targets`` (pure: their ids and covered ranges)."""


class VenueMarketsSource(ReferenceSource):
    """An exchange's market list (ids, base and quote as the venue spells them and unified,
    active, aliases), stored as ``venue_markets``: reference data, refreshed daily."""

    venue: str


class VenueSource(Source):
    """An exchange's tickers. Constructed by the registry; before the run the pipeline reads
    the venue's stored market list (``markets_source``'s snapshot) and hands it to
    :meth:`use_markets` (a source never reads the store itself); no list yet fails the run
    with that reason."""

    kind: ClassVar[SourceKind] = SourceKind.VENUE
    venue: str
    markets_source: str

    @abstractmethod
    def use_markets(self, markets: list[dict[str, Any]]) -> None:
        """The venue's listed markets, as stored (``VenueMarket.unified`` dicts)."""


class SourceError(Exception):
    """A source could not produce a page (after retries): fails the run with a clear reason."""


class TransientSourceError(SourceError):
    """An upstream's own answer says "try again" although the HTTP status is fine (a rate
    limit or maintenance reported inside a 200 body): a source's parser raises it and the
    fetcher retries within its budget, like a 429 (``retry_after`` honoured when known).
    The classification is the source's, as in dlt's transient/terminal error mixins: only
    the source knows its upstream's error vocabulary."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TerminalSourceError(SourceError):
    """An upstream's answer says retrying cannot help (an unknown market, a refused key,
    reported inside a 200 body): the run fails at once with the reason."""
