"""CoinGecko v3 ``/coins/markets`` (``vs_currency=usd``) element -> ``MarketRecord``.

Field mapping: ``id`` -> source_asset_id, ``symbol``, ``name``, ``last_updated`` -> observed_at,
``current_price`` -> price_usd, ``market_cap`` -> market_cap_usd, ``total_volume`` ->
volume_24h_usd, ``price_change_percentage_24h`` -> change_24h_pct, ``market_cap_rank``,
``circulating_supply``, ``total_supply``, ``max_supply``. Other keys are ignored.

The element must come from :func:`~kasparro.normalize.common.loads_exact` so numbers are
exact Decimals. ``null`` optional values become ``None``; a present but invalid value rejects
the whole element (it is never silently nulled). CoinGecko reports ``market_cap: 0`` for coins
it has no supply data for: that is kept as 0, as sent.
"""

from __future__ import annotations

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

__all__ = ["SOURCE", "normalize_market"]

SOURCE: Final = "coingecko"


def normalize_market(raw: Any) -> Normalized:
    """Normalize one ``/coins/markets`` element; never raises."""
    if type(raw) is not dict:
        return Rejection(f"expected an object, got {type_name(raw)}", raw)
    try:
        return _record(raw)
    except InvalidValue as exc:
        return Rejection(exc.reason, raw, optional_text(raw.get("id")))


def _record(raw: dict[str, Any]) -> MarketRecord:
    asset_id = require_text(raw.get("id"), "id", MAX_ID_CHARS, strip=False)
    # Keyword arguments evaluate in order, so the first failing field names the reason.
    return MarketRecord(
        source=SOURCE,
        source_asset_id=asset_id,
        symbol=require_text(raw.get("symbol"), "symbol", MAX_SYMBOL_CHARS, strip=True),
        name=require_text(raw.get("name"), "name", MAX_NAME_CHARS, strip=True),
        observed_at=parse_timestamp(raw.get("last_updated"), "last_updated"),
        price_usd=required_number(raw.get("current_price"), "price_usd", PRICE_BOUND),
        market_cap_usd=optional_number(raw.get("market_cap"), "market_cap_usd", MARKET_BOUND),
        volume_24h_usd=optional_number(raw.get("total_volume"), "volume_24h_usd", MARKET_BOUND),
        change_24h_pct=optional_number(
            raw.get("price_change_percentage_24h"),
            "change_24h_pct",
            CHANGE_PCT_BOUND,
            signed=True,
        ),
        market_cap_rank=to_rank(raw.get("market_cap_rank")),
        circulating_supply=optional_number(
            raw.get("circulating_supply"), "circulating_supply", SUPPLY_BOUND
        ),
        total_supply=optional_number(raw.get("total_supply"), "total_supply", SUPPLY_BOUND),
        max_supply=optional_number(raw.get("max_supply"), "max_supply", SUPPLY_BOUND),
        identity_hint=OVERRIDES.get((SOURCE, asset_id)),
    )
