"""Properties of the linker: a function of its inputs, whatever their order or arrival.

The universes are small and collide on purpose: few symbols, few names, shared addresses,
ids built the way each API builds them, market data present or not, dead listings, three
sources, human decisions.
"""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from kasparro.identity import Candidate, Decision, LinkPlan, link_coins
from kasparro.identity.names import slug

SOURCES = ("coingecko", "coinpaprika", "messari")
SYMBOLS = ("uni", "ton", "hex", "sol", "ab")
NAMES = ("Uniswap", "Uni Token", "Toncoin", "The Open Network", "HEX", "Solana", "Abc Network")
ADDRESSES = (("ethereum", "0x1"), ("ethereum", "0x2"), ("bsc", "0x1"), ("solana", "So1"))


@st.composite
def candidate(draw: st.DrawFn, source: str, n: int) -> Candidate:
    symbol = draw(st.sampled_from(SYMBOLS))
    name = draw(st.sampled_from(NAMES))
    if source == "coingecko":
        sid = slug(name) + ("" if n == 0 else f"-{n}")
    elif source == "coinpaprika":
        sid = f"{symbol}-{slug(name)}" + ("" if n == 0 else f"-{n}")
    else:
        sid = f"m{n}-{symbol}"
    cap = draw(st.one_of(st.none(), st.sampled_from((0, 10**6, 1_050_000, 10**9))))
    active = draw(st.sampled_from((True, False, None)))
    return Candidate(
        source,
        sid,
        symbol.upper() if source != "coingecko" else symbol,
        name,
        frozenset(draw(st.lists(st.sampled_from(ADDRESSES), max_size=2))),
        None if cap is None else Decimal(cap),
        draw(st.one_of(st.none(), st.integers(1, 400))),
        active,
        cap is not None,
    )


@st.composite
def universes(draw: st.DrawFn) -> tuple[list[Candidate], list[Decision]]:
    coins: dict[tuple[str, str], Candidate] = {}
    for source in SOURCES:
        for n in range(draw(st.integers(0, 6))):
            c = draw(candidate(source, n))
            coins.setdefault(c.ref, c)
    listed = sorted(coins)
    decisions = []
    if len(listed) >= 2:
        for _ in range(draw(st.integers(0, 3))):
            a, b = draw(st.sampled_from(listed)), draw(st.sampled_from(listed))
            if a[0] != b[0]:
                when = f"2026-01-{draw(st.integers(10, 28))}"
                decisions.append(Decision(a, b, draw(st.booleans()), when))
    return list(coins.values()), decisions


def _plan(coins: list[Candidate], decisions: list[Decision]) -> LinkPlan:
    return link_coins(coins, decisions=decisions, overrides={})


@settings(max_examples=150, deadline=None)
@given(universes(), st.randoms(use_true_random=False))
def test_any_permutation_gives_the_same_plan(
    universe: tuple[list[Candidate], list[Decision]], rnd: random.Random
) -> None:
    coins, decisions = universe
    first = _plan(coins, decisions)
    shuffled, reordered = list(coins), list(decisions)
    rnd.shuffle(shuffled)
    rnd.shuffle(reordered)
    again = _plan(shuffled, reordered)
    assert again.grouping() == first.grouping()
    assert again == first  # links, keys, evidence, review, anomalies, detail wanted


@settings(max_examples=150, deadline=None)
@given(universes(), st.randoms(use_true_random=False))
def test_any_split_into_arrivals_ends_in_the_same_grouping(
    universe: tuple[list[Candidate], list[Decision]], rnd: random.Random
) -> None:
    """Reference data and market data arrive in any order and any number of runs, each run
    followed by a relink; the store keeps each coin's latest data. The last relink's plan is
    the plan of the data as it ends up, whatever came before."""
    coins, decisions = universe
    reference = [replace(c, market_cap=None, rank=None, has_market_data=False) for c in coins]
    arrivals = [*((c, "reference") for c in reference), *((c, "market") for c in coins)]
    rnd.shuffle(arrivals)
    cuts = sorted(rnd.sample(range(len(arrivals) + 1), k=min(3, len(arrivals) + 1)))
    state: dict[tuple[str, str], Candidate] = {}
    plan = None
    start = 0
    for cut in [*cuts, len(arrivals)]:
        for coin, kind in arrivals[start:cut]:
            seen = state.get(coin.ref)
            if kind == "reference" and seen is not None:
                coin = replace(
                    coin,
                    market_cap=seen.market_cap,
                    rank=seen.rank,
                    has_market_data=seen.has_market_data,
                )
            elif kind == "market" and seen is None:
                pass  # market data first: the coin is known by its market record alone
            state[coin.ref] = coin
        start = cut
        plan = _plan(list(state.values()), decisions)
    final = list(state.values())
    assert plan is not None
    assert plan.grouping() == _plan(final, decisions).grouping()
    # ... and relinking it once more changes nothing: one relink is the fixpoint.
    assert _plan(final, decisions) == plan


@settings(max_examples=150, deadline=None)
@given(universes())
def test_every_plan_keeps_the_invariants(universe: tuple[list[Candidate], list[Decision]]) -> None:
    coins, decisions = universe
    plan = _plan(coins, decisions)
    assert sorted(x.ref for x in plan.links) == sorted(c.ref for c in coins)
    by_key: dict[str, list[tuple[str, str]]] = {}
    for link in plan.links:
        by_key.setdefault(link.key, []).append(link.ref)
    for members in by_key.values():
        sources = [s for s, _ in members]
        assert len(sources) == len(set(sources))  # at most one coin per source
    grouped = {ref: frozenset(g) for g in plan.groups() for ref in g}
    conflicting = {ids for a in plan.anomalies if a.kind == "conflicting_decision" for ids in a.ids}
    for d in decisions:
        if not d.accept:
            assert d.b not in grouped.get(d.a, frozenset())  # a rejection is final
        elif d.b not in grouped.get(d.a, frozenset()):
            # An accepted pairing holds unless it conflicts with an earlier one (reported).
            assert f"{d.a[0]}:{d.a[1]}" in conflicting or d.a not in grouped or d.b not in grouped
    for item in plan.review:
        assert item.a < item.b and item.a[0] != item.b[0]
        assert item.b not in grouped[item.a]
