"""Expected record contracts per endpoint, read off the real payloads and OpenAPI specs."""

from __future__ import annotations

import re

from kasparro.normalize.drift import Contract, FieldSpec

NUM = FieldSpec(frozenset({"number", "null"}))
STR = FieldSpec(frozenset({"string"}))
STR_OR_NULL = FieldSpec(frozenset({"string", "null"}))
OBJ_OR_NULL = FieldSpec(frozenset({"object", "null"}))

COINGECKO_MARKETS = Contract(
    endpoint="/coins/markets",
    fields={
        "id": STR,
        "symbol": STR,
        "name": STR,
        "image": STR_OR_NULL,
        "current_price": NUM,
        "market_cap": NUM,
        "market_cap_rank": NUM,
        "fully_diluted_valuation": NUM,
        "total_volume": NUM,
        "high_24h": NUM,
        "low_24h": NUM,
        "price_change_24h": NUM,
        "price_change_percentage_24h": NUM,
        "market_cap_change_24h": NUM,
        "market_cap_change_percentage_24h": NUM,
        "circulating_supply": NUM,
        "total_supply": NUM,
        "max_supply": NUM,
        "ath": NUM,
        "ath_change_percentage": NUM,
        "ath_date": STR_OR_NULL,
        "atl": NUM,
        "atl_change_percentage": NUM,
        "atl_date": STR_OR_NULL,
        "roi": OBJ_OR_NULL,
        "last_updated": STR_OR_NULL,
        # Present only with sparkline=true.
        "sparkline_in_7d": FieldSpec(frozenset({"object", "null"}), optional=True),
    },
    allowed_patterns=(re.compile(r"price_change_percentage_\w+_in_currency"),),
)

_USD = "quotes.USD."
COINPAPRIKA_TICKERS = Contract(
    endpoint="/tickers",
    fields={
        "id": STR,
        "name": STR,
        "symbol": STR,
        "rank": NUM,
        # The free plan omits circulating_supply (QUIRKS.md): absence is not drift.
        "circulating_supply": FieldSpec(frozenset({"number", "null"}), optional=True),
        "total_supply": NUM,
        "max_supply": NUM,
        "beta_value": NUM,
        "first_data_at": STR_OR_NULL,
        "last_updated": STR,
        "quotes": FieldSpec(frozenset({"object"})),
        "quotes.USD": FieldSpec(frozenset({"object"})),
        **{
            _USD + k: NUM
            for k in (
                "price",
                "volume_24h",
                "volume_24h_change_24h",
                "market_cap",
                "market_cap_change_24h",
                "percent_change_15m",
                "percent_change_30m",
                "percent_change_1h",
                "percent_change_6h",
                "percent_change_12h",
                "percent_change_24h",
                "percent_change_7d",
                "percent_change_30d",
                "percent_change_1y",
                "ath_price",
                "percent_from_price_ath",
            )
        },
        _USD + "ath_date": STR_OR_NULL,
    },
    nested=frozenset({"quotes", "quotes.USD"}),
)

BOOL = FieldSpec(frozenset({"boolean"}))

# /coins/list?include_platform=true (OpenAPI CoinsList; the docs example shows platforms).
COINGECKO_COINS_LIST = Contract(
    endpoint="/coins/list",
    fields={"id": STR, "symbol": STR, "name": STR, "platforms": FieldSpec(frozenset({"object"}))},
)

# /v1/coins (OpenAPI coin).
COINPAPRIKA_COINS = Contract(
    endpoint="/coins",
    fields={
        "id": STR,
        "name": STR,
        "symbol": STR,
        "rank": NUM,
        "is_new": BOOL,
        "is_active": BOOL,
        "type": STR,
    },
)

# /v1/contracts/{platform_id} (OpenAPI contracts_contract; `active` as the API serves it).
COINPAPRIKA_CONTRACTS = Contract(
    endpoint="/contracts/{platform}",
    fields={
        "address": STR,
        "id": STR,
        "type": STR,
        "active": FieldSpec(frozenset({"boolean"}), optional=True),
    },
)
