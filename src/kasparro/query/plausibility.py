"""Is a reported market cap believable? A pure rule, applied before anything is ranked by it.

Upstreams publish junk: the recorded CoinGecko page of 2022-02-23 ranks "TICOEX Token" #1
with a $3.3 T market cap (65 % of everything on the page) from a $0.0013 price, 2.4
quadrillion coins and $5.40 of volume in 24 hours. Its cap agrees with price x supply, so
only a comparison with the rest of the market exposes it. Two checks, in exact decimals:

``supply``
    The cap must be price x circulating supply within a factor of 2 (when all three are
    known). Aggregators compute one from the others; a factor of 2 is not rounding or a
    quote a few minutes older than the supply figure, it is a broken field.
``turnover``
    A coin holding at least 0.1 % of the whole market's capitalisation must trade at least
    1/10,000 of the rest of the market's turnover (24 h volume / market cap, summed over
    every other current quote of the source). A cap that large that nobody trades is not a
    price any market set. On the recorded page the rest of the market turns over 6.5 % a
    day, the least traded coin above the 0.1 % floor (LEO) 0.023 %, 35x above the limit;
    TICOEX 0.00000000016 %. Unknown volume is not judged (absence of evidence).

The ceiling "cap <= price x max supply" is deliberately not a check: real listings carry
wrong total/max supplies (theta-fuel's cap is 2x its "fully diluted" value on that page).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

SUPPLY_FACTOR: Final = Decimal(2)
MIN_MARKET_SHARE: Final = Decimal("0.001")
MIN_RELATIVE_TURNOVER: Final = Decimal("0.0001")

METHOD: Final = (
    "A market cap is implausible, and the asset is listed as an anomaly instead of ranked, "
    f"when it differs from price x circulating supply by more than a factor of "
    f"{SUPPLY_FACTOR}, or when the coin holds at least {MIN_MARKET_SHARE:%} of the whole "
    f"market's capitalisation but its turnover (24 h volume / market cap) is below "
    f"{MIN_RELATIVE_TURNOVER} of the rest of the market's."
)


@dataclass(frozen=True, slots=True)
class CapQuote:
    """The figures of one quote the rule looks at (``None``: not reported)."""

    price_usd: Decimal | None
    market_cap_usd: Decimal | None
    volume_24h_usd: Decimal | None
    circulating_supply: Decimal | None


@dataclass(frozen=True, slots=True)
class MarketTotals:
    """Sums over every current quote of one source that reports both cap and volume."""

    market_cap_usd: Decimal
    volume_24h_usd: Decimal

    @classmethod
    def of(cls, quotes: Iterable[CapQuote]) -> MarketTotals:
        cap = volume = Decimal(0)
        for q in quotes:
            if q.market_cap_usd is not None and q.volume_24h_usd is not None:
                cap += q.market_cap_usd
                volume += q.volume_24h_usd
        return cls(cap, volume)


@dataclass(frozen=True, slots=True)
class Flag:
    code: str  # "supply" | "turnover"
    message: str


def _usd(value: Decimal) -> str:
    for scale, suffix in ((Decimal(10) ** 12, " T"), (Decimal(10) ** 9, " B")):
        if abs(value) >= scale:
            return f"${value / scale:,.2f}{suffix}"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.4g}"


def _pct(fraction: Decimal) -> str:
    return f"{fraction * 100:.2g} %"


def implausible_cap(quote: CapQuote, market: MarketTotals) -> list[Flag]:
    """Why ``quote``'s market cap is not believable (empty: plausible). ``market``: totals
    over the source's current quotes, this one included (its share is taken out here)."""
    cap = quote.market_cap_usd
    if cap is None or cap <= 0:
        return []
    flags: list[Flag] = []
    price, supply = quote.price_usd, quote.circulating_supply
    if price is not None and supply is not None and price > 0 and supply > 0:
        implied = price * supply
        if cap > implied * SUPPLY_FACTOR or cap * SUPPLY_FACTOR < implied:
            flags.append(
                Flag(
                    "supply",
                    f"market cap {_usd(cap)} is {cap / implied:.3g}x price x circulating "
                    f"supply ({_usd(implied)})",
                )
            )
    volume = quote.volume_24h_usd
    if volume is not None and market.market_cap_usd > 0:
        share = cap / market.market_cap_usd
        rest_cap = market.market_cap_usd - cap
        rest_volume = market.volume_24h_usd - volume
        if share >= MIN_MARKET_SHARE and rest_cap > 0 and rest_volume > 0:
            turnover = volume / cap
            rest_turnover = rest_volume / rest_cap
            if turnover < rest_turnover * MIN_RELATIVE_TURNOVER:
                flags.append(
                    Flag(
                        "turnover",
                        f"market cap {_usd(cap)} is {share:.1%} of the whole market's, yet "
                        f"only {_usd(volume)} traded in 24 h: turnover {_pct(turnover)} a day "
                        f"against {_pct(rest_turnover)} for the rest of the market",
                    )
                )
    return flags


__all__ = ["METHOD", "CapQuote", "Flag", "MarketTotals", "implausible_cap"]
