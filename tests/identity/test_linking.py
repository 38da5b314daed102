"""The N-source linker: real name patterns, the safety rules, decisions, review, detail."""

from __future__ import annotations

from typing import Any

from kasparro.identity import Decision, link_coins
from kasparro.identity.linking import LINK_AT
from tests.identity.coins import CG, CP, cg, coin, cp

ETH_USDC = ("ethereum", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48")


# --- real name patterns (issue 16; handled by general rules, no coin is named in the code) ---


def test_an_id_with_another_word_than_the_name() -> None:
    plan = link_coins([cg("aave", "aave", "Aave"), cp("aave-new", "AAVE", "Aave")])
    assert plan.pairs() == {("aave", "aave-new")}


def test_an_exact_pair_is_not_blocked_by_a_dead_look_alike() -> None:
    plan = link_coins(
        [
            cg("hex", "hex", "HEX"),
            cp("hex-hex", "HEX", "HEX"),
            cp("hex-hex-2", "HEX", "HEX", active=False, traded=False),
        ]
    )
    assert plan.pairs() == {("hex", "hex-hex")}
    # ... while a live look-alike with as much evidence does block it.
    plan = link_coins(
        [cg("hex", "hex", "HEX"), cp("hex-hex", "HEX", "HEX"), cp("hex-hex-2", "HEX", "HEX")]
    )
    assert plan.pairs() == set()


def test_symbols_differ_while_one_id_names_the_other() -> None:
    coins = [
        cg("the-open-network", "ton", "Toncoin", cap=7_000_000_000, rank=10),
        cg("tokamak-network", "ton", "Tokamak Network", cap=40_000_000, rank=480),
        cp("toncoin-the-open-network", "TONCOIN", "The Open Network", cap=6_900_000_000, rank=11),
        cp("ton-tokamak-network", "TON", "Tokamak Network", cap=41_000_000, rank=470),
    ]
    expected = {
        ("the-open-network", "toncoin-the-open-network"),
        ("tokamak-network", "ton-tokamak-network"),
    }
    assert link_coins(coins).pairs() == expected
    # Names alone: both ids keep "The Open Network", which is one fact against two tickers
    # and two names that differ: the pages are asked for, never the look-alike TON linked.
    bare = [coin(c.source, c.id, c.symbol, c.name) for c in coins]
    plan = link_coins(bare)
    assert plan.pairs() == {("tokamak-network", "ton-tokamak-network")}
    assert ((CG, "the-open-network"), (CP, "toncoin-the-open-network")) in plan.detail_wanted


def test_a_generic_word() -> None:
    coins = [
        cg("kucoin-shares", "kcs", "KuCoin", cap=1_400_000_000, rank=45),
        cp("kcs-kucoin-token", "KCS", "KuCoin Token", cap=1_380_000_000, rank=47),
    ]
    assert link_coins(coins).pairs() == {("kucoin-shares", "kcs-kucoin-token")}
    # A generic word is weaker than the same name ("Clover" and "Clover Finance" are two
    # coins): without market data it is not enough alone, the coins' pages are asked for.
    bare = [coin(c.source, c.id, c.symbol, c.name) for c in coins]
    plan = link_coins(bare)
    assert plan.pairs() == set()
    assert plan.detail_wanted == [((CG, "kucoin-shares"), (CP, "kcs-kucoin-token"))]


def test_renamed_coins_whose_ids_keep_the_old_name() -> None:
    plan = link_coins(
        [
            cg("terra-luna", "lunc", "Terra Luna Classic"),
            cg("terra-luna-2", "luna", "Terra"),
            cp("luna-terra", "LUNC", "Terra Classic"),
            cp("luna-terra-v2", "LUNA", "Terra"),
            cg("omisego", "omg", "OMG Network"),
            cp("omg-omisego", "OMG", "OmiseGO"),
        ]
    )
    assert plan.pairs() == {
        ("terra-luna", "luna-terra"),
        ("terra-luna-2", "luna-terra-v2"),
        ("omisego", "omg-omisego"),
    }


def test_the_ranked_listing_wins_over_a_low_ranked_namesake() -> None:
    coins = [
        cg("woo-network", "woo", "WOO Network", cap=400_000_000, rank=100),
        cp("woo-wootrade", "WOO", "Wootrade", cap=390_000_000, rank=98),
        cp("woo-woo-network", "WOO", "WOO Network", cap=20_000, rank=2500),
    ]
    assert link_coins(coins).pairs() == {("woo-network", "woo-wootrade")}
    # Without market data names decide: the namesake (what the evidence says then).
    bare = [coin(c.source, c.id, c.symbol, c.name) for c in coins]
    assert link_coins(bare).pairs() == {("woo-network", "woo-woo-network")}


def test_a_market_cap_disagreement_lowers_a_score_it_does_not_veto() -> None:
    coins = [
        cg("golem", "glm", "Golem", cap=200_000_000, rank=90),
        cp("glm-golem", "GLM", "Golem", cap=1_000_000, rank=900),  # supplies disagree 200x
        cg("maker", "mkr", "Maker", cap=500_000_000, rank=40),
        cp("mkr-maker", "MKR", "Maker", cap=0, rank=41),  # CoinPaprika shows 0: no supply
    ]
    plan = link_coins(coins)
    assert plan.pairs() == {("golem", "glm-golem"), ("maker", "mkr-maker")}
    golem = next(x for x in plan.links if x.id == "golem")
    assert golem.score is not None and golem.score >= LINK_AT
    assert [e["kind"] for e in golem.evidence["against"]] == ["market_caps_differ"]


def test_what_is_left_to_a_human_comes_with_the_evidence_either_way() -> None:
    # A new ticker (GNT -> GLM): same name and id, but the symbols differ and no market data.
    plan = link_coins([cg("golem", "glm", "Golem"), cp("gnt-golem", "GNT", "Golem")])
    assert plan.pairs() == set()
    (item,) = plan.review
    assert (item.a, item.b, item.reason) == ((CG, "golem"), (CP, "gnt-golem"), "weak_evidence")
    assert [e["kind"] for e in item.evidence_for] == ["ids_same_name", "same_name"]
    assert [e["kind"] for e in item.evidence_against] == ["symbols_differ"]
    assert item.score == sum(e["weight"] for e in (*item.evidence_for, *item.evidence_against))
    # With market data that agrees among the top coins, the pair links.
    plan = link_coins(
        [
            cg("golem", "glm", "Golem", cap=200_000_000, rank=90),
            cp("gnt-golem", "GNT", "Golem", cap=210_000_000, rank=92),
        ]
    )
    assert plan.pairs() == {("golem", "gnt-golem")}
    assert next(x for x in plan.links if x.id == "golem").method == "market"


# --- hard safety rules ------------------------------------------------------------------------


def test_a_symbol_alone_never_links() -> None:
    plan = link_coins(
        [
            cg("uniswap", "uni", "Uniswap", cap=5_000_000, rank=20),
            cp("uni-unity-ledger", "UNI", "Unity Ledger", cap=5_000_000, rank=20),
        ]
    )
    assert plan.pairs() == set()


def test_different_addresses_on_one_chain_never_link() -> None:
    plan = link_coins(
        [
            cg("artista", "arts", "ARTISTA", contracts=(("ethereum", "0x1"),)),
            cp("arts-artista", "ARTS", "ARTISTA", contracts=(("ethereum", "0x2"),)),
        ]
    )
    assert plan.pairs() == set()
    (item,) = plan.review
    assert item.reason == "same_name_but_contracts_differ"


def test_copies_never_link_to_originals() -> None:
    plan = link_coins(
        [
            cg("uniswap", "uni", "Uniswap", contracts=(("ethereum", "0x1f98"),)),
            cg("binance-peg-uniswap", "uni", "Binance-Peg Uniswap", contracts=(("bsc", "0xbf5"),)),
            cg("dai-wormhole", "dai", "DAI (Wormhole)"),
            cp(
                "uni-uniswap",
                "UNI",
                "Uniswap",
                contracts=(("ethereum", "0x1f98"), ("bsc", "0xbf5")),
            ),
            cp("dai-dai", "DAI", "Dai"),
        ]
    )
    assert plan.pairs() == {("uniswap", "uni-uniswap")}
    assert plan.review == []  # the copy's address belongs to the linked original


def test_an_address_listed_for_two_coins_proves_nothing() -> None:
    shared = ("ethereum", "0xdead")
    plan = link_coins(
        [
            cg("old-token", "old", "Old Token", contracts=(shared,)),
            cg("new-thing", "new", "New Thing", contracts=(shared,)),
            cp("xyz-something", "XYZ", "Something", contracts=(shared,)),
        ]
    )
    assert plan.pairs() == set()
    (anomaly,) = plan.anomalies
    assert anomaly.kind == "contract_listed_for_two_coins"
    assert anomaly.ids == ("new-thing", "old-token")


def test_a_shared_address_links_whatever_the_names() -> None:
    plan = link_coins(
        [
            cg("usd-coin", "usdc", "USD Coin", contracts=(ETH_USDC,)),
            cp("usdc-usd-coin", "USDC", "USDC", contracts=(ETH_USDC,)),
        ]
    )
    assert plan.pairs() == {("usd-coin", "usdc-usd-coin")}
    link = next(x for x in plan.links if x.source == CG)
    assert link.method == "contract" and link.key == "usdc:usd-coin"
    assert link.partners == ((CP, "usdc-usd-coin"),)
    assert link.evidence["for"][0]["kind"] == "same_contract"


def test_an_old_contract_marked_old_is_not_the_new_token() -> None:
    plan = link_coins(
        [
            cg("sentinel", "sent", "Sentinel [OLD]"),
            cg("sentinel-2", "dvpn", "Sentinel"),
            cp("sent-sentinel", "SENT", "Sentinel"),
        ]
    )
    assert ("sentinel", "sent-sentinel") not in plan.pairs()


def test_versions_are_other_coins() -> None:
    plan = link_coins(
        [cg("aave-mana-v1", "amana", "Aave MANA v1"), cp("amana-aave-mana", "AMANA", "Aave MANA")]
    )
    assert plan.pairs() == set()


# --- decisions, overrides, keys -----------------------------------------------------------------


def test_decisions_are_sticky_and_override_the_evidence() -> None:
    coins = [
        cg("bitcoin", "btc", "Bitcoin"),
        cp("btc-bitcoin", "BTC", "Bitcoin"),
        cp("xyz-x", "XYZ", "X"),
    ]
    rejected = Decision((CG, "bitcoin"), (CP, "btc-bitcoin"), accept=False)
    accepted = Decision((CG, "bitcoin"), (CP, "xyz-x"), accept=True, decided_at="2026-01-01")
    plan = link_coins(coins, decisions=[rejected], overrides={})
    assert plan.pairs() == set() and plan.review == []  # never proposed again
    plan = link_coins(coins, decisions=[accepted], overrides={})
    assert plan.pairs() == {("bitcoin", "xyz-x")}
    assert next(x for x in plan.links if x.id == "bitcoin").method == "manual"
    # Two accepted pairings of one coin: the earlier stands, the other is an anomaly.
    later = Decision((CG, "bitcoin"), (CP, "btc-bitcoin"), accept=True, decided_at="2026-02-01")
    plan = link_coins(coins, decisions=[later, accepted], overrides={})
    assert plan.pairs() == {("bitcoin", "xyz-x")}
    assert [a.kind for a in plan.anomalies] == ["conflicting_decision"]


def test_overrides_name_any_sources_and_give_the_key() -> None:
    overrides = {"curated:bnb": {CG: "binancecoin", CP: "bnb-binance-coin", "kraken": "BNB"}}
    coins = [
        cg("binancecoin", "bnb", "BNB"),
        cp("bnb-binance-coin", "BNB", "Binance Coin"),
        coin("kraken", "BNB", "BNB", "BNB"),
    ]
    plan = link_coins(coins, overrides=overrides)
    assert plan.grouping() == {
        frozenset({(CG, "binancecoin"), (CP, "bnb-binance-coin"), ("kraken", "BNB")})
    }
    assert {x.key for x in plan.links} == {"curated:bnb"}
    assert {x.method for x in plan.links} == {"override"}


def test_keys_are_unique_and_go_to_the_stronger_asset() -> None:
    plan = link_coins(
        [
            cg("mars", "mars", "Mars", rank=10),
            cp("mars-mars", "MARS", "Mars", rank=12),
            cg("mars-2", "mars", "Mars", rank=900),  # a namesake that is not linked
        ],
        overrides={},
    )
    keys = {x.ref: x.key for x in plan.links}
    assert len(set(keys.values())) == len({frozenset(g) for g in plan.groups()})
    assert keys[(CG, "mars-2")] == "coingecko:mars-2" or keys[(CG, "mars")] == "coingecko:mars"


# --- per-coin detail ----------------------------------------------------------------------------


def test_detail_is_asked_for_the_undecided_and_settles_them() -> None:
    coins = [cg("graft-network-token", "grft", "Graft Network"), cp("grft-graft", "GRFT", "Graft")]
    plan = link_coins(coins)
    assert plan.pairs() == set()
    assert plan.detail_wanted == [((CG, "graft-network-token"), (CP, "grft-graft"))]
    same_site = [
        cg("graft-network-token", "grft", "Graft Network", homepage="https://www.graft.network/"),
        cp("grft-graft", "GRFT", "Graft", homepage="https://graft.network"),
    ]
    plan = link_coins(same_site)
    assert plan.pairs() == {("graft-network-token", "grft-graft")}
    assert plan.detail_wanted == []
    other_sites = [
        cg("graft-network-token", "grft", "Graft Network", homepage="https://graft.network"),
        cp("grft-graft", "GRFT", "Graft", homepage="https://grafting.example"),
    ]
    plan = link_coins(other_sites)
    assert plan.pairs() == set() and plan.detail_wanted == []


def test_an_explorer_link_to_the_other_contract_settles_a_pair() -> None:
    plan = link_coins(
        [
            cg("graft-network-token", "grft", "Graft Network", contracts=(ETH_USDC,)),
            cp("grft-graft", "GRFT", "Graft", explorer=f"https://etherscan.io/token/{ETH_USDC[1]}"),
        ]
    )
    assert plan.pairs() == {("graft-network-token", "grft-graft")}


def test_a_page_does_not_decide_against_a_rival_that_could_show_the_same_site() -> None:
    """The live listing and a dead duplicate of one project (recorded on CoinPaprika) both
    show the project's site, so a shared site settles nothing between them: it may only
    settle once the rival's page is in and shows another site, and never for the inactive
    listing against the active one."""
    site = "https://stably.io"
    live = dict(cap=950_000, rank=1964)

    def plan_for(live_page: str | None, dup_page: str | None, active: bool = False) -> Any:
        dup = dict(active=active, cap=950_000, rank=6223)
        return link_coins(
            [
                cg("stableusd", "usds", "Stably USD", cap=956_000, rank=1900, homepage=site),
                cp("usds-stably-usd", "USDS", "Stably USD", homepage=live_page, **live),
                cp("usds-stablyusd", "USDS", "StablyUSD", homepage=dup_page, **dup),
            ]
        )

    # The live listing's page is not in yet: the duplicate's shared site decides nothing,
    # and the live listing's page is wanted (a rival of the best pairing).
    plan = plan_for(None, site)
    assert plan.pairs() == set()
    wanted = {ref for pair in plan.detail_wanted for ref in pair}
    assert (CP, "usds-stably-usd") in wanted
    # Its page lists no site, or an old one: still nothing for the inactive duplicate.
    assert plan_for("", site).pairs() == set()
    assert plan_for("https://stably.com", site).pairs() == set()
    # An active rival with its own, different site: the shared site does decide.
    plan = plan_for("https://stably.com", site, active=True)
    assert plan.pairs() == {("stableusd", "usds-stablyusd")}


# --- N sources ----------------------------------------------------------------------------------


def test_a_third_source_links_to_existing_assets_by_the_same_rules() -> None:
    """An aggregator with ids, symbols and names only (its ids encode nothing known)."""
    coins = [
        cg("bitcoin-cash", "bch", "Bitcoin Cash"),
        cp("bch-bitcoin-cash", "BCH", "Bitcoin Cash"),
        cg("uniswap", "uni", "Uniswap"),
        cg("unicorn-token", "uni", "UNICORN Token"),
        cp("uni-uniswap", "UNI", "Uniswap"),
        coin("messari", "a1", "BCH", "Bitcoin Cash"),
        coin("messari", "a2", "UNI", "Uniswap"),
        coin("messari", "a3", "UNI", "Universe"),  # a namesake by symbol only
    ]
    plan = link_coins(coins)
    assert {frozenset(g) for g in plan.groups() if len(g) > 1} == {
        frozenset({(CG, "bitcoin-cash"), (CP, "bch-bitcoin-cash"), ("messari", "a1")}),
        frozenset({(CG, "uniswap"), (CP, "uni-uniswap"), ("messari", "a2")}),
    }
    assert plan.pairs(CP, "messari") == {("bch-bitcoin-cash", "a1"), ("uni-uniswap", "a2")}


def test_a_source_with_only_symbols_and_caps_never_links_on_them() -> None:
    """An exchange: symbol and market cap, the name is the symbol: a symbol alone (plus a cap
    that agrees) is not an identity."""
    plan = link_coins(
        [
            cg("uniswap", "uni", "Uniswap", cap=5_000_000_000, rank=20),
            coin("kraken", "UNI", "UNI", "UNI", cap=5_000_000_000, rank=20),
        ]
    )
    assert plan.groups() == [((CG, "uniswap"),), (("kraken", "UNI"),)]


def test_never_two_coins_of_one_source_in_one_asset() -> None:
    coins = [
        cg("tether", "usdt", "Tether", contracts=(ETH_USDC,)),
        cp("usdt-tether", "USDT", "Tether", contracts=(ETH_USDC,)),
        coin("messari", "t1", "USDT", "Tether", contracts=(ETH_USDC,)),
        coin("messari", "t2", "USDT", "Tether"),
    ]
    plan = link_coins(coins)
    for group in plan.groups():
        sources = [source for source, _ in group]
        assert len(sources) == len(set(sources))
    assert frozenset({(CG, "tether"), (CP, "usdt-tether"), ("messari", "t1")}) in plan.grouping()
