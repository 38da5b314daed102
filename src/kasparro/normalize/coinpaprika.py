"""CoinPaprika v1 ``/tickers?quotes=USD`` element -> ``MarketRecord``.

Field mapping: ``id`` -> source_asset_id, ``symbol``, ``name``, ``last_updated`` -> observed_at,
``rank`` -> market_cap_rank, ``circulating_supply`` / ``total_supply`` / ``max_supply``, and
from ``quotes.USD``: ``price`` -> price_usd, ``market_cap`` -> market_cap_usd, ``volume_24h``
-> volume_24h_usd, ``percent_change_24h`` -> change_24h_pct. Other keys are ignored.

Source conventions honoured here (documented by CoinPaprika, see QUIRKS.md / the OpenAPI spec):

- ``max_supply: 0`` means uncapped -> ``None``.
- ``rank: 0`` is how inactive or unranked coins are listed -> ``None``.
- "Missing values are returned as empty string" (``tick`` schema), so ``""`` in an optional
  number means ``None``; in a required one (``price``) it is a missing field.
- The free plan omits ``circulating_supply`` -> ``None``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from kasparro.identity.keys import OVERRIDES
from kasparro.models import MarketRecord, Normalized, Rejection
from kasparro.normalize.common import (
    CHANGE_PCT_BOUND,
    MARKET_BOUND,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_SYMBOL_CHARS,
    PRICE_BOUND,
    SUPPLY_BOUND,
    InvalidValue,
    optional_number,
    optional_text,
    parse_timestamp,
    require_text,
    required_number,
    to_rank,
    type_name,
)

__all__ = ["QUOTE", "SOURCE", "normalize_ticker"]

SOURCE: Final = "coinpaprika"
QUOTE: Final = "USD"


def normalize_ticker(raw: Any) -> Normalized:
    """Normalize one ``/tickers`` element; never raises."""
    if type(raw) is not dict:
        return Rejection(f"expected an object, got {type_name(raw)}", raw)
    try:
        return _record(raw)
    except InvalidValue as exc:
        return Rejection(exc.reason, raw, optional_text(raw.get("id")))


def _record(raw: dict[str, Any]) -> MarketRecord:
    asset_id = require_text(raw.get("id"), "id", MAX_ID_CHARS, strip=False)
    symbol = require_text(raw.get("symbol"), "symbol", MAX_SYMBOL_CHARS, strip=True)
    name = require_text(raw.get("name"), "name", MAX_NAME_CHARS, strip=True)
    observed_at = parse_timestamp(raw.get("last_updated"), "last_updated")
    quote = _usd_quote(raw.get("quotes"))
    price = quote.get("price")
    max_supply = _optional(raw.get("max_supply"), "max_supply", SUPPLY_BOUND)
    return MarketRecord(
        source=SOURCE,
        source_asset_id=asset_id,
        symbol=symbol,
        name=name,
        observed_at=observed_at,
        price_usd=required_number(None if price == "" else price, "price_usd", PRICE_BOUND),
        market_cap_usd=_optional(quote.get("market_cap"), "market_cap_usd", MARKET_BOUND),
        volume_24h_usd=_optional(quote.get("volume_24h"), "volume_24h_usd", MARKET_BOUND),
        change_24h_pct=_optional(
            quote.get("percent_change_24h"), "change_24h_pct", CHANGE_PCT_BOUND, signed=True
        ),
        market_cap_rank=_rank(raw.get("rank")),
        circulating_supply=_optional(
            raw.get("circulating_supply"), "circulating_supply", SUPPLY_BOUND
        ),
        total_supply=_optional(raw.get("total_supply"), "total_supply", SUPPLY_BOUND),
        max_supply=max_supply or None,
        identity_hint=OVERRIDES.get((SOURCE, asset_id)),
    )


def _usd_quote(quotes: Any) -> dict[str, Any]:
    if quotes is None:
        raise InvalidValue(f"missing required field: quotes.{QUOTE}")
    if type(quotes) is not dict:
        raise InvalidValue(f"quotes: expected an object, got {type_name(quotes)}")
    quote = quotes.get(QUOTE)
    if quote is None:
        raise InvalidValue(f"missing required field: quotes.{QUOTE}")
    if type(quote) is not dict:
        raise InvalidValue(f"quotes.{QUOTE}: expected an object, got {type_name(quote)}")
    return quote


def _rank(value: Any) -> int | None:
    # Type first: comparing an arbitrary object (a signalling NaN) with 0 can raise.
    if value == "" or (type(value) is int and value == 0):
        return None
    return to_rank(value)


def _optional(value: Any, field: str, bound: Decimal, *, signed: bool = False) -> Decimal | None:
    # "" is CoinPaprika's documented encoding of a missing value.
    if value == "":
        return None
    return optional_number(value, field, bound, signed=signed)
