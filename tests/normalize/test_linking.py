"""The pure cross-source linker: which CoinGecko coin is which CoinPaprika coin."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from kasparro.normalize.linking import (
    CG,
    CP,
    Candidate,
    Decision,
    PriorLink,
    link_coins,
    name_core,
)

ETH_USDC = ("ethereum", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48")


def cg(
    id: str,
    symbol: str,
    name: str,
    contracts: tuple[tuple[str, str], ...] = (),
    cap: int | None = 1_000_000,
    rank: int | None = None,
) -> Candidate:
    return Candidate(CG, id, symbol, name, frozenset(contracts), _cap(cap), rank)


def cp(
    id: str,
    symbol: str,
    name: str,
    contracts: tuple[tuple[str, str], ...] = (),
    cap: int | None = 1_000_000,
    rank: int | None = None,
) -> Candidate:
    return Candidate(CP, id, symbol.upper(), name, frozenset(contracts), _cap(cap), rank)


def _cap(cap: int | None) -> Decimal | None:
    return None if cap is None else Decimal(cap)


def pairs(*args: object, **kw: object) -> set[tuple[str, str]]:
    return link_coins(*args, **kw).pairs()  # type: ignore[arg-type]


def test_tokens_join_on_an_address_whatever_their_names() -> None:
    plan = link_coins(
        [cg("usd-coin", "usdc", "USD Coin", (ETH_USDC,))],
        [cp("usdc-usd-coin", "usdc", "USDC", (ETH_USDC,))],
    )
    assert plan.pairs() == {("usd-coin", "usdc-usd-coin")}
    (gecko,) = [x for x in plan.links if x.source == CG]
    assert gecko.method == "contract" and gecko.counterpart == "usdc-usd-coin"
    assert gecko.evidence["shared"][0]["chain"] == "ethereum"
    assert gecko.key == "usdc:usd-coin"  # CoinGecko's symbol:name key, as loading it gave
    assert {x.key for x in plan.links} == {"usdc:usd-coin"}


def test_a_symbol_alone_never_merges_the_four_uni_coins() -> None:
    plan = link_coins(
        [
            cg("uniswap", "uni", "Uniswap", (("ethereum", "0x1f98"),)),
            cg("binance-peg-uniswap", "uni", "Binance-Peg Uniswap", (("bsc", "0xbf5"),)),
            cg("unicorn-token", "uni", "UNICORN Token"),
            cg("universe-token", "uni", "UNIVERSE Token"),
        ],
        [
            cp("uni-uniswap", "uni", "Uniswap", (("ethereum", "0x1f98"), ("bsc", "0xbf5"))),
            cp("uni-unicorn-token", "uni", "UNICORN Token"),
            cp("uni-unity-ledger", "uni", "Unity Ledger"),
        ],
    )
    assert plan.pairs() == {
        ("uniswap", "uni-uniswap"),
        ("unicorn-token", "uni-unicorn-token"),
    }
    # CoinPaprika lists the BSC peg's address under Uniswap: the peg is not its twin.
    assert not any(r.coingecko_id == "binance-peg-uniswap" for r in plan.review) or all(
        r.reason == "contract_shared_with_a_copy" for r in plan.review
    )
    keys = [x.key for x in plan.links]
    assert len(set(keys)) == 5  # 2 pairs + 3 lone coins, each its own asset


def test_an_address_listed_for_two_coins_proves_nothing() -> None:
    shared = ("ethereum", "0xdead")
    plan = link_coins(
        [cg("old-token", "old", "Old Token", (shared,)), cg("new-token", "new", "New", (shared,))],
        [cp("old-old-token", "old", "Old Token", (shared,))],
    )
    (anomaly,) = plan.anomalies
    assert anomaly.kind == "contract_listed_for_two_coins"
    assert anomaly.ids == ("new-token", "old-token")
    # Linked by name, and never both CoinGecko coins onto the one CoinPaprika coin.
    assert plan.pairs() == {("old-token", "old-old-token")}
    assert plan.links[0].method != "contract"


def test_different_addresses_on_one_chain_go_to_review_not_to_a_merge() -> None:
    plan = link_coins(
        [cg("artista", "arts", "ARTISTA", (("ethereum", "0x1"),))],
        [cp("arts-artista", "arts", "ARTISTA", (("ethereum", "0x2"),))],
    )
    assert plan.pairs() == set()
    (item,) = plan.review
    assert (item.coingecko_id, item.coinpaprika_id) == ("artista", "arts-artista")
    assert item.reason == "same_name_but_contracts_differ"
    assert item.evidence["conflicting_chains"] == ["ethereum"]


def test_names_are_compared_without_noise() -> None:
    assert name_core("Theta Token") == name_core("Theta Network") == "theta"
    assert name_core("Bob's Repair") == name_core("Bobs Repair")
    assert name_core("PancakeSwap") == name_core("Pancake Swap")
    assert name_core("Ethereum Name Service (ENS)") == name_core("Ethereum Name Service")
    assert name_core("Bitcoin Cash") != name_core("Bitcoin")
    assert name_core("Token") == "token"
    got = pairs(
        [cg("theta-token", "theta", "Theta Network"), cg("bob", "bob", "Bob's Repair")],
        [cp("theta-theta-token", "theta", "Theta Token"), cp("bob-bobs", "bob", "Bobs Repair")],
    )
    assert got == {("theta-token", "theta-theta-token"), ("bob", "bob-bobs")}


def test_a_name_core_shared_by_two_coins_is_decided_by_the_exact_name() -> None:
    coins = [cg("rise", "rise", "Rise", cap=0), cg("rise-protocol", "rise", "Rise Protocol")]
    assert pairs(coins, [cp("rise-rise-protocol", "rise", "Rise Protocol")]) == {
        ("rise-protocol", "rise-rise-protocol")
    }
    # ... unless the market caps say the exact name is the wrong one ("Mars Network" is
    # "Mars" on CoinPaprika, where CoinGecko also lists a "Mars").
    plan = link_coins(
        [
            cg("mars", "mars", "Mars", cap=6_800_000),
            cg("mars-network", "mars", "Mars Network", cap=2_843_000),
        ],
        [cp("mars-mars-network", "mars", "Mars", cap=2_846_000)],
    )
    assert ("mars", "mars-mars-network") not in plan.pairs()


def test_a_name_that_is_just_the_symbol_never_decides_a_tiebreak() -> None:
    # "BiFi" is its symbol; "Bitcoin File" shares only the symbol with it.
    assert (
        pairs(
            [cg("bifi", "bifi", "BiFi", cap=186_821, rank=6129)],
            [cp("bifi-bitcoin-file", "bifi", "Bitcoin File", cap=179_084, rank=5707)],
        )
        == set()
    )
    # Nor does a generic word: "Fire Protocol" is not "Fire Token" on market caps alone.
    plan = link_coins(
        [cg("fire-protocol", "fire", "Fire Protocol", cap=236_519)],
        [cp("fire-fire-token", "fire", "Fire Token", cap=174_577)],
    )
    assert plan.pairs() == set()
    assert [r.reason for r in plan.review] == ["names_differ_in_a_generic_word"]
    # Versions and migrations are other coins.
    assert (
        pairs(
            [cg("aave-mana-v1", "amana", "Aave MANA v1"), cg("sentinel", "dvpn", "Sentinel")],
            [
                cp("amana-aave-mana", "amana", "Aave MANA"),
                cp("dvpn-sentinel-old", "dvpn", "Sentinel [OLD]"),
            ],
        )
        == set()
    )


def test_market_cap_tiebreak_needs_one_plausible_candidate() -> None:
    gecko = [cg("gold-a", "gold", "Gold Token", cap=5_000_000, rank=700)]
    one = [cp("gold-gold", "gold", "Gold", cap=5_100_000, rank=690)]
    plan = link_coins(gecko, one)
    assert plan.pairs() == {("gold-a", "gold-gold")}
    assert plan.links[0].method in ("symbol_name", "market_cap_tiebreak")
    # Names that share no word: a symbol and a market cap are not enough.
    assert pairs(gecko, [cp("gold-x", "gold", "Xeno Labs", cap=5_000_000, rank=700)]) == set()
    # Another order of magnitude: a namesake, for a human to judge.
    plan = link_coins(gecko, [cp("gold-gold", "gold", "Gold", cap=90_000_000, rank=690)])
    assert plan.pairs() == set()
    assert [r.reason for r in plan.review] == ["same_name_but_market_caps_differ"]


def test_two_plausible_candidates_are_left_to_a_human() -> None:
    plan = link_coins(
        [cg("sun-swap", "sun", "Sun Swap", cap=1_000_000, rank=900)],
        [
            cp("sun-sun", "sun", "Sun", cap=1_050_000, rank=905),
            cp("sun-sun-2", "sun", "Sun", cap=980_000, rank=899),
        ],
    )
    assert plan.pairs() == set()
    assert {r.coinpaprika_id for r in plan.review} == {"sun-sun", "sun-sun-2"}
    assert {r.reason for r in plan.review} == {"several_coins_share_the_symbol"}


def test_missing_market_data_defers_a_tiebreak_instead_of_guessing() -> None:
    plan = link_coins(
        [
            cg("bsc-farm", "bsc", "BSC Farm", cap=1_413_702, rank=1573),
            cg("bitsonic-token", "bsc", "Bitsonic Token", cap=None),
        ],
        [cp("bsc-coin-7", "bsc", "BSC", cap=972_158, rank=1856)],
    )
    assert plan.pairs() == set()
    assert plan.deferred >= 1


def test_a_coinpaprika_id_keeps_the_name_a_renamed_coin_was_listed_under() -> None:
    assert pairs(
        [cg("belifex", "befx", "Belifex", cap=None)],
        [cp("befx-belifex", "befx", "Krearroth Coin", cap=None)],
    ) == {("belifex", "befx-belifex")}


def test_bridged_and_wrapped_copies_never_match_their_original() -> None:
    got = pairs(
        [
            cg("chi-gastoken-bsc", "chi", "Chi Gastoken (BSC)", (("bsc", "0xc"),)),
            cg("wormhole-x", "atm", "Wrapped Atletico (Wormhole)", (("base", "0x6"),)),
        ],
        [
            cp("chi-chi-gastoken", "chi", "Chi Gastoken", (("ethereum", "0xe"),)),
            cp("atm-atletico", "atm", "Atletico", (("base", "0x6"),)),
        ],
    )
    assert got == set()


def test_manual_decisions_override_and_stick() -> None:
    gecko = [cg("a", "aaa", "Alpha")]
    paprika = [cp("aaa-alpha", "aaa", "Alpha"), cp("aaa-other", "aaa", "Totally Else")]
    assert pairs(gecko, paprika) == {("a", "aaa-alpha")}
    rejected = [Decision("a", "aaa-alpha", accept=False)]
    assert pairs(gecko, paprika, decisions=rejected) == set()
    accepted = [*rejected, Decision("a", "aaa-other", accept=True)]
    plan = link_coins(gecko, paprika, decisions=accepted)
    assert plan.pairs() == {("a", "aaa-other")}
    assert {x.method for x in plan.links if x.counterpart} == {"manual"}


def test_overrides_link_natives_whose_names_differ() -> None:
    plan = link_coins(
        [cg("binancecoin", "bnb", "BNB"), cg("crypto-com-chain", "cro", "Cronos")],
        [
            cp("bnb-binance-coin", "bnb", "Binance Coin"),
            cp("cro-cryptocom-chain", "cro", "Crypto.com Chain"),
        ],
    )
    assert plan.pairs() == {
        ("binancecoin", "bnb-binance-coin"),
        ("crypto-com-chain", "cro-cryptocom-chain"),
    }
    assert {x.key for x in plan.links} == {"curated:binance-coin", "curated:cronos"}


def test_earlier_automatic_links_stick_while_market_caps_move() -> None:
    gecko = [cg("sun-a", "sun", "Sun", cap=1_000_000, rank=900)]
    paprika = [
        cp("sun-sun", "sun", "SUN", cap=1_050_000, rank=905),
        cp("sun-sun-2", "sun", "SUN", cap=980_000, rank=899),
    ]
    prior = [PriorLink("sun-a", "sun-sun", "market_cap_tiebreak", {"cap_ratio": 1.05})]
    plan = link_coins(gecko, paprika, prior=prior)
    assert plan.pairs() == {("sun-a", "sun-sun")}
    assert plan.links[0].evidence == {"cap_ratio": 1.05}  # as decided then
    # A contract found later beats the sticky link.
    gecko = [cg("sun-a", "sun", "Sun", (("ethereum", "0x5"),))]
    paprika[1] = cp("sun-sun-2", "sun", "SUN", (("ethereum", "0x5"),))
    assert pairs(gecko, paprika, prior=prior) == {("sun-a", "sun-sun-2")}


def test_keys_are_unique_per_asset_and_stable() -> None:
    gecko = [cg("gold-1", "gold", "Gold"), cg("gold-2", "gold", "Gold", cap=3)]
    paprika = [cp("gold-gold", "gold", "Gold")]
    plan = link_coins(gecko, paprika)
    by_key = Counter(x.key for x in plan.links)
    groups = Counter(
        frozenset({x.id, x.counterpart} - {None}) for x in plan.links if x.source == CG
    )
    assert len(by_key) == len(plan.links) - sum(
        1 for x in plan.links if x.source == CP and x.counterpart
    )
    assert sum(groups.values()) == 2
    shuffled = link_coins(list(reversed(gecko)), paprika)
    assert sorted(shuffled.links, key=lambda x: (x.source, x.id)) == sorted(
        plan.links, key=lambda x: (x.source, x.id)
    )


_symbols = st.sampled_from(["aaa", "bbb", "uni", "gold", "x"])
_names = st.sampled_from(["Alpha", "Alpha Token", "Beta", "Gold", "Uniswap", "Wrapped Alpha"])
_contracts = st.frozensets(
    st.tuples(st.sampled_from(["ethereum", "bsc"]), st.sampled_from(["0x1", "0x2", "0x3"])),
    max_size=2,
)
_caps = st.none() | st.integers(min_value=0, max_value=10**9)


@st.composite
def _coins(draw: st.DrawFn, source: str) -> list[Candidate]:
    n = draw(st.integers(min_value=0, max_value=8))
    out = []
    for i in range(n):
        cap = draw(_caps)
        out.append(
            Candidate(
                source,
                f"{source[:2]}-{i}",
                draw(_symbols),
                draw(_names),
                draw(_contracts),
                None if cap is None else Decimal(cap),
                draw(st.none() | st.integers(min_value=1, max_value=5000)),
            )
        )
    return out


@settings(max_examples=300, deadline=None)
@given(gecko=_coins(CG), paprika=_coins(CP), seed=st.integers(0, 1000))
def test_every_plan_is_a_consistent_one_to_one_partition(
    gecko: list[Candidate], paprika: list[Candidate], seed: int
) -> None:
    plan = link_coins(gecko, paprika)
    # Every listed coin exactly once.
    assert sorted((x.source, x.id) for x in plan.links) == sorted(
        (c.source, c.id) for c in [*gecko, *paprika]
    )
    by_id = {(x.source, x.id): x for x in plan.links}
    for x in plan.links:
        if x.counterpart is not None:
            other = by_id[(CP if x.source == CG else CG, x.counterpart)]
            assert other.counterpart == x.id and other.key == x.key and other.method == x.method
    # One key per group: lone coins and pairs never share a key.
    groups: dict[str, set[tuple[str, str]]] = {}
    for x in plan.links:
        groups.setdefault(x.key, set()).add((x.source, x.id))
    assert all(len(g) <= 2 and len({s for s, _ in g}) == len(g) for g in groups.values())
    # Never two coins whose contracts disagree on a chain without sharing an address.
    coins = {(c.source, c.id): c for c in [*gecko, *paprika]}
    for a_id, b_id in plan.pairs():
        a, b = coins[(CG, a_id)], coins[(CP, b_id)]
        if not a.contracts & b.contracts:
            chains_a = {ch for ch, _ in a.contracts}
            chains_b = {ch for ch, _ in b.contracts}
            for chain in chains_a & chains_b:
                assert {ad for ch, ad in a.contracts if ch == chain} & {
                    ad for ch, ad in b.contracts if ch == chain
                }
    # Deterministic whatever the input order.
    rng = random.Random(seed)
    again = link_coins(rng.sample(gecko, len(gecko)), rng.sample(paprika, len(paprika)))
    assert sorted(again.links, key=lambda x: (x.source, x.id)) == sorted(
        plan.links, key=lambda x: (x.source, x.id)
    )
