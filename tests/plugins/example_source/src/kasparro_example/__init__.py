"""An example Kasparro source plugin: an exchange's USD tickers, read from a file.

What a plugin declares (docs/sources.md): its settings (read from ``KASPARRO_EXAMPLE_*``),
a source class of one of Kasparro's kinds (here a market source), a pure normalizer, the
drift contract of its records, and the :class:`~kasparro.sources.Provider` that the
``kasparro.sources`` entry point names. Kasparro derives the rest: the request budget, the
schedule, the CLI's and the API's source names, the dashboard's column.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from kasparro.sources import (
    Contract,
    FieldSpec,
    MarketRecord,
    MarketSource,
    Normalized,
    Page,
    Provider,
    RawResponse,
    Rejection,
    SourceContext,
    SourceError,
    SourceKind,
    SourceSettings,
    SourceSpec,
    TerminalSourceError,
    TransientSourceError,
    loads_exact,
)

BUNDLED = Path(__file__).parent / "data" / "tickers.json"
ENDPOINT = "file:tickers"
TEXT = FieldSpec(frozenset({"string"}))
TICKERS = Contract(
    endpoint=ENDPOINT,
    fields={"market": TEXT, "base": TEXT, "last": TEXT, "volume_base": TEXT},
)


class ExampleSettings(SourceSettings):
    """``KASPARRO_EXAMPLE_PATH``, ``_SCHEDULE_SECONDS``, ``_REQUESTS_PER_MINUTE``."""

    path: Path = BUNDLED
    schedule_seconds: Annotated[float, Field(gt=0)] = 300.0


def parse_tickers(body: bytes) -> list[Any]:
    """The body's tickers, or the error it reports (``{"error": [...]}`` with status 200, as
    some exchanges do): a rate limit is worth a retry, anything else is not."""
    try:
        data = loads_exact(body)
    except ValueError as exc:
        raise TerminalSourceError(f"not JSON: {exc}") from None
    errors = data.get("error") if isinstance(data, dict) else None
    if errors:
        text = "; ".join(map(str, errors))
        if any("rate limit" in str(e).lower() for e in errors):
            raise TransientSourceError(text)
        raise TerminalSourceError(text)
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(result, list):
        raise TerminalSourceError("no result list")
    return result


def normalize_ticker(item: Any, *, fetched_at: datetime) -> Normalized:
    """A ticker -> a record. The exchange sends neither names nor timestamps: the name is
    left out (``None``) and ``observed_at`` is the fetch time, as the contract says."""
    if not isinstance(item, dict):
        return Rejection(f"expected an object, got {type(item).__name__}", item)
    market = item.get("market")
    base = item.get("base")
    if not isinstance(market, str) or not market or not isinstance(base, str) or not base:
        return Rejection("market and base must be non-empty strings", item)
    try:
        price = Decimal(str(item.get("last")))
        volume = Decimal(str(item.get("volume_base")))
    except InvalidOperation:
        return Rejection("last and volume_base must be numbers", item, market)
    if not price.is_finite() or price <= 0:
        return Rejection(f"last must be a positive price, got {item.get('last')!r}", item, market)
    return MarketRecord(
        source="example",
        source_asset_id=market,
        symbol=base,
        name=None,
        observed_at=fetched_at,
        price_usd=price,
        volume_24h_usd=(price * volume) if volume.is_finite() and volume >= 0 else None,
    )


class ExampleSource(MarketSource):
    name = "example"
    namespace = "example"

    def __init__(self, ctx: SourceContext) -> None:
        self.path = ctx.config_as(ExampleSettings).path

    def normalize(self, item: Any) -> Normalized:
        raise AssertionError("each page carries its normalizer (it needs the fetch time)")

    def contract_for(self, endpoint: str) -> Contract | None:
        return TICKERS

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        try:
            body = self.path.read_bytes()
        except OSError as exc:
            raise SourceError(f"example: cannot read {self.path}: {exc.strerror}") from None
        fetched_at = datetime.now(UTC)
        items = parse_tickers(body)
        yield Page(
            number=1,
            raw=RawResponse(
                ENDPOINT, {"path": str(self.path)}, None, "application/json", body, fetched_at
            ),
            items=items,
            checkpoint={"in_progress": False},
            total_pages=1,
            normalize=partial(normalize_ticker, fetched_at=fetched_at),
        )


PROVIDER = Provider(
    name="example",
    label="Example Exchange",
    settings=ExampleSettings,
    color="#f59e0b",
    sources=(
        SourceSpec(
            "example",
            SourceKind.MARKET,
            ExampleSource,
            "schedule_seconds",
            "an exchange's USD tickers, from a bundled file",
        ),
    ),
    description="example plugin (tests/plugins/example_source)",
)
