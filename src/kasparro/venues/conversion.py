"""Quote currencies converted to USD with *measured* rates, never assumed ones.

A ``BTC/USDT`` price is USDT per BTC. What a USDT is worth in USD is measured from the
markets themselves:

- **direct**: a market of the currency against USD (Kraken's ``USDT/USD``, ``EUR/USD``,
  Coinbase's ``USDT-USD``; ``BTC/USD`` for BTC as a quote currency);
- **cross**: on one venue, a coin quoted in both USD and the currency (``BTC/USD`` and
  ``BTC/USDT``): USD per USDT = price(BTC/USD) / price(BTC/USDT);
- **via** a currency measured already (``USDC/USDT`` on OKX times USDT's rate, or a coin
  quoted in USDC and USDT on Binance), in later passes.

Each currency's rate is the volume-weighted median of every estimate (weights: the USD
volume of the thinner market of a pair), with every estimate kept as evidence. USD is 1 by
definition; a USDT is never taken as 1. Alias markets (Coinbase's USDC books *are* its USD
books, 1:1) are left out: they restate an assumption, they do not measure anything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, Protocol

USD: Final = "USD"
DEFINITION: Final = "definition"


class QuoteLike(Protocol):
    @property
    def venue(self) -> str: ...
    @property
    def market_id(self) -> str: ...
    @property
    def base(self) -> str: ...
    @property
    def quote(self) -> str: ...
    @property
    def last(self) -> Decimal: ...
    @property
    def base_volume(self) -> Decimal | None: ...


@dataclass(frozen=True, slots=True)
class Estimate:
    """One measurement of a currency's USD value, from one or two markets of one venue."""

    venue: str
    method: str  # direct | cross | via:<currency>
    markets: tuple[str, ...]
    usd: Decimal
    weight: Decimal  # USD volume of the thinner market


@dataclass(frozen=True, slots=True)
class Rate:
    """A currency's measured USD value and how it was derived."""

    currency: str
    usd: Decimal
    method: str  # definition | measured
    estimates: tuple[Estimate, ...] = field(default=())

    @property
    def spread(self) -> Decimal:
        """Max minus min of the estimates, relative to the rate (0 for one estimate)."""
        if not self.estimates or not self.usd:
            return Decimal(0)
        values = [e.usd for e in self.estimates]
        return (max(values) - min(values)) / self.usd


@dataclass(frozen=True, slots=True)
class Converted:
    """A price in USD and the rate it was converted with (``None``: no measured rate)."""

    price_usd: Decimal | None
    rate: Rate | None


def weighted_median(values: Iterable[tuple[Decimal, Decimal]]) -> Decimal:
    """The value at half the total weight (the lower one on an exact tie); equal weights
    when every weight is 0."""
    pairs = sorted(values)
    if not pairs:
        raise ValueError("no values")
    total = sum((w for _, w in pairs), Decimal(0))
    if total <= 0:
        pairs = [(v, Decimal(1)) for v, _ in pairs]
        total = Decimal(len(pairs))
    running = Decimal(0)
    for value, weight in pairs:
        running += weight
        if running * 2 >= total:
            return value
    return pairs[-1][0]


def _usd_volume(q: QuoteLike, quote_usd: Decimal) -> Decimal:
    return (q.base_volume or Decimal(0)) * q.last * quote_usd


def measure_rates(
    quotes: Iterable[QuoteLike],
    *,
    excluded: frozenset[tuple[str, str]] = frozenset(),
    passes: int = 3,
) -> dict[str, Rate]:
    """Every quote currency's measured USD rate from ``quotes`` (one per market: the
    latest); ``excluded`` holds ``(venue, market_id)`` of alias markets."""
    usable = [q for q in quotes if (q.venue, q.market_id) not in excluded and q.last > 0]
    rates: dict[str, Rate] = {USD: Rate(USD, Decimal(1), DEFINITION)}
    by_venue: dict[str, dict[tuple[str, str], QuoteLike]] = defaultdict(dict)
    for q in usable:
        by_venue[q.venue][(q.base, q.quote)] = q
    wanted = {q.quote for q in usable} - {USD}
    for _ in range(passes):
        found: dict[str, list[Estimate]] = defaultdict(list)
        for currency in sorted(wanted - set(rates)):
            for venue, markets in sorted(by_venue.items()):
                found[currency] += _estimates(currency, venue, markets, rates)
        new = {
            c: Rate(c, weighted_median((e.usd, e.weight) for e in es), "measured", tuple(es))
            for c, es in found.items()
            if es
        }
        if not new:
            break
        rates.update(new)
    return rates


def _estimates(
    currency: str,
    venue: str,
    markets: Mapping[tuple[str, str], QuoteLike],
    rates: Mapping[str, Rate],
) -> list[Estimate]:
    out: list[Estimate] = []
    anchors = sorted(rates.items(), key=lambda kv: (kv[0] != USD, kv[0]))  # USD first
    for anchor, rate in anchors:
        method = "direct" if anchor == USD else f"via:{anchor}"
        direct = markets.get((currency, anchor))
        if direct is not None:
            usd = direct.last * rate.usd
            out.append(
                Estimate(venue, method, (direct.market_id,), usd, _usd_volume(direct, rate.usd))
            )
        inverse = markets.get((anchor, currency))
        if inverse is not None:
            usd = rate.usd / inverse.last
            out.append(
                Estimate(venue, method, (inverse.market_id,), usd, _usd_volume(inverse, rate.usd))
            )
        for (base, quote), in_currency in markets.items():
            if quote != currency or base in (anchor, currency):
                continue
            in_anchor = markets.get((base, anchor))
            if in_anchor is None:
                continue
            usd = in_anchor.last * rate.usd / in_currency.last
            weight = min(_usd_volume(in_anchor, rate.usd), _usd_volume(in_currency, usd))
            kind = "cross" if anchor == USD else f"cross-via:{anchor}"
            out.append(
                Estimate(venue, kind, (in_anchor.market_id, in_currency.market_id), usd, weight)
            )
        if out:  # the best anchor measured already: USD first, then the others in order
            break
    return out


def to_usd(price: Decimal, quote: str, rates: Mapping[str, Rate]) -> Converted:
    """``price`` (in ``quote``) in USD with the measured rate; no rate, no conversion."""
    rate = rates.get(quote)
    if rate is None:
        return Converted(None, None)
    return Converted(price * rate.usd, rate)
