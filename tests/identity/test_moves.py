"""plan_relink: the pure decision of which mappings move where (no database)."""

from __future__ import annotations

from kasparro.identity.moves import Mapped, Wanted, plan_relink

CG, CP, CSV = "coingecko", "coinpaprika", "csv"


def m(asset: int, method: str = "new") -> Mapped:
    return Mapped(asset, method, None, None)


def w(key: str, method: str = "contract") -> Wanted:
    return Wanted(key, method, None, '{"shared":[]}' if method == "contract" else None)


def test_two_assets_of_one_coin_merge_into_the_one_holding_the_key() -> None:
    mapped = {(CG, "usd-coin"): m(1), (CP, "usdc-usd-coin"): m(2)}
    wanted = {(CG, "usd-coin"): w("usdc:usd-coin"), (CP, "usdc-usd-coin"): w("usdc:usd-coin")}
    plan = plan_relink(
        mapped, wanted, {"usdc:usd-coin": 1, "usdc:usdc": 2}, {1: "usdc:usd-coin", 2: "usdc:usdc"}
    )
    assert plan.moves == [((CP, "usdc-usd-coin"), 2, "usdc:usd-coin")]
    assert plan.merges == {2: "usdc:usd-coin"}
    assert plan.target_of["usdc:usd-coin"] == 1
    assert set(plan.relabel) == {(CG, "usd-coin"), (CP, "usdc-usd-coin")}  # both "contract"
    assert not plan.create


def test_a_key_nobody_holds_yet_is_registered_on_a_member_asset() -> None:
    mapped = {(CG, "a"): m(1), (CP, "a-a"): m(2)}
    wanted = {(CG, "a"): w("curated:a", "override"), (CP, "a-a"): w("curated:a", "override")}
    plan = plan_relink(mapped, wanted, {}, {1: "a:alpha", 2: "a:alfa"})
    assert plan.alias_keys == {"curated:a": 1}
    assert plan.moves == [((CP, "a-a"), 2, "curated:a")]
    assert plan.merges == {2: "curated:a"}


def test_a_wrong_merge_is_split_and_the_owner_keeps_its_key() -> None:
    # Loaded before reference data: the CoinPaprika coin took the CoinGecko coin's key.
    mapped = {(CG, "mars"): m(1), (CP, "mars-mars-network"): m(1, "symbol_name")}
    wanted = {
        (CG, "mars"): w("mars:mars", "new"),
        (CP, "mars-mars-network"): w("mars:mars-network", "symbol_name"),
        (CG, "mars-network"): w("mars:mars-network", "symbol_name"),
    }
    plan = plan_relink(mapped, wanted, {"mars:mars": 1}, {1: "mars:mars"})
    assert plan.moves == [((CP, "mars-mars-network"), 1, "mars:mars-network")]
    assert plan.create == {"mars:mars-network": (CP, "mars-mars-network")}
    assert 1 not in plan.merges  # still holds the CoinGecko coin
    assert (CG, "mars") not in plan.relabel  # already a lone coin


def test_an_unlisted_id_on_the_target_is_split_off_not_doubled_up() -> None:
    mapped = {(CG, "x"): m(1), (CP, "x-old"): m(1), (CP, "x-new"): m(2)}
    wanted = {(CG, "x"): w("x:x"), (CP, "x-new"): w("x:x")}  # x-old is no longer listed
    plan = plan_relink(mapped, wanted, {"x:x": 1}, {1: "x:x", 2: "x:x-new"})
    assert ((CP, "x-new"), 2, "x:x") in plan.moves
    assert ((CP, "x-old"), 1, "coinpaprika:x-old") in plan.moves
    assert plan.create["coinpaprika:x-old"] == (CP, "x-old")


def test_other_sources_follow_a_merged_asset_unless_the_target_has_their_source() -> None:
    mapped = {(CG, "a"): m(1), (CP, "a-a"): m(2), (CSV, "A"): m(2, "symbol_name")}
    wanted = {(CG, "a"): w("a:a"), (CP, "a-a"): w("a:a")}
    plan = plan_relink(mapped, wanted, {"a:a": 1}, {1: "a:a", 2: "a:alfa"})
    assert ((CSV, "A"), 2, "a:a") in plan.moves and plan.merges == {2: "a:a"}
    mapped[(CSV, "B")] = m(1, "symbol_name")  # the target already has a CSV coin
    plan = plan_relink(mapped, wanted, {"a:a": 1}, {1: "a:a", 2: "a:alfa"})
    assert ((CSV, "A"), 2, "a:a") not in plan.moves and 2 not in plan.merges


def test_nothing_to_do_when_the_store_already_matches() -> None:
    mapped = {
        (CG, "a"): Mapped(1, "contract", None, '{"shared":[]}'),
        (CP, "a-a"): Mapped(1, "contract", None, '{"shared":[]}'),
    }
    wanted = {(CG, "a"): w("a:a"), (CP, "a-a"): w("a:a")}
    plan = plan_relink(mapped, wanted, {"a:a": 1}, {1: "a:a"})
    assert not (plan.moves or plan.merges or plan.relabel or plan.create or plan.alias_keys)
