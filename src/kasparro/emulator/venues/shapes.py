"""Each venue's public market-data routes, in its own response shapes.

Shapes follow the exchanges' published API documentation and the recorded responses in
``seed/venues/`` (see its README for provenance): field names, nesting, number spellings
(Binance's eight decimals, Kraken's arrays, OKX's string timestamps, Coinbase's two APIs).
A handler returns ``(status, body)``; ``routes.py`` adds rate limits and headers.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import orjson

from kasparro.emulator.venues.model import Listing, Quote, VenueModel, quantize_sig

Params = dict[str, str]
Handler = Callable[[VenueModel, int, Params], tuple[int, bytes]]

_EIGHT: Final = Decimal("0.00000001")
_DAY_MS: Final = 86_400_000


def _dump(value: Any) -> bytes:
    return orjson.dumps(value)


def plain(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def fixed(value: Decimal, places: int) -> str:
    return format(value.quantize(Decimal(1).scaleb(-places)), "f")


def sig(value: Decimal, digits: int = 6) -> str:
    return plain(quantize_sig(value, digits))


def decimals_for(price: Decimal, digits: int = 6) -> int:
    """Decimals that give ``digits`` significant digits (a venue's price precision)."""
    return max(0, digits - 1 - price.adjusted()) if price else 2


def markets(model: VenueModel, venue: str, tick: int) -> list[tuple[str, str, Listing]]:
    """``(served base, quote, listing)`` per market at ``tick`` (renames applied)."""
    bad = model.bad_days
    return [(bad.renamed(venue, m.base, tick), m.quote, m) for m in model.listings(venue)]


def _open(model: VenueModel, listing: Listing, tick: int, q: Quote) -> Decimal:
    day_ago = max(0, tick - _DAY_MS // model.step_ms)
    if day_ago == tick:
        return q.last
    return model.quote(listing, day_ago).last


# --- Binance (api.binance.com/api/v3) --------------------------------------------------------


def _limit(kind: str, interval: str, num: int, limit: int) -> dict[str, Any]:
    return {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": limit}


def binance_exchange_info(model: VenueModel, tick: int, params: Params) -> tuple[int, bytes]:
    now = model.internal_ms(tick) + model.shift_ms
    symbols = []
    for base, quote, m in markets(model, "binance", tick):
        q = model.quote(m, tick)
        tick_size = fixed(Decimal(1).scaleb(-min(8, decimals_for(q.last))), 8)
        symbols.append(
            {
                "symbol": base + quote,
                "status": "HALT" if q.halted else "TRADING",
                "baseAsset": base,
                "baseAssetPrecision": 8,
                "quoteAsset": quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT"],
                "icebergAllowed": True,
                "ocoAllowed": True,
                "quoteOrderQtyMarketAllowed": True,
                "allowTrailingStop": True,
                "cancelReplaceAllowed": True,
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": tick_size,
                        "maxPrice": "1000000.00000000",
                        "tickSize": tick_size,
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": "0.00001000",
                        "maxQty": "9000.00000000",
                        "stepSize": "0.00001000",
                    },
                    {
                        "filterType": "NOTIONAL",
                        "minNotional": "5.00000000",
                        "applyMinToMarket": True,
                    },
                ],
                "permissions": [],
                "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
            }
        )
    return 200, _dump(
        {
            "timezone": "UTC",
            "serverTime": now,
            "rateLimits": [
                _limit("REQUEST_WEIGHT", "MINUTE", 1, 6000),
                _limit("ORDERS", "SECOND", 10, 100),
                _limit("ORDERS", "DAY", 1, 200000),
                _limit("RAW_REQUESTS", "MINUTE", 5, 61000),
            ],
            "exchangeFilters": [],
            "symbols": symbols,
        }
    )  # fmt: skip


def binance_ticker_24hr(model: VenueModel, tick: int, params: Params) -> tuple[int, bytes]:
    wanted = params.get("symbol")
    rows = []
    for base, quote, m in markets(model, "binance", tick):
        if wanted and wanted != base + quote:
            continue
        q = model.quote(m, tick)
        open_ = _open(model, m, tick, q)
        vwap = (open_ + q.last) / 2
        rows.append(
            {
                "symbol": base + quote,
                "priceChange": fixed(q.last - open_, 8),
                "priceChangePercent": fixed((q.last - open_) / open_ * 100, 3)
                if open_
                else "0.000",
                "weightedAvgPrice": fixed(vwap, 8),
                "prevClosePrice": fixed(open_, 8),
                "lastPrice": fixed(q.last, 8),
                "lastQty": "0.01000000",
                "bidPrice": fixed(q.bid, 8),
                "bidQty": "1.25000000",
                "askPrice": fixed(q.ask, 8),
                "askQty": "0.84000000",
                "openPrice": fixed(open_, 8),
                "highPrice": fixed(max(open_, q.last, q.ask), 8),
                "lowPrice": fixed(min(open_, q.last, q.bid), 8),
                "volume": fixed(q.base_volume, 8),
                "quoteVolume": fixed(q.base_volume * vwap, 8),
                "openTime": q.time_ms - _DAY_MS,
                "closeTime": q.time_ms,
                "firstId": 28385,
                "lastId": 28385 + q.trades - 1 if q.trades else -1,
                "count": q.trades,
            }
        )
    if wanted and not rows:
        return 400, b'{"code":-1121,"msg":"Invalid symbol."}'
    return 200, _dump(rows[0] if wanted else rows)


# --- Kraken (api.kraken.com/0/public) -------------------------------------------------------

# Kraken's legacy asset ids (X for crypto, Z for fiat) and its own tickers (XBT, XDG).
KRAKEN_IDS: Final = {
    "BTC": "XXBT", "DOGE": "XXDG", "ETH": "XETH", "LTC": "XLTC", "XRP": "XXRP",
    "XLM": "XXLM", "ETC": "XETC", "XMR": "XXMR", "ZEC": "XZEC", "USD": "ZUSD", "EUR": "ZEUR",
}  # fmt: skip
KRAKEN_ALTNAMES: Final = {"BTC": "XBT", "DOGE": "XDG"}


def kraken_asset(code: str) -> tuple[str, str]:
    """(asset id, altname) of a unified currency code on Kraken."""
    alt = KRAKEN_ALTNAMES.get(code, code)
    return KRAKEN_IDS.get(code, alt), alt if code not in ("USD", "EUR") else "Z" + code


def kraken_pair(base: str, quote: str) -> tuple[str, str, str]:
    """(pair id, altname, wsname)."""
    base_id, base_alt = kraken_asset(base)
    quote_id, quote_alt = kraken_asset(quote)
    quote_short = quote_alt.removeprefix("Z") if quote in ("USD", "EUR") else quote_alt
    altname = (
        base_alt.removeprefix("Z") + quote_short
        if base in ("USD", "EUR")
        else base_alt + quote_short
    )
    if base in KRAKEN_IDS and quote in KRAKEN_IDS:
        pair = base_id + quote_id  # XXBTZUSD, XETHXXBT, ZEURZUSD
    elif base == "USDT" and quote == "USD":
        pair = "USDTZUSD"  # as Kraken spells it
    else:
        pair = altname
    ws_base = base_alt.removeprefix("Z") if base in ("USD", "EUR") else base_alt
    return pair, altname, f"{ws_base}/{quote_short}"


def kraken_assets(model: VenueModel, tick: int, params: Params) -> tuple[int, bytes]:
    result: dict[str, Any] = {}
    for base, quote, _ in markets(model, "kraken", tick):
        for code in (base, quote):
            asset_id, alt = kraken_asset(code)
            fiat = code in ("USD", "EUR")
            result[asset_id] = {
                "aclass": "currency",
                "altname": alt,
                "decimals": 4 if fiat else 10 if code == "BTC" else 8,
                "display_decimals": 2 if fiat else 5,
                "collateral_value": 1.0 if fiat or code == "BTC" else 0.5,
                "status": "enabled",
            }
    return 200, _dump({"error": [], "result": dict(sorted(result.items()))})


def kraken_asset_pairs(model: VenueModel, tick: int, params: Params) -> tuple[int, bytes]:
    result: dict[str, Any] = {}
    for base, quote, m in markets(model, "kraken", tick):
        q = model.quote(m, tick)
        pair, alt, ws = kraken_pair(base, quote)
        base_id, _ = kraken_asset(base)
        quote_id, _ = kraken_asset(quote)
        places = decimals_for(q.last)
        result[pair] = {
            "altname": alt,
            "wsname": ws,
            "aclass_base": "currency",
            "base": base_id,
            "aclass_quote": "currency",
            "quote": quote_id,
            "lot": "unit",
            "cost_decimals": 5,
            "pair_decimals": places,
            "lot_decimals": 8,
            "lot_multiplier": 1,
            "leverage_buy": [],
            "leverage_sell": [],
            "fees": [[0, 0.4], [10000, 0.35], [50000, 0.24], [100000, 0.22]],
            "fees_maker": [[0, 0.25], [10000, 0.2], [50000, 0.14], [100000, 0.12]],
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": "0.0001",
            "costmin": "0.5",
            "tick_size": fixed(Decimal(1).scaleb(-places), places),
            "status": "cancel_only" if q.halted else "online",
        }
    return 200, _dump({"error": [], "result": result})


def kraken_ticker(model: VenueModel, tick: int, params: Params) -> tuple[int, bytes]:
    wanted = set(filter(None, params.get("pair", "").split(",")))
    result: dict[str, Any] = {}
    for base, quote, m in markets(model, "kraken", tick):
        pair, alt, _ = kraken_pair(base, quote)
        if wanted and pair not in wanted and alt not in wanted:
            continue
        q = model.quote(m, tick)
        places = max(decimals_for(q.last), 5)
        open_ = _open(model, m, tick, q)
        vwap = (open_ + q.last) / 2
        today = q.base_volume / 3
        result[pair] = {
            "a": [fixed(q.ask, places), "1", "1.000"],
            "b": [fixed(q.bid, places), "2", "2.000"],
            "c": [fixed(q.last, places), "0.04408910"],
            "v": [fixed(today, 8), fixed(q.base_volume, 8)],
            "p": [fixed(vwap, places), fixed(vwap, places)],
            "t": [q.trades // 3, q.trades],
            "l": [fixed(min(open_, q.bid), places), fixed(min(open_, q.bid), places)],
            "h": [fixed(max(open_, q.ask), places), fixed(max(open_, q.ask), places)],
            "o": fixed(open_, places),
        }
    if wanted and not result:
        return 200, b'{"error":["EQuery:Unknown asset pair"]}'
    return 200, _dump({"error": [], "result": result})


# --- OKX (www.okx.com/api/v5) --------------------------------------------------------------


def _inst_type(params: Params) -> str | None:
    inst = params.get("instType")
    return None if inst not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION") else inst


def okx_instruments(model: VenueModel, tick: int, params: Params) -> tuple[int, bytes]:
    inst = _inst_type(params)
    if inst is None:
        return 400, b'{"code":"51000","data":[],"msg":"Parameter instType error"}'
    data = []
    for base, quote, m in [] if inst != "SPOT" else markets(model, "okx", tick):
        q = model.quote(m, tick)
        data.append(
            {
                "alias": "",
                "auctionEndTime": "",
                "baseCcy": base,
                "category": "1",
                "ctMult": "",
                "ctType": "",
                "ctVal": "",
                "ctValCcy": "",
                "expTime": "",
                "instFamily": "",
                "instId": f"{base}-{quote}",
                "instType": "SPOT",
                "lever": "",
                "listTime": "1548133413000",
                "lotSz": "0.00000001",
                "maxIcebergSz": "9999999999.0000000000000000",
                "maxLmtAmt": "20000000",
                "maxLmtSz": "9999999999",
                "maxMktAmt": "1000000",
                "maxMktSz": "",
                "maxStopSz": "",
                "maxTriggerSz": "9999999999.0000000000000000",
                "maxTwapSz": "9999999999.0000000000000000",
                "minSz": "0.00001",
                "optType": "",
                "quoteCcy": quote,
                "ruleType": "normal",
                "settleCcy": "",
                "state": "suspend" if q.halted else "live",
                "stk": "",
                "tickSz": plain(Decimal(1).scaleb(-decimals_for(q.last))),
                "uly": "",
            }
        )
    return 200, _dump({"code": "0", "data": data, "msg": ""})


def okx_tickers(model: VenueModel, tick: int, params: Params) -> tuple[int, bytes]:
    inst = _inst_type(params)
    if inst is None:
        return 400, b'{"code":"51000","data":[],"msg":"Parameter instType error"}'
    data = []
    for base, quote, m in [] if inst != "SPOT" else markets(model, "okx", tick):
        q = model.quote(m, tick)
        open_ = _open(model, m, tick, q)
        data.append(
            {
                "instType": "SPOT",
                "instId": f"{base}-{quote}",
                "last": sig(q.last),
                "lastSz": "0.044378",
                "askPx": sig(q.ask),
                "askSz": "4.2",
                "bidPx": sig(q.bid),
                "bidSz": "6.050058",
                "open24h": sig(open_),
                "high24h": sig(max(open_, q.ask)),
                "low24h": sig(min(open_, q.bid)),
                "volCcy24h": sig(q.base_volume * (open_ + q.last) / 2, 12),
                "vol24h": sig(q.base_volume, 12),
                "ts": str(q.time_ms),
                "sodUtc0": sig(open_),
                "sodUtc8": sig(open_),
            }
        )
    return 200, _dump({"code": "0", "msg": "", "data": data})


# --- Coinbase (api.coinbase.com: /v2 and /api/v3/brokerage) -----------------------------------

_FIAT_NAMES: Final = {"USD": "US Dollar", "EUR": "Euro"}


def _coinbase_codes(model: VenueModel, tick: int) -> dict[str, str]:
    codes: dict[str, str] = {}
    for base, quote, m in markets(model, "coinbase", tick):
        codes.setdefault(base, m.asset.name if m.asset else base)
        codes.setdefault(quote, quote)
    return codes


def coinbase_currencies(model: VenueModel, tick: int, params: Params) -> tuple[int, bytes]:
    data = [{"id": c, "name": n, "min_size": "0.01"} for c, n in _FIAT_NAMES.items()]
    return 200, _dump({"data": data})


def coinbase_crypto(model: VenueModel, tick: int, params: Params) -> tuple[int, bytes]:
    data = []
    for i, (code, name) in enumerate(sorted(_coinbase_codes(model, tick).items())):
        if code in _FIAT_NAMES:
            continue
        data.append(
            {
                "asset_id": f"00000000-0000-4000-8000-{i:012d}",
                "code": code,
                "name": name,
                "color": "#0052FF",
                "sort_index": 100 + i,
                "exponent": 8,
                "type": "crypto",
                "address_regex": "^(?:0x)?[0-9a-fA-F]{40}$",
            }
        )
    return 200, _dump({"data": data})


def coinbase_exchange_rates(model: VenueModel, tick: int, params: Params) -> tuple[int, bytes]:
    """USD per unit inverted (units per USD), as Coinbase's ``/v2/exchange-rates``."""
    t = model.internal_ms(tick)
    rates: dict[str, str] = {}
    for base, quote, m in markets(model, "coinbase", tick):
        if m.quote == "USD" and m.asset is not None:
            rates[base] = sig(1 / model.usd_price(m.asset, t), 10)
        for code in (quote,):
            if code not in rates:
                rates[code] = sig(1 / model.usd_rate(code, t, tick), 10)
    return 200, _dump({"data": {"currency": "USD", "rates": dict(sorted(rates.items()))}})


def coinbase_products(model: VenueModel, tick: int, params: Params) -> tuple[int, bytes]:
    if params.get("product_type", "SPOT").upper() != "SPOT":
        return 200, b'{"products":[],"num_products":0}'
    products = []
    for base, quote, m in markets(model, "coinbase", tick):
        q = model.quote(m, tick)
        open_ = _open(model, m, tick, q)
        places = decimals_for(q.last)
        increment = plain(Decimal(1).scaleb(-places))
        pid = f"{base}-{quote}"
        aliases = [f"{base}-USDC"] if quote == "USD" and any(
            x.base == m.base and x.alias_of for x in model.listings("coinbase")
        ) else []  # fmt: skip
        products.append(
            {
                "product_id": pid,
                "price": sig(q.last),
                "price_percentage_change_24h": plain(
                    ((q.last - open_) / open_ * 100).quantize(Decimal("1e-14"))
                ) if open_ else "0",
                "volume_24h": sig(q.base_volume, 12),
                "volume_percentage_change_24h": "3.2",
                "base_increment": "0.00000001",
                "quote_increment": increment,
                "quote_min_size": "1",
                "quote_max_size": "150000000",
                "base_min_size": "0.00000001",
                "base_max_size": "3400",
                "base_name": m.asset.name if m.asset else base,
                "quote_name": _FIAT_NAMES.get(quote, quote),
                "watched": False,
                "is_disabled": False,
                "new": False,
                "status": "online",
                "cancel_only": q.halted,
                "limit_only": False,
                "post_only": False,
                "trading_disabled": q.halted,
                "auction_mode": False,
                "product_type": "SPOT",
                "quote_currency_id": quote,
                "base_currency_id": base,
                "fcm_trading_session_details": None,
                "mid_market_price": "",
                "alias": f"{base}-USD" if m.alias_of else "",
                "alias_to": aliases,
                "base_display_symbol": base,
                "quote_display_symbol": "USD" if m.alias_of else quote,
                "view_only": False,
                "price_increment": increment,
                "display_name": f"{base}-USD" if m.alias_of else pid,
                "product_venue": "CBE",
                "approximate_quote_24h_volume": sig(q.base_volume * q.last, 12),
            }
        )  # fmt: skip
    return 200, _dump({"products": products, "num_products": len(products)})


# Route tables: path -> (handler, request weight). Binance's weights are its published
# ones (ticker/24hr without a symbol: 80; exchangeInfo: 20); the others count requests.
ROUTES: Final[dict[str, dict[str, tuple[Handler, int]]]] = {
    "binance": {
        "/api/v3/exchangeInfo": (binance_exchange_info, 20),
        "/api/v3/ticker/24hr": (binance_ticker_24hr, 80),
    },
    "kraken": {
        "/0/public/Assets": (kraken_assets, 1),
        "/0/public/AssetPairs": (kraken_asset_pairs, 1),
        "/0/public/Ticker": (kraken_ticker, 1),
    },
    "okx": {
        "/api/v5/public/instruments": (okx_instruments, 1),
        "/api/v5/market/tickers": (okx_tickers, 1),
    },
    "coinbase": {
        "/v2/currencies": (coinbase_currencies, 1),
        "/v2/currencies/crypto": (coinbase_crypto, 1),
        "/v2/exchange-rates": (coinbase_exchange_rates, 1),
        "/api/v3/brokerage/market/products": (coinbase_products, 1),
    },
}
