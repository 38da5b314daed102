"""Venue markets -> canonical assets: the golden set of real collisions (0 wrong links,
every case as expected), each rule, and precision on emulator universes (truth known)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from kasparro.emulator import EmulatorConfig
from kasparro.emulator.market import cg_base
from kasparro.emulator.numbers import to_decimal
from kasparro.emulator.state import Emulator
from kasparro.emulator.venues import VENUES
from kasparro.venues.conversion import measure_rates, to_usd
from kasparro.venues.linking import (
    LINKED,
    REVIEW,
    Candidate,
    MarketBase,
    index,
    link_base,
)

GOLDEN = json.loads((Path(__file__).parents[1] / "fixtures/venue_links/golden.json").read_text())


def _golden_candidates(case: dict) -> list[Candidate]:
    return [
        Candidate(
            i, c["key"], c["symbol"], None if c["price_usd"] is None else Decimal(c["price_usd"])
        )
        for i, c in enumerate(case["candidates"], start=1)
    ]


@pytest.mark.parametrize("case", GOLDEN, ids=[c["id"] for c in GOLDEN])
def test_golden_collisions_link_as_expected(case: dict) -> None:
    by_symbol, by_key = index(_golden_candidates(case))
    market = MarketBase(
        case["venue"], case["base_id"], case["base"], Decimal(case["market_price_usd"])
    )
    decision = link_base(market, by_symbol, by_key)
    keys = {c.asset_id: c.key for c in by_key.values()}
    if case["expected"] == "review":
        assert decision.status == REVIEW, decision
        assert decision.asset_id is None and decision.evidence.get("reason")
    else:
        assert decision.status == LINKED, decision
        assert keys[decision.asset_id] == case["expected"]
        assert decision.method == case["method"]


def test_golden_set_has_no_wrong_link_and_covers_the_named_collisions() -> None:
    wrong = 0
    for case in GOLDEN:
        by_symbol, by_key = index(_golden_candidates(case))
        market = MarketBase(
            case["venue"], case["base_id"], case["base"], Decimal(case["market_price_usd"])
        )
        d = link_base(market, by_symbol, by_key)
        keys = {c.asset_id: c.key for c in by_key.values()}
        if d.status == LINKED and keys[d.asset_id] != case["expected"]:
            wrong += 1
    assert wrong == 0
    named = {"BCC", "GAS", "GASNEO", "TON", "TONCOIN", "BTG", "LEO", "ATOM", "TIME", "BOND"}
    assert named <= {c["base_id"] for c in GOLDEN}
    # Two different coins under one ticker on two venues.
    ton = {c["venue"]: c["expected"] for c in GOLDEN if c["base_id"] == "TON"}
    assert ton["okx"] == "the-open-network" and ton["upbit"] == "review"


def _c(asset_id: int, key: str, symbol: str, price: str | None, *contracts: str) -> Candidate:
    return Candidate(
        asset_id, key, symbol, None if price is None else Decimal(price), frozenset(contracts)
    )


def test_a_contract_decides_between_same_ticker_coins() -> None:
    by_symbol, by_key = index(
        [_c(1, "a", "X", "1.0", "eth:0xaa"), _c(2, "b", "X", "1.1", "eth:0xbb")]
    )
    m = MarketBase("v", "X", "X", Decimal("1.05"), frozenset({"eth:0xbb"}))
    d = link_base(m, by_symbol, by_key, overrides={})
    assert (d.status, d.method, d.asset_id) == (LINKED, "contract", 2)
    far = MarketBase("v", "X", "X", Decimal("50"), frozenset({"eth:0xbb"}))
    assert link_base(far, by_symbol, by_key, overrides={}).status == REVIEW


def test_no_price_no_link_and_an_outlier_venue_still_links() -> None:
    by_symbol, by_key = index([_c(1, "a", "X", "2.00")])
    unpriced = link_base(MarketBase("v", "X", "X", None), by_symbol, by_key, overrides={})
    assert unpriced.status == REVIEW and "no USD price" in unpriced.evidence["reason"]
    outlier = link_base(MarketBase("v", "X", "X", Decimal("2.40")), by_symbol, by_key, overrides={})
    assert outlier.status == LINKED  # 20 % off: a bad venue day, not another coin
    other = link_base(MarketBase("v", "X", "X", Decimal("2.60")), by_symbol, by_key, overrides={})
    assert other.status == REVIEW


def test_an_override_that_the_price_contradicts_says_so() -> None:
    by_symbol, by_key = index([_c(1, "bitcoin-cash", "BCH", "300")])
    d = link_base(MarketBase("binance", "BCC", "BCC", Decimal("1200")), by_symbol, by_key)
    assert d.status == LINKED and d.evidence["price_agrees"] is False


@dataclass(frozen=True)
class _Q:
    venue: str
    market_id: str
    base: str
    quote: str
    last: Decimal
    base_volume: Decimal | None


def universe_links(coins: int, seed: int, tick: int = 0) -> tuple[int, int, int]:
    """(links, correct links, markets) of every emulated venue base of one universe: the
    candidates are every CoinGecko coin with CoinGecko's price, the market price the
    venue's converted with measured rates."""
    emu = Emulator(EmulatorConfig(coins=coins, seed=seed))
    model = emu.venues.model
    quotes, truth = [], {}
    for venue in VENUES:
        for m in model.listings(venue):
            q = model.quote(m, tick)
            market_id = f"{m.base}/{m.quote}"
            quotes.append(_Q(venue, market_id, m.base, m.quote, q.last, q.base_volume))
            if m.asset is not None:
                truth[(venue, m.base)] = m.asset.cg_id
    excluded = frozenset(
        (v, f"{m.base}/{m.quote}") for v in VENUES for m in model.listings(v) if m.alias_of
    )
    rates = measure_rates(quotes, excluded=excluded)
    prices: dict[tuple[str, str], Decimal] = {}
    for q in quotes:  # the base's first market with a measured quote rate
        usd = to_usd(q.last, q.quote, rates).price_usd
        if usd is not None and (q.venue, q.base) in truth:
            prices.setdefault((q.venue, q.base), usd)
    candidates = [
        Candidate(a.index, a.cg_id, a.symbol.upper(), to_decimal(cg_base(a, seed).price or (0, 0)))
        for a in emu.universe.assets
        if a.cg_id
    ]
    by_symbol, by_key = index(candidates)
    keys = {c.asset_id: c.key for c in candidates}
    links = correct = 0
    for (venue, base), key in truth.items():
        d = link_base(
            MarketBase(venue, base, base, prices.get((venue, base))),
            by_symbol,
            by_key,
            overrides={},
        )
        if d.status == LINKED:
            links += 1
            assert d.asset_id is not None
            correct += keys[d.asset_id] == key
    return links, correct, len(truth)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_precision_on_emulator_universes(seed: int) -> None:
    links, correct, markets = universe_links(2500, seed)
    assert markets > 300
    assert correct / links >= 0.995, (links, correct)
    assert links / markets > 0.8  # most bases link; the rest go to review
