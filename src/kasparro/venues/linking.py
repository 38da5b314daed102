"""A venue market's base currency -> a canonical asset, or a review item: never a guess.

The rules, in order (the first that decides wins):

1. **venue override**: a small declared table, ``(venue, base as the venue spells it) ->
   asset key`` (a CoinGecko id), for what no rule can see (Binance's 2017 ``BCC`` was
   Bitcoin Cash). The price guard still runs: a contradicting price is reported in the
   evidence, not silently accepted.
2. **contract**: the venue lists the token's contract and exactly one candidate shares it.
3. **ticker + price**: candidates are the assets whose symbol is ccxt's unified base (its
   currency aliases applied: Kraken's ``XXBT`` is ``BTC``, never the ``XBT`` token), or the
   venue's own spelling when ccxt renamed it to something no asset uses (MEXC's ``GAS`` is
   ccxt's ``GASDAO``). Then the **price-proximity guard**: the market's price, converted to
   USD with a *measured* rate (``conversion``), against each candidate's current USD price.
   A link needs exactly one candidate within the band (25 %: a venue 5-20 % off on a bad
   day still links) and every other candidate priced and far (more than 3x away).

Everything else is a review item with its evidence: no candidate, no price to compare, no
candidate within the band, several within it, or an unpriced candidate that cannot be ruled
out. Pure: the caller gathers markets, candidates and rates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

BAND: Final = Decimal("0.25")
FAR: Final = Decimal(3)

LINKED: Final = "linked"
REVIEW: Final = "review"

# (venue, base as the venue spells it) -> CoinGecko id. Each entry says why (see
# tests/fixtures/venue_links/README.md for the sources).
VENUE_OVERRIDES: Final[Mapping[tuple[str, str], str]] = {
    # Binance listed Bitcoin Cash as BCC in 2017 (BitConnect's ticker); ccxt keeps BCC as
    # BCC on Binance for backward compatibility (ccxt issue #4848).
    ("binance", "BCC"): "bitcoin-cash",
    # OKX's TON is Toncoin (The Open Network); Tokamak Network also trades as TON.
    ("okx", "TON"): "the-open-network",
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A canonical asset a base could be: its key (CoinGecko id), symbol, current USD price
    (None: not quoted now) and contracts (``chain:address``)."""

    asset_id: int
    key: str
    symbol: str
    price_usd: Decimal | None
    contracts: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class MarketBase:
    """A venue's base currency as its markets show it: ccxt's unified ``base``, the venue's
    ``base_id``, the market price converted to USD (None: no measured rate) and its listed
    contracts."""

    venue: str
    base_id: str
    base: str
    price_usd: Decimal | None
    contracts: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Decision:
    venue: str
    base_id: str
    base: str
    status: str  # linked | review
    method: str
    asset_id: int | None
    evidence: dict[str, Any] = field(default_factory=dict)


def _ratio(a: Decimal, b: Decimal) -> Decimal:
    return a / b if b else Decimal("Infinity")


def _priced(m: MarketBase, c: Candidate) -> dict[str, Any]:
    ratio = None if m.price_usd is None or c.price_usd is None else _ratio(m.price_usd, c.price_usd)
    return {
        "asset_id": c.asset_id,
        "key": c.key,
        "price_usd": None if c.price_usd is None else str(c.price_usd),
        "ratio": None if ratio is None else str(ratio.quantize(Decimal("0.0001"))),
    }


def _within(ratio: Decimal, bound: Decimal) -> bool:
    return 1 - bound <= ratio <= 1 + bound


def link_base(
    market: MarketBase,
    by_symbol: Mapping[str, list[Candidate]],
    by_key: Mapping[str, Candidate],
    overrides: Mapping[tuple[str, str], str] = VENUE_OVERRIDES,
) -> Decision:
    def decide(status: str, method: str, asset: Candidate | None, **evidence: Any) -> Decision:
        evidence["market_price_usd"] = None if market.price_usd is None else str(market.price_usd)
        return Decision(market.venue, market.base_id, market.base, status, method,
                        asset.asset_id if asset else None, evidence)  # fmt: skip

    key = overrides.get((market.venue, market.base_id))
    if key is not None:
        target = by_key.get(key)
        if target is None:
            return decide(REVIEW, "override", None, reason=f"override names {key}: no such asset")
        priced = _priced(market, target)
        agrees = priced["ratio"] is None or _within(Decimal(priced["ratio"]), BAND)
        return decide(LINKED, "override", target, candidate=priced, price_agrees=agrees)

    candidates = list(by_symbol.get(market.base.upper(), ()))
    searched = [market.base]
    if not candidates and market.base_id.upper() != market.base.upper():
        candidates = list(by_symbol.get(market.base_id.upper(), ()))
        searched.append(market.base_id)
    if not candidates:
        return decide(REVIEW, "none", None, reason=f"no asset with symbol {' or '.join(searched)}")
    evidence = [_priced(market, c) for c in candidates]

    if market.contracts:
        sharing = [c for c in candidates if c.contracts & market.contracts]
        if len(sharing) == 1:
            priced = _priced(market, sharing[0])
            if priced["ratio"] is None or _within(Decimal(priced["ratio"]), BAND):
                return decide(LINKED, "contract", sharing[0], candidates=evidence)
            return decide(REVIEW, "contract", None, reason="contract shared, price contradicts",
                          candidates=evidence)  # fmt: skip

    if market.price_usd is None:
        return decide(REVIEW, "symbol", None, reason="no USD price to check the ticker with",
                      candidates=evidence)  # fmt: skip
    near = [c for c, e in zip(candidates, evidence, strict=True)
            if e["ratio"] is not None and _within(Decimal(e["ratio"]), BAND)]  # fmt: skip
    unpriced = [c for c in candidates if c.price_usd is None]
    if len(near) == 1 and not unpriced:
        others_far = all(
            not (1 / FAR <= Decimal(e["ratio"]) <= FAR)
            for c, e in zip(candidates, evidence, strict=True)
            if c is not near[0]
        )
        if others_far:
            return decide(LINKED, "symbol+price", near[0], candidates=evidence)
        reason = "another candidate's price is within 3x"
    elif not near:
        reason = "no candidate's price within 25 %"
    elif len(near) > 1:
        reason = f"{len(near)} candidates' prices within 25 %"
    else:
        reason = "a candidate without a current price cannot be ruled out"
    return decide(REVIEW, "symbol+price", None, reason=reason, candidates=evidence)


def index(
    candidates: Iterable[Candidate],
) -> tuple[dict[str, list[Candidate]], dict[str, Candidate]]:
    """Candidates by upper-cased symbol, and by key."""
    by_symbol: dict[str, list[Candidate]] = {}
    by_key: dict[str, Candidate] = {}
    for c in candidates:
        by_symbol.setdefault(c.symbol.upper(), []).append(c)
        by_key[c.key] = c
    return by_symbol, by_key
