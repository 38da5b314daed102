"""The deterministic universe: sizes, listings, and the data quirks it must contain."""

from __future__ import annotations

from collections import Counter

from kasparro.emulator import NAME_OVERRIDES, build_universe
from kasparro.emulator.universe import SHOWCASE, coinpaprika_id, slugify


def _identity(universe_size: int, seed: int) -> list[tuple[object, ...]]:
    universe = build_universe(universe_size, seed)
    return [
        (a.index, a.cg_id, a.cp_id, a.symbol, a.name, a.market_cap, a.volume, a.stale)
        for a in universe.assets
    ]


def test_same_seed_same_universe_and_a_bigger_universe_is_a_superset() -> None:
    first = _identity(2500, 7)
    build_universe.cache_clear()
    assert _identity(2500, 7) == first
    small = build_universe(400, 7)
    assert [(a.cg_id, a.cp_id, a.market_cap) for a in small.assets] == [
        (row[1], row[2], row[5]) for row in first[:400]
    ]
    assert _identity(2500, 8) != first


def test_sizes_and_listings() -> None:
    universe = build_universe(2500, 1)
    assert len(universe) == 2500
    both = universe.cross_listed()
    assert len(universe.coingecko) == len(both) + len(universe.coingecko_only())
    assert len(universe.coinpaprika) == len(both) + len(universe.coinpaprika_only())
    # Most assets are on both, a healthy share on one side only.
    assert len(both) > 1500
    assert len(universe.coingecko_only()) > 150
    assert len(universe.coinpaprika_only()) > 100
    assert len(set(universe.by_cg_id)) == len(universe.coingecko)
    assert len(set(universe.by_cp_id)) == len(universe.coinpaprika)


def test_cross_listed_coins_keep_their_ids_but_names_often_differ() -> None:
    universe = build_universe(2500, 1)
    variants: Counter[str] = Counter()
    for cg_id, cp_id in universe.cross_listed():
        asset = universe.by_cg_id[cg_id]
        assert asset.identity is not None
        assert cg_id != cp_id
        variants[asset.identity.variant] += 1
        if cg_id in NAME_OVERRIDES:
            assert (cp_id, asset.cp_name) == NAME_OVERRIDES[cg_id]
        elif asset.identity.variant == "same":
            assert asset.cp_name == asset.name
            assert asset.cp_symbol == asset.symbol.upper()
            assert cp_id.startswith(coinpaprika_id(asset.symbol, asset.name))
    both = sum(variants.values())
    # As on the real lists (emulator/identity.py: 12 % measured, plus 4 % spelling variants
    # the real lists show as case and punctuation), in every way the real APIs differ.
    assert 0.12 < 1 - variants["same"] / both < 0.22
    for kind in (
        "generic_word",
        "punctuation",
        "parenthesized",
        "symbol_as_name",
        "ticker_changed",
        "rebranded",
        "renamed",
    ):
        assert variants[kind] >= 5, kind
    assert variants["renamed_and_relisted"] >= 1  # rare, as on the real lists
    for cg_id, cp_id in universe.cross_listed():
        asset = universe.by_cg_id[cg_id]
        if asset.identity and asset.identity.variant == "rebranded":
            # CoinGecko shows the new name, both ids keep the first one.
            assert asset.name == asset.identity.cg_name
            assert cg_id == slugify(cg_id) and asset.name not in (cg_id, cp_id)
        if asset.identity and asset.identity.variant == "renamed_and_relisted":
            assert cp_id.startswith(coinpaprika_id(asset.cp_symbol, asset.cp_name))


def test_dead_duplicates_and_caps_that_disagree() -> None:
    universe = build_universe(2500, 1)
    dead = [a for a in universe.assets if a.origin == "duplicate"]
    assert 8 <= len(dead) <= 40  # about 0.8 % of CoinPaprika's coins
    for copy in dead:
        original = universe.assets[copy.lookalike_of or 0]
        assert copy.cg_id is None and copy.cp_id and copy.cp_id != original.cp_id
        assert copy.stale and copy.market_cap is None  # inactive, no market data
        assert copy.cp_symbol == original.cp_symbol
    permille = Counter(
        "zero"
        if a.identity.cp_cap_permille == 0
        else "off"
        if abs(a.identity.cp_cap_permille - 1000) > 200
        else "close"
        for a in universe.assets
        if a.identity and a.cg_id and a.cp_id
    )
    both = sum(permille.values())
    assert 0.01 < permille["zero"] / both < 0.06
    assert 0.05 < permille["off"] / both < 0.12
    assert universe.by_cp_id["usdc-usd-coin"].cp_name == "USDC"  # as CoinPaprika calls it
    bitcoin = universe.by_cg_id["bitcoin"]
    assert bitcoin.cp_id == "btc-bitcoin"
    assert universe.by_cg_id["uniswap"].cp_id == "uni-uniswap"
    assert universe.by_cg_id["binancecoin"].cp_id == "bnb-binance-coin"
    assert universe.by_cp_id["bnb-binance-coin"].cp_name == "Binance Coin"
    assert universe.by_cg_id["binancecoin"].name == "BNB"


def test_tokens_list_contracts_with_the_realistic_disagreements() -> None:
    universe = build_universe(2500, 1)
    tokens = [a for a in universe.assets if a.kind == "token" and a.cg_id and a.cp_id]
    assert len(tokens) > len(universe.cross_listed()) / 2  # tokens are the majority
    real = universe.by_cg_id["usd-coin"].identity
    assert real is not None
    assert real.cg_platforms == (("ethereum", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"),)
    none_on_paprika = sum(1 for a in tokens if a.identity and not a.identity.cp_contracts)
    mixed_case = sum(
        1
        for a in tokens
        if a.identity and any(addr != addr.lower() for _, addr, _ in a.identity.cp_contracts)
    )
    assert none_on_paprika > 50 and mixed_case > 100
    natives = [a for a in universe.assets if a.kind == "coin" and a.identity and a.cg_id]
    assert any(a.identity.cg_platforms == (("", ""),) for a in natives if a.identity)
    listed = Counter(
        (p, addr) for a in universe.coingecko if a.identity for p, addr in a.identity.cg_platforms
    )
    assert any(n > 1 for (p, addr), n in listed.items() if addr)  # an address for two coins
    lookalikes = [a for a in universe.assets if a.origin == "lookalike"]
    assert len(lookalikes) > 20
    for copy in lookalikes:
        original = universe.assets[copy.lookalike_of or 0]
        assert copy.symbol.lower().startswith(original.symbol.lower())
        assert original.name in copy.name and copy.name != original.name


def test_symbol_collisions_must_not_merge() -> None:
    universe = build_universe(2500, 1)
    collisions = universe.symbol_collisions()
    assert sorted(collisions["uni"]) == [
        "binance-peg-uniswap",
        "unicorn-token",
        "uniswap",
        "universe-token",
    ]
    paprika_uni = sorted((a.cp_id, a.cp_name) for a in universe.coinpaprika if a.cp_symbol == "UNI")
    assert paprika_uni == [
        ("uni-unicorn-token", "UNICORN Token"),
        ("uni-uniswap", "Uniswap"),
        ("uni-unity-ledger", "Unity Ledger"),
    ]
    # The real /coins/list brings many more collisions once it is mixed in.
    assert len(build_universe(8000, 1).symbol_collisions()) > 200


def test_showcase_is_always_present_and_indexed() -> None:
    universe = build_universe(len(SHOWCASE), 1)
    showcase = universe.showcase()
    assert showcase["coinpaprika_only"] == ["prk-paprika-reserve"]
    assert showcase["odd_id"] == ["bitCNY", "hive_dollar"]
    assert "0-5x-long-okb-token" in showcase["odd_symbol"]
    assert universe.by_cg_id["0-5x-long-okb-token"].symbol == "OKBHALF"
    assert universe.by_cg_id["fossil-coin"].stale


def test_ranks_and_unranked_tail() -> None:
    universe = build_universe(2500, 1)
    ranked = [a for a in universe.coingecko if a.market_cap]
    assert universe.by_cg_id["ticoex-token"].rank == 1  # the recorded junk rank 1
    generated = [a.rank for a in ranked if a.seed_row is None]
    assert min(r for r in generated if r is not None) == 251
    unranked = [a for a in universe.coingecko if not a.market_cap]
    assert unranked and all(a.rank is None for a in unranked)
    assert any(a.market_cap is None for a in unranked)
    assert any(a.market_cap == 0 for a in unranked)


def test_slugs() -> None:
    assert slugify("τBitcoin") == "bitcoin"
    assert slugify("Crypto.com Chain") == "crypto-com-chain"
    assert coinpaprika_id("$aapl", "$AAPL") == "aapl-aapl"


def test_a_100k_universe_builds() -> None:
    # How fast is a benchmark question (bench/), not a pass/fail test on a shared machine.
    universe = build_universe(100_000, 99)
    assert len(universe) == 100_000
    assert len(universe.by_cg_id) == len(universe.coingecko)
    build_universe.cache_clear()
