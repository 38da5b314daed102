"""Per-asset market data at a tick, as CoinGecko and CoinPaprika records.

Each asset has tick-0 *bases*, built lazily and deterministically: CoinGecko's from the
recorded payloads (seeded coins) or the asset's hash stream; CoinPaprika's from the same
CoinGecko numbers at full float precision (one market, see ``truth.py``). A tick renders a
base scaled by exact factors ``(UNIT + k) / UNIT`` that ``truth.Market`` computes from the
coin's one true price path and each API's freshness and noise: price, market cap and FDV
share one factor, volume has its own; the 1h/24h percentages move with the price. Dead
(stale) assets never change. Values at one tick are a pure function of ``(seed, asset,
tick)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kasparro.emulator.numbers import (
    ZERO_FLOAT,
    Num,
    add,
    as_int,
    canonical_float,
    compare,
    divide,
    format_coingecko,
    format_coinpaprika,
    multiply,
    parse_num,
    percent_change,
    quantize,
    round_sig,
    scale,
)
from kasparro.emulator.render import (
    NULL,
    Record,
    iso_millis,
    iso_seconds,
    json_string,
    parse_iso,
    render_record,
)
from kasparro.emulator.rng import Stream
from kasparro.emulator.seed import CP_BTC_TICKER, seed_numbers
from kasparro.emulator.universe import BASE_TIME_MS, SALT_CG, SALT_CP, Asset

if TYPE_CHECKING:
    from kasparro.emulator.truth import CpTick

UNIT = 10**9  # tick factors are (UNIT + k) / UNIT (truth.UNIT)

PCP_INTERVALS = ("1h", "24h", "7d", "14d", "30d", "200d", "1y")
CP_CHANGE_KEYS = (
    "percent_change_15m",
    "percent_change_30m",
    "percent_change_1h",
    "percent_change_6h",
    "percent_change_12h",
    "percent_change_24h",
    "percent_change_7d",
    "percent_change_30d",
    "percent_change_1y",
)
_DAY_MS = 86_400_000
_EPOCH_2013_MS = 1_373_068_800_000  # 2013-07-06, CoinGecko's earliest atl_date
_EPOCH_2017_MS = 1_483_228_800_000


def pcp_field(interval: str) -> str:
    return f"price_change_percentage_{interval}_in_currency"


def _fmt(value: Num | None) -> str:
    return NULL if value is None else format_coingecko(value)


def _fmt_cp(value: Num | None) -> str:
    return NULL if value is None else format_coinpaprika(value)


# --- CoinGecko ----------------------------------------------------------------------------


@dataclass(slots=True)
class CgBase:
    # Text parts are built on first CoinGecko render: CoinPaprika-only assets need only the
    # numbers (their CoinPaprika data derives from them).
    make_head: Callable[[], Record]  # id, symbol, name, image
    price: Num | None
    market_cap: Num | None
    rank: str
    fdv: Num | None
    volume: Num | None
    high: Num | None
    low: Num | None
    pc24: Num | None
    pcp24: Num | None
    mcc24: Num | None
    mccp24: Num | None
    make_tail: Callable[[], Record]  # circulating_supply .. roi: static across ticks
    last_updated_ms: int
    pcp: dict[str, Num | None]
    atl_date_ms: int | None
    ath_date_ms: int | None
    circulating: Num | None
    total: Num | None
    max_supply: Num | None
    ath: Num | None
    # Caches filled on first use.
    dynamic0: tuple[str, ...] | None = None
    head: Record | None = None
    tail: Record | None = None
    prefix_text: str | None = None
    tail_text: str | None = None


def _text_parts(base: CgBase) -> tuple[Record, Record]:
    if base.head is None or base.tail is None:
        base.head = base.make_head()
        base.tail = base.make_tail()
    return base.head, base.tail


def cg_base(asset: Asset, seed: int) -> CgBase:
    base: CgBase | None = asset.cg_base
    if base is None:
        base = _seeded_cg(asset) if asset.seed_row is not None else _generated_cg(asset, seed)
        asset.cg_base = base
    return base


def _head(asset: Asset, image: str) -> Record:
    return {
        "id": json_string(asset.cg_id or ""),
        "symbol": json_string(asset.symbol),
        "name": json_string(asset.name),
        "image": json_string(image),
    }


def _roi_fragment(roi: dict[str, Any] | None) -> str:
    if roi is None:
        return NULL
    return render_record(
        {
            "times": _fmt(roi["times"]),
            "currency": json_string(roi["currency"]),
            "percentage": _fmt(roi["percentage"]),
        }
    )


def _date_fragment(text: str | None) -> str:
    return NULL if text is None else json_string(text)


def _seeded_cg(asset: Asset) -> CgBase:
    row: dict[str, Any] = asset.seed_row or {}
    return CgBase(
        make_head=lambda: _head(asset, row["image"]),
        price=row["current_price"],
        market_cap=row["market_cap"],
        rank=_fmt(row["market_cap_rank"]),
        fdv=row["fully_diluted_valuation"],
        volume=row["total_volume"],
        high=row["high_24h"],
        low=row["low_24h"],
        pc24=row["price_change_24h"],
        pcp24=row["price_change_percentage_24h"],
        mcc24=row["market_cap_change_24h"],
        mccp24=row["market_cap_change_percentage_24h"],
        make_tail=lambda: {
            "circulating_supply": _fmt(row["circulating_supply"]),
            "total_supply": _fmt(row["total_supply"]),
            "max_supply": _fmt(row["max_supply"]),
            "ath": _fmt(row["ath"]),
            "ath_change_percentage": _fmt(row["ath_change_percentage"]),
            "ath_date": _date_fragment(row["ath_date"]),
            "atl": _fmt(row["atl"]),
            "atl_change_percentage": _fmt(row["atl_change_percentage"]),
            "atl_date": _date_fragment(row["atl_date"]),
            "roi": _roi_fragment(row["roi"]),
        },
        last_updated_ms=parse_iso(row["last_updated"]),
        pcp={i: row.get(pcp_field(i)) for i in PCP_INTERVALS},
        atl_date_ms=parse_iso(row["atl_date"]) if row["atl_date"] else None,
        ath_date_ms=parse_iso(row["ath_date"]) if row["ath_date"] else None,
        circulating=row["circulating_supply"],
        total=row["total_supply"],
        max_supply=row["max_supply"],
        ath=row["ath"],
    )


def _generated_price(stream: Stream) -> Num:
    bucket = stream.below(1000)
    if bucket < 25:  # dust: 1e-10 .. 1e-8, few digits, printed in scientific notation
        digits = stream.between(1, 4)
        return canonical_float((stream.digits(digits), -stream.between(9, 11) - digits + 1))
    if bucket < 45:  # expensive: CoinGecko prints these as bare integers
        return (stream.between(10_000, 99_999), 0)
    if bucket < 70:  # stable-ish around 1
        return (stream.between(9_900, 10_100), -4)
    digits = stream.between(3, 7)
    magnitude = stream.between(-7, 3)
    price = canonical_float((stream.digits(digits), magnitude - digits + 1))
    return as_int(price) if magnitude >= 4 else price


def _random_pct(stream: Stream, limit_percent: int, exponent: int = -14) -> Num:
    bound = limit_percent * 10**-exponent
    return (stream.between(-bound, bound), exponent)


def _generated_cg(asset: Asset, seed: int) -> CgBase:
    stream = Stream(seed, SALT_CG, asset.index)
    spec = asset.showcase
    overrides: dict[str, str | None] = dict(spec.values) if spec is not None else {}

    def override(field: str, generated: Num | None) -> Num | None:
        if field not in overrides:
            return generated
        text = overrides[field]
        return None if text is None else parse_num(text)

    price = override("current_price", _generated_price(stream))
    assert price is not None
    cap_int = asset.market_cap
    market_cap: Num | None = None if cap_int is None else (cap_int, 0)
    circulating: Num | None
    if cap_int:
        circulating = divide((cap_int, 0), price, stream.between(7, 12))
        if stream.per_mille(450):
            circulating = canonical_float(as_int(circulating))
    else:
        circulating = ZERO_FLOAT
    circulating = override("circulating_supply", circulating)
    roll = stream.below(1000)
    total: Num | None
    if roll < 60:
        total = None
    elif roll < 80 and circulating is not None:  # circulating > total, as for usd-coin
        total = scale(circulating, 1_000_000 - stream.between(1, 500), 1_000_000)
    elif circulating is not None:
        total = scale(circulating, 1000 + stream.below(2000), 1000)
    else:
        total = None
    total = override("total_supply", total)
    roll = stream.below(1000)
    max_supply: Num | None
    if roll < 450 or total is None:
        max_supply = None
    elif roll < 460:  # total > max, as for amp-token
        max_supply = scale(total, 900, 1000)
    elif roll < 750:
        max_supply = total
    else:
        max_supply = scale(total, 1000 + stream.below(500), 1000)
    max_supply = override("max_supply", max_supply)
    fdv = None if max_supply is None else as_int(multiply(price, max_supply))

    pcp_full = _random_pct(stream, 15)
    pcp24 = quantize(pcp_full, -5)
    product = multiply(price, pcp24)
    pc24 = canonical_float(round_sig((product[0], product[1] - 2), 9))  # price * pcp24 / 100
    mccp24 = quantize(add(pcp24, (stream.between(-300, 300), -5)), -5)
    mcc24 = None if market_cap is None else as_int(multiply(market_cap, (mccp24[0], mccp24[1] - 2)))
    no_range = stream.per_mille(10)
    high = None if no_range else scale(price, 100_000 + stream.between(0, 8000), 100_000)
    low = None if no_range else scale(price, 100_000 - stream.between(0, 8000), 100_000)
    ath = scale(price, 100_000 + stream.between(0, 5_000_000), 100_000)
    atl = scale(price, stream.between(1_000, 100_000), 100_000)
    if atl[0] == 0:
        atl = (1, price[1])
    ath_ms = stream.between(_EPOCH_2017_MS, BASE_TIME_MS - _DAY_MS)
    atl_ms = stream.between(_EPOCH_2013_MS, ath_ms)
    roi: dict[str, Any] | None = None
    if stream.per_mille(200):
        times = (stream.between(-999_999_999_999_999, 99_999_999_999_999_999), -15)
        roi = {
            "times": times,
            "currency": stream.choice(("usd", "btc", "eth")),
            "percentage": canonical_float(multiply(times, (100, 0))),
        }
    young = stream.per_mille(200)
    sparse = stream.per_mille(30)
    pcp: dict[str, Num | None] = {
        "1h": _random_pct(stream, 3),
        "24h": pcp_full,
        "7d": None if sparse else _random_pct(stream, 40),
        "14d": None if sparse else _random_pct(stream, 60),
        "30d": None if sparse else _random_pct(stream, 80),
        "200d": None if sparse or young else _random_pct(stream, 300),
        "1y": None if sparse or young else _random_pct(stream, 900),
    }
    if asset.stale:
        last_updated = BASE_TIME_MS - stream.between(30, 400) * _DAY_MS
    else:
        last_updated = BASE_TIME_MS - asset.cg_lag_ms

    values: dict[str, Num | None] = {
        "fully_diluted_valuation": fdv,
        "high_24h": high,
        "low_24h": low,
    }
    for field in values:
        values[field] = override(field, values[field])
    for interval in PCP_INTERVALS:
        pcp[interval] = override(pcp_field(interval), pcp[interval])
    image_id = 20_000 + asset.index
    image = (
        f"https://assets.coingecko.com/coins/images/{image_id}/large/"
        f"{(asset.cg_id or 'coin').lower()}.png?{1_600_000_000 + image_id}"
    )
    return CgBase(
        make_head=lambda: _head(asset, image),
        price=price,
        market_cap=market_cap,
        rank=_fmt(None if asset.rank is None else (asset.rank, 0)),
        fdv=values["fully_diluted_valuation"],
        volume=(asset.volume, 0),
        high=values["high_24h"],
        low=values["low_24h"],
        pc24=pc24,
        pcp24=pcp24,
        mcc24=mcc24,
        mccp24=mccp24,
        make_tail=lambda: {
            "circulating_supply": _fmt(circulating),
            "total_supply": _fmt(total),
            "max_supply": _fmt(max_supply),
            "ath": _fmt(ath),
            "ath_change_percentage": _fmt(percent_change(price, ath, 5)),
            "ath_date": json_string(iso_millis(ath_ms)),
            "atl": _fmt(atl),
            "atl_change_percentage": _fmt(percent_change(price, atl, 5)),
            "atl_date": json_string(iso_millis(atl_ms)),
            "roi": "null" if "roi" in overrides else _roi_fragment(roi),
        },
        last_updated_ms=last_updated,
        pcp=pcp,
        atl_date_ms=atl_ms,
        ath_date_ms=ath_ms,
        circulating=circulating,
        total=total,
        max_supply=max_supply,
        ath=ath,
    )


def _shift(value: Num | None, k: int) -> Num | None:
    """A percentage moved by the tick factor (``k / UNIT * 100`` percentage points), at the
    value's own precision."""
    if value is None or k == 0:
        return value
    moved = add(value, (k, -7))
    return quantize(moved, value[1]) if value[1] > -7 else moved


# The per-tick part of a CoinGecko record, in field order (the rest is static per asset).
CG_DYNAMIC_FIELDS = (
    "current_price",
    "market_cap",
    "fully_diluted_valuation",
    "total_volume",
    "high_24h",
    "low_24h",
    "price_change_24h",
    "price_change_percentage_24h",
    "market_cap_change_24h",
    "market_cap_change_percentage_24h",
)


def _cg_dynamic(base: CgBase, k: int, kv: int) -> tuple[str, ...]:
    """Rendered CG_DYNAMIC_FIELDS at tick factors (k, kv)."""
    if not (k or kv) and base.dynamic0 is not None:
        return base.dynamic0
    price, cap, fdv, volume = base.price, base.market_cap, base.fdv, base.volume
    high, low, pc24, pcp24 = base.high, base.low, base.pc24, base.pcp24
    mcc24, mccp24 = base.mcc24, base.mccp24
    if k or kv:
        factor = UNIT + k
        if price is not None:
            new_price = scale(price, factor, UNIT)
            if pc24 is not None:
                pc24 = add(pc24, add(new_price, (-price[0], price[1])))
            if high is not None and compare(new_price, high) > 0:
                high = new_price
            if low is not None and compare(new_price, low) < 0:
                low = new_price
            price = new_price
        if cap is not None:
            new_cap = scale(cap, factor, UNIT)
            if mcc24 is not None:
                mcc24 = add(mcc24, add(new_cap, (-cap[0], cap[1])))
            cap = new_cap
        if fdv is not None:
            fdv = scale(fdv, factor, UNIT)
        if volume is not None:
            volume = scale(volume, UNIT + kv, UNIT)
        pcp24 = _shift(pcp24, k)
        mccp24 = _shift(mccp24, k)
    values = tuple(
        _fmt(v) for v in (price, cap, fdv, volume, high, low, pc24, pcp24, mcc24, mccp24)
    )
    if not (k or kv):
        base.dynamic0 = values
    return values


def _pcp_value(base: CgBase, interval: str, k: int) -> str:
    value = base.pcp[interval]
    if interval in ("1h", "24h"):
        value = _shift(value, k)
    return _fmt(value)


def cg_record(base: CgBase, k: int, kv: int, tick_ms: int, pcp: tuple[str, ...] = ()) -> Record:
    """The CoinGecko ``/coins/markets`` element at a tick (``tick_ms`` already 0 if stale),
    as fragments (for fault injection; ``cg_text`` is the fast equivalent)."""
    dynamic = _cg_dynamic(base, k, kv)
    head, tail = _text_parts(base)
    record = dict(head)
    record["current_price"] = dynamic[0]
    record["market_cap"] = dynamic[1]
    record["market_cap_rank"] = base.rank
    record.update(zip(CG_DYNAMIC_FIELDS[2:], dynamic[2:], strict=True))
    record.update(tail)
    record["last_updated"] = f'"{iso_millis(base.last_updated_ms + tick_ms)}"'
    for interval in pcp:
        record[pcp_field(interval)] = _pcp_value(base, interval, k)
    return record


def cg_text(base: CgBase, k: int, kv: int, tick_ms: int, pcp: tuple[str, ...] = ()) -> str:
    """``render_record(cg_record(...))``, without building the dict."""
    if base.prefix_text is None or base.tail_text is None:
        head, tail = _text_parts(base)
        base.prefix_text = render_record(head)[:-1]
        base.tail_text = render_record(tail)[1:-1]
    p, c, f, v, h, lo, pc, pcp24, mc, mcp = _cg_dynamic(base, k, kv)
    extra = "".join(f',"{pcp_field(i)}":{_pcp_value(base, i, k)}' for i in pcp) if pcp else ""
    return (
        f'{base.prefix_text},"current_price":{p},"market_cap":{c},"market_cap_rank":{base.rank},'
        f'"fully_diluted_valuation":{f},"total_volume":{v},"high_24h":{h},"low_24h":{lo},'
        f'"price_change_24h":{pc},"price_change_percentage_24h":{pcp24},'
        f'"market_cap_change_24h":{mc},"market_cap_change_percentage_24h":{mcp},'
        f'{base.tail_text},"last_updated":"{iso_millis(base.last_updated_ms + tick_ms)}"{extra}}}'
    )


# --- CoinPaprika --------------------------------------------------------------------------


@dataclass(slots=True)
class CpBase:
    """CoinPaprika's tick-0 numbers before its own view is applied: CoinGecko's tick-0
    price, market cap and volume at float precision (the same market), plus CoinPaprika's
    own static fields. A tick scales price/market cap/volume by ``truth.CpTick``."""

    head: Record  # id, name, symbol, rank
    supply: Record  # circulating_supply, total_supply, max_supply, beta_value, first_data_at
    last_updated_s: int
    price: Num
    volume: Num
    volume_change: Num
    market_cap: Num
    market_cap_change: Num
    changes: dict[str, Num]
    ath_price: Num | None
    ath_date: str  # fragment
    # Caches filled on first use.
    quote0: Record | None = None
    chunks: tuple[str, ...] | None = None


def cp_base(asset: Asset, seed: int) -> CpBase:
    base: CpBase | None = asset.cp_base
    if base is None:
        base = _derived_cp(asset, seed)
        if asset.cp_id == "btc-bitcoin" and asset.origin == "seed":
            _recorded_btc(base)
        asset.cp_base = base
    return base


def _cp_head(asset: Asset) -> Record:
    return {
        "id": json_string(asset.cp_id or ""),
        "name": json_string(asset.cp_name),
        "symbol": json_string(asset.cp_symbol),
        "rank": str(asset.cp_rank),
    }


def _recorded_btc(base: CpBase) -> None:
    """The recorded btc-bitcoin ticker's own fields (supplies, beta, first data, all-time
    high). Its prices are not kept: the recording is from 2022-04-19 (BTC at 41,390) while
    the universe's tick 0 is CoinGecko's page of 2022-02-23 (BTC at 38,938), and one market
    means CoinPaprika quotes the same underlying price."""
    row: dict[str, Any] = seed_numbers(CP_BTC_TICKER)
    usd: dict[str, Any] = row["quotes"]["USD"]
    base.supply = {
        "circulating_supply": _fmt_cp(row["circulating_supply"]),
        "total_supply": _fmt_cp(row["total_supply"]),
        "max_supply": _fmt_cp(row["max_supply"]),
        "beta_value": _fmt_cp(row["beta_value"]),
        "first_data_at": json_string(row["first_data_at"]),
    }
    base.ath_price = usd["ath_price"]
    base.ath_date = _date_fragment(usd["ath_date"])


def _extend(value: Num, stream: Stream, digits: int = 15) -> Num:
    """Pad with random trailing digits to ``digits`` significant digits (float64-like), the
    random ones below the 9th significant digit (under a hundred-millionth of the value)."""
    mantissa, exponent = value
    length = len(str(abs(mantissa)))
    if mantissa and length < 9:
        mantissa, exponent, length = mantissa * 10 ** (9 - length), exponent - 9 + length, 9
    if mantissa == 0 or length >= digits:
        return canonical_float(round_sig(value, digits))
    pad = digits - length
    extra = stream.below(10**pad)
    mantissa = mantissa * 10**pad + (extra if mantissa > 0 else -extra)
    return canonical_float((mantissa, exponent - pad))


def _derived_cp(asset: Asset, seed: int) -> CpBase:
    cg = cg_base(asset, seed)
    stream = Stream(seed, SALT_CP, asset.index)
    # CoinGecko rounds to a few significant digits; CoinPaprika sends float64 digits of
    # its own aggregate.
    price = _extend(cg.price or (1, 0), stream)
    volume = _extend(cg.volume or (0, 0), stream)
    cap = as_int(cg.market_cap or (0, 0))
    pcp24 = cg.pcp24 or (0, 0)
    changes: dict[str, Num] = {
        "percent_change_15m": (stream.between(-50, 50), -2),
        "percent_change_30m": (stream.between(-80, 80), -2),
        "percent_change_1h": quantize(cg.pcp["1h"] or (0, 0), -2),
        "percent_change_6h": (stream.between(-500, 500), -2),
        "percent_change_12h": (stream.between(-800, 800), -2),
        "percent_change_24h": quantize(pcp24, -2),
        "percent_change_7d": quantize(cg.pcp["7d"] or (0, 0), -2),
        "percent_change_30d": quantize(cg.pcp["30d"] or (0, 0), -2),
        "percent_change_1y": quantize(cg.pcp["1y"] or (0, 0), -2),
    }
    ath_price = None
    ath_date = NULL
    if cg.ath is not None and not stream.per_mille(30):
        ath_price = _extend(cg.ath, stream)
        if cg.ath_date_ms is not None:
            ath_date = json_string(iso_seconds(cg.ath_date_ms // 1000))
    circulating = as_int(cg.circulating) if cg.circulating is not None else (0, 0)
    first_ms = cg.atl_date_ms or _EPOCH_2017_MS
    if asset.stale:
        last_updated = BASE_TIME_MS // 1000 - stream.between(30, 400) * 86_400
    else:
        last_updated = BASE_TIME_MS // 1000 - asset.cp_lag_s
    return CpBase(
        head=_cp_head(asset),
        supply={
            "circulating_supply": _fmt_cp(circulating),
            "total_supply": _fmt_cp(as_int(cg.total) if cg.total is not None else circulating),
            # CoinPaprika spells "uncapped" as 0 where CoinGecko has null.
            "max_supply": _fmt_cp(as_int(cg.max_supply) if cg.max_supply is not None else (0, 0)),
            "beta_value": _fmt_cp((stream.between(-500_000, 2_500_000), -6)),
            "first_data_at": json_string(iso_seconds(first_ms // 1000 // 86_400 * 86_400)),
        },
        last_updated_s=last_updated,
        price=price,
        volume=volume,
        volume_change=(stream.between(-5000, 5000), -2),
        market_cap=cap,
        market_cap_change=quantize(pcp24, -2),
        changes=changes,
        ath_price=ath_price,
        ath_date=ath_date,
    )


def _shift_cp(value: Num, k: int) -> Num:
    return value if k == 0 else quantize(add(value, (k, -7)), -2)


# The per-tick part of a CoinPaprika quote.
CP_DYNAMIC_FIELDS = (
    "price",
    "volume_24h",
    "market_cap",
    "market_cap_change_24h",
    "percent_change_1h",
    "percent_change_24h",
    "percent_from_price_ath",
)


def cp_numbers(base: CpBase, tick: CpTick | None) -> tuple[Num, Num, Num]:
    """(price, 24h volume, market cap) in USD in CoinPaprika's view at a tick (None: the
    unscaled base)."""
    if tick is None:
        return base.price, base.volume, base.market_cap
    return (
        scale(base.price, UNIT + tick.k, UNIT),
        scale(base.volume, UNIT + tick.kv, UNIT),
        scale(base.market_cap, UNIT + tick.k_cap, UNIT),
    )


def _cp_dynamic(base: CpBase, tick: CpTick | None) -> tuple[str, ...]:
    price, volume, cap = cp_numbers(base, tick)
    move = 0 if tick is None else tick.k_move
    from_ath = None if base.ath_price is None else percent_change(price, base.ath_price, 2)
    return (
        format_coinpaprika(price),
        format_coinpaprika(volume),
        format_coinpaprika(cap),
        format_coinpaprika(_shift_cp(base.market_cap_change, move)),
        format_coinpaprika(_shift_cp(base.changes["percent_change_1h"], move)),
        format_coinpaprika(_shift_cp(base.changes["percent_change_24h"], move)),
        _fmt_cp(from_ath),
    )


def _quote0(base: CpBase) -> Record:
    """The quote's static fields in field order (the dynamic ones as in the base)."""
    if base.quote0 is None:
        dynamic = dict(zip(CP_DYNAMIC_FIELDS, _cp_dynamic(base, None), strict=True))
        quote: Record = {
            "price": dynamic["price"],
            "volume_24h": dynamic["volume_24h"],
            "volume_24h_change_24h": format_coinpaprika(base.volume_change),
            "market_cap": dynamic["market_cap"],
            "market_cap_change_24h": dynamic["market_cap_change_24h"],
        }
        for key, value in base.changes.items():
            quote[key] = dynamic.get(key) or format_coinpaprika(value)
        quote["ath_price"] = _fmt_cp(base.ath_price)
        quote["ath_date"] = base.ath_date
        quote["percent_from_price_ath"] = dynamic["percent_from_price_ath"]
        base.quote0 = quote
    return base.quote0


def cp_quote(base: CpBase, tick: CpTick) -> Record:
    """One ``quotes.<CUR>`` object at a tick."""
    quote = dict(_quote0(base))
    quote.update(zip(CP_DYNAMIC_FIELDS, _cp_dynamic(base, tick), strict=True))
    return quote


def cp_record(
    base: CpBase,
    tick: CpTick,
    offset_s: int,
    quotes: tuple[str, ...] = ("USD",),
    omit_circulating: bool = False,
) -> Record:
    """The CoinPaprika ticker at a tick (``offset_s``: how far ``last_updated`` moved), as
    fragments (for fault injection; ``cp_text`` is the fast equivalent). Every requested
    quote carries the USD numbers."""
    record = dict(base.head)
    record.update(base.supply)
    if omit_circulating:
        del record["circulating_supply"]
    record["last_updated"] = f'"{iso_seconds(base.last_updated_s + offset_s)}"'
    usd = cp_quote(base, tick)
    record["quotes"] = {currency: dict(usd) for currency in quotes}
    return record


def _cp_chunks(base: CpBase) -> tuple[str, ...]:
    """Static text between the dynamic quote fields, and the record prefixes."""
    if base.chunks is None:
        q = _quote0(base)
        supply = render_record(base.supply)[1:-1]
        without_circulating = render_record(
            {k: v for k, v in base.supply.items() if k != "circulating_supply"}
        )[1:-1]
        head = render_record(base.head)[:-1]
        base.chunks = (
            f'"volume_24h_change_24h":{q["volume_24h_change_24h"]}',
            f'"percent_change_15m":{q["percent_change_15m"]},'
            f'"percent_change_30m":{q["percent_change_30m"]}',
            f'"percent_change_6h":{q["percent_change_6h"]},'
            f'"percent_change_12h":{q["percent_change_12h"]}',
            f'"percent_change_7d":{q["percent_change_7d"]},'
            f'"percent_change_30d":{q["percent_change_30d"]},'
            f'"percent_change_1y":{q["percent_change_1y"]},'
            f'"ath_price":{q["ath_price"]},"ath_date":{q["ath_date"]}',
            f"{head},{supply}",
            f"{head},{without_circulating}",
        )
    return base.chunks


def cp_text(
    base: CpBase,
    tick: CpTick,
    offset_s: int,
    quotes: tuple[str, ...] = ("USD",),
    omit_circulating: bool = False,
) -> str:
    """``render_record(cp_record(...))``, without building the dicts."""
    c1, c2, c3, c4, with_circulating, without_circulating = _cp_chunks(base)
    p, v, mc, mcc, c1h, c24, ath = _cp_dynamic(base, tick)
    quote = (
        f'{{"price":{p},"volume_24h":{v},{c1},"market_cap":{mc},"market_cap_change_24h":{mcc},'
        f'{c2},"percent_change_1h":{c1h},{c3},"percent_change_24h":{c24},{c4},'
        f'"percent_from_price_ath":{ath}}}'
    )
    body = ",".join(f'"{currency}":{quote}' for currency in quotes)
    prefix = without_circulating if omit_circulating else with_circulating
    return (
        f'{prefix},"last_updated":"{iso_seconds(base.last_updated_s + offset_s)}",'
        f'"quotes":{{{body}}}}}'
    )
