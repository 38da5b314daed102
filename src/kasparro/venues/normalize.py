"""Pure normalizers: ccxt's unified market and ticker structures -> venue records.

Both take what ccxt parsed with ``exchange.number = str`` (the venue's own decimal text),
so every number becomes an exact ``Decimal``. Never raise: a record that cannot be used is
a ``Rejection`` with its reason (quarantined and counted by the pipeline).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from kasparro.models import Rejection
from kasparro.venues.models import VenueMarket, VenueQuote

# A venue clock this far ahead of ours is a bad timestamp, not a quote from the future.
MAX_CLOCK_SKEW: Final = timedelta(minutes=5)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _decimal(value: Any) -> Decimal | None:
    """Exact decimal of a ccxt number (text with ``number = str``); None when absent."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = Decimal(value if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"not a number: {value!r}") from None
    if not out.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return out


def normalize_market(
    item: Any, *, venue: str, id_fields: tuple[str, str] | None = None
) -> VenueMarket | Rejection:
    """A ccxt market -> a venue market (spot markets only: derivatives are not quotes of
    the coin's spot price). ``id_fields`` names the fields of the venue's own record that
    spell base and quote when ccxt's ``baseId``/``quoteId`` are already unified (Kraken:
    ``base``/``quote``, ``XXBT``/``ZUSD``)."""
    if not isinstance(item, dict):
        return Rejection(f"expected a market object, got {type(item).__name__}", item)
    market_id = _text(item.get("id"))
    fields = [_text(item.get(k)) for k in ("symbol", "base", "quote", "baseId", "quoteId")]
    if market_id is None or any(f is None for f in fields):
        return Rejection("a market needs id, symbol, base, quote, baseId and quoteId", item)
    symbol, base, quote, base_id, quote_id = (f or "" for f in fields)
    info = item.get("info")
    if id_fields is not None and isinstance(info, dict):
        base_id = _text(info.get(id_fields[0])) or base_id
        quote_id = _text(info.get(id_fields[1])) or quote_id
    if not item.get("spot"):
        return Rejection(f"{market_id}: not a spot market ({item.get('type')})", item, market_id)
    return VenueMarket(
        venue=venue,
        market_id=market_id,
        symbol=symbol,
        base=base,
        quote=quote,
        base_id=base_id,
        quote_id=quote_id,
        active=item.get("active") is not False,
        spot=True,
        alias=_text(item.get("alias")),
        unified=item,
    )


def normalize_ticker(
    item: Any,
    *,
    venue: str,
    markets: Mapping[str, VenueMarket],
    fetched_at: datetime,
) -> VenueQuote | Rejection:
    """A ccxt ticker -> a venue quote, read with the venue's market list (``markets`` by
    unified symbol). ``observed_at`` is the venue's timestamp when it sends one, else the
    fetch time (see ``kasparro.venues.models``)."""
    if not isinstance(item, dict):
        return Rejection(f"expected a ticker object, got {type(item).__name__}", item)
    symbol = _text(item.get("symbol"))
    market = markets.get(symbol or "")
    if market is None:
        return Rejection(
            f"{venue}: {symbol!r} is not in the venue's market list (a new listing or a "
            "renamed ticker: the list is refreshed daily, or on `--refresh-reference`)",
            item,
            symbol,
        )
    try:
        last = _decimal(item.get("last") if item.get("last") is not None else item.get("close"))
        bid, ask = _decimal(item.get("bid")), _decimal(item.get("ask"))
        base_volume = _decimal(item.get("baseVolume"))
        quote_volume = _decimal(item.get("quoteVolume"))
    except ValueError as exc:
        return Rejection(f"{market.market_id}: {exc}", item, market.market_id)
    if last is None or last <= 0:
        return Rejection(f"{market.market_id}: no positive last price", item, market.market_id)
    if any(v is not None and v < 0 for v in (bid, ask, base_volume, quote_volume)):
        return Rejection(
            f"{market.market_id}: a negative bid, ask or volume", item, market.market_id
        )
    if bid is not None and ask is not None and bid > ask:
        return Rejection(
            f"{market.market_id}: crossed book (bid {bid} > ask {ask})", item, market.market_id
        )
    observed_at, venue_time = fetched_at, False
    stamp = item.get("timestamp")
    if isinstance(stamp, int) and not isinstance(stamp, bool) and stamp > 0:
        observed_at, venue_time = datetime.fromtimestamp(stamp / 1000, UTC), True
        if observed_at > fetched_at + MAX_CLOCK_SKEW:
            return Rejection(
                f"{market.market_id}: timestamp {observed_at.isoformat()} is ahead of the "
                f"fetch time {fetched_at.isoformat()}",
                item,
                market.market_id,
            )
    return VenueQuote(
        venue=venue,
        market_id=market.market_id,
        symbol=market.symbol,
        base=market.base,
        quote=market.quote,
        base_id=market.base_id,
        quote_id=market.quote_id,
        observed_at=observed_at,
        venue_time=venue_time,
        fetched_at=fetched_at,
        last=last,
        bid=bid or None,
        ask=ask or None,
        base_volume=base_volume,
        quote_volume=quote_volume,
    )
