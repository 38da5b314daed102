"""The linker on REAL coin lists, against the hand-curated crosswalk, and on the emulator.

CoinGecko's 2022 ``/coins/list`` and CoinPaprika's 2020 ``/v1/coins`` with its 2019 tickers
(``tests/fixtures/upstream/real-lists/``), 472 same-coin pairs and 173 look-alikes
(``tests/fixtures/identity/crosswalk.csv``). ``scripts/identity_real_lists.py`` prints the
full tables (seeds, arrival orders, the old linker beside the new one) for DATA_QUALITY.md.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from scripts.identity_real_lists import (
    emulator_candidates,
    load_crosswalk,
    load_real_lists,
    real_candidates,
    score,
)

from kasparro.identity import link_coins

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real() -> Any:
    return load_real_lists(), load_crosswalk()


def _run(real: Any, caps: str, seed: int = 1) -> tuple[dict[str, Any], int, int]:
    lists, walk = real
    coins = real_candidates(lists, walk, caps, seed)
    random.Random(seed).shuffle(coins)
    plan = link_coins(coins)
    traded = sum(c.has_market_data for c in coins)
    return score(plan.pairs(), walk), len(plan.review), traded


def test_the_crosswalk_is_what_the_lists_hold(real: Any) -> None:
    lists, walk = real
    cg = {c["id"] for c in lists.coingecko}
    cp = {c["id"] for c in lists.coinpaprika}
    assert len(walk.same) == 472 and len(walk.different) == 173
    for a, b in walk.same | walk.different:
        assert a in cg and b in cp
    assert len({a for a, _ in walk.same}) == len(walk.same)  # one partner each way
    assert len({b for _, b in walk.same}) == len(walk.same)


def test_caps_as_real_aggregators_show_them(real: Any) -> None:
    figures, review, traded = _run(real, "agree")
    assert figures["wrong"] == []
    assert figures["precision"] >= 0.995
    assert figures["recall"] >= 0.98, figures["missed"]
    assert review < 0.01 * traded


@pytest.mark.parametrize("caps", ["none", "disagree"])
def test_no_wrong_merge_without_market_data_or_against_it(real: Any, caps: str) -> None:
    """Without caps (a fresh install) or with caps 10^-3..10^3 apart at random (an extreme,
    legal input): fewer links, never a wrong one, and a queue a human can work through."""
    figures, review, traded = _run(real, caps)
    assert figures["wrong"] == []
    assert figures["recall"] > 0.8
    assert review < 0.01 * traded


@pytest.mark.parametrize("seed", [1, 2])
def test_the_emulator_universes_carry_real_disagreements_and_still_link(seed: int) -> None:
    full, _, truth = emulator_candidates(2500, seed)
    plan = link_coins(full)
    pairs = plan.pairs()
    assert pairs - truth == set()
    assert len(pairs & truth) / len(truth) >= 0.98
    assert len(plan.review) < 0.01 * sum(c.has_market_data for c in full)
