"""Reference normalizers (coin lists, contracts, platforms) on recorded and hostile input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kasparro.identity.chains import CHAINS, canonical_chain, normalize_address, platform_of
from kasparro.models import (
    Contract,
    ReferenceCoin,
    ReferenceContract,
    ReferenceDetail,
    ReferencePlatform,
    Rejection,
)
from kasparro.normalize.reference import (
    normalize_coingecko_coin,
    normalize_coinpaprika_coin,
    normalize_coinpaprika_contract,
    normalize_coinpaprika_platform,
    normalize_detail,
)
from tests.normalize._samples import CG_COINS_LIST, sample_json

CG_COINS_LIST_DOCS = "coingecko/docs-examples/coins-list.oas-example.json"
CP_COIN_ETH = "coinpaprika/coins-id__eth-ethereum__2022-11-15.json"


def test_documented_coins_list_entries_become_tokens_with_contracts() -> None:
    trump, ondo = (normalize_coingecko_coin(e) for e in sample_json(CG_COINS_LIST_DOCS))
    assert trump == ReferenceCoin(
        source="coingecko",
        source_asset_id="official-trump",
        symbol="trump",
        name="Official Trump",
        kind="token",
        contracts=(Contract("solana", "6p6xgHyF7AeE6TZkSmFsko444wqoP15icUSqi2jfGiPN", "solana"),),
    )
    assert isinstance(ondo, ReferenceCoin)
    assert ondo.contracts == (
        Contract("ethereum", "0xfaba6f8e4a5e8ab82f62fe7c39859fa577269be3", "ethereum"),
    )


def test_the_recorded_coins_list_without_platforms_normalizes_whole() -> None:
    out = [normalize_coingecko_coin(e) for e in sample_json(CG_COINS_LIST)]
    coins = [c for c in out if isinstance(c, ReferenceCoin)]
    assert len(coins) == len(out) == 7248
    # Without include_platform nothing is known about contracts: kind stays unknown.
    assert {c.kind for c in coins} == {None}
    assert all(c.contracts == () and c.issues == () for c in coins)


def test_recorded_coinpaprika_coin_normalizes() -> None:
    coin = normalize_coinpaprika_coin(sample_json(CP_COIN_ETH))
    assert coin == ReferenceCoin(
        source="coinpaprika",
        source_asset_id="eth-ethereum",
        symbol="ETH",
        name="Ethereum",
        kind="coin",
        rank=2,
        active=True,
    )


@pytest.mark.parametrize(
    ("platforms", "contracts", "issues", "kind"),
    [
        ({"": ""}, (), (), "coin"),  # CoinGecko's native marker: not an issue
        ({}, (), (), "coin"),
        ({"ethereum": ""}, (), ("empty_address:ethereum",), "coin"),
        ({"ethereum": None}, (), ("empty_address:ethereum",), "coin"),
        ({"ethereum": 7}, (), ("bad_address:ethereum",), "coin"),
        ({"ethereum": "0x a b"}, (), ("bad_address:ethereum",), "coin"),
        ({"": "0xabc"}, (), ("empty_platform:",), "coin"),
        (
            {"hydra": "0xAbC"},
            (Contract("hydra", "0xAbC", None),),
            ("unknown_chain:hydra",),
            "token",
        ),
        (
            {"binance-smart-chain": " 0xAbC "},
            (Contract("binance-smart-chain", "0xAbC", "bsc"),),
            (),
            "token",
        ),
        ([], (), ("bad_platforms:list",), None),
    ],
)
def test_bad_contract_data_is_kept_out_and_named_never_fatal(
    platforms: Any, contracts: tuple[Contract, ...], issues: tuple[str, ...], kind: str | None
) -> None:
    coin = normalize_coingecko_coin({"id": "x", "symbol": "x", "name": "X", "platforms": platforms})
    assert isinstance(coin, ReferenceCoin)
    assert (coin.contracts, coin.issues, coin.kind) == (contracts, issues, kind)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"symbol": "x", "name": "X"}, "missing required field: id"),
        ({"id": "x", "symbol": "", "name": "X"}, "symbol: empty"),
        ({"id": "x", "symbol": "x", "name": 3}, "name: expected a string, got int"),
        ("x", "expected an object, got str"),
    ],
)
def test_unusable_coins_are_rejections(raw: Any, reason: str) -> None:
    for normalize in (normalize_coingecko_coin, normalize_coinpaprika_coin):
        out = normalize(raw)
        assert isinstance(out, Rejection) and out.reason == reason


def test_coinpaprika_rank_zero_is_unranked_and_bad_ranks_are_rejected() -> None:
    base = {"id": "a-a", "symbol": "A", "name": "A", "type": "token", "is_active": True}
    assert normalize_coinpaprika_coin({**base, "rank": 0}).rank is None  # type: ignore[union-attr]
    bad = normalize_coinpaprika_coin({**base, "rank": "1"})
    assert isinstance(bad, Rejection) and bad.reason.startswith("rank:")
    odd = normalize_coinpaprika_coin({**base, "type": "nft"})
    assert isinstance(odd, ReferenceCoin) and odd.kind is None


def test_coinpaprika_contract_entries() -> None:
    ok = normalize_coinpaprika_contract(
        "eth-ethereum", {"address": "0xABC", "id": "omg-omisego", "type": "ERC20", "active": True}
    )
    assert ok == ReferenceContract(
        "coinpaprika", "omg-omisego", Contract("eth-ethereum", "0xABC", "ethereum"), "ERC20", True
    )
    empty = normalize_coinpaprika_contract("eth-ethereum", {"address": "", "id": "a"})
    assert isinstance(empty, Rejection) and empty.reason == "address: empty"
    assert empty.source_asset_id == "a"
    junk = normalize_coinpaprika_contract("eth-ethereum", {"address": ["x"], "id": "a"})
    assert isinstance(junk, Rejection) and junk.reason == "address: not an address"
    unknown = normalize_coinpaprika_contract("zzz-zzz", {"address": "0x1", "id": "a"})
    assert isinstance(unknown, ReferenceContract) and unknown.contract.chain is None


def test_platforms() -> None:
    assert normalize_coinpaprika_platform("eth-ethereum") == ReferencePlatform(
        "coinpaprika", "eth-ethereum", "ethereum"
    )
    assert normalize_coinpaprika_platform("waves-waves").chain is None  # type: ignore[union-attr]
    assert isinstance(normalize_coinpaprika_platform(5), Rejection)


def test_chain_table_is_a_bijection_per_api() -> None:
    for api in ("coingecko", "coinpaprika"):
        platforms = [c.platforms[api] for c in CHAINS if api in c.platforms]
        assert len(set(platforms)) == len(platforms)
        for chain in CHAINS:
            if api in chain.platforms:
                assert canonical_chain(api, chain.platforms[api]) == chain.name
                assert platform_of(api, chain.name) == chain.platforms[api]
    assert canonical_chain("coingecko", "eth-ethereum") is None  # never across APIs
    assert normalize_address(" 0xAbC\n") == "0xabc"


@settings(max_examples=200, deadline=None)
@given(
    raw=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=12,
    ),
    platforms=st.dictionaries(st.text(max_size=12), st.none() | st.integers() | st.text()),
)
def test_reference_normalizers_never_raise(raw: Any, platforms: dict[str, Any]) -> None:
    candidates = [raw, {"id": "x", "symbol": "x", "name": "X", "platforms": platforms}]
    for item in candidates:
        for out in (
            normalize_coingecko_coin(item),
            normalize_coinpaprika_coin(item),
            normalize_coinpaprika_contract("eth-ethereum", item),
        ):
            assert isinstance(out, ReferenceCoin | ReferenceContract | Rejection)
    coin = normalize_coingecko_coin(candidates[1])
    assert isinstance(coin, ReferenceCoin)
    # Every platform is accounted for: a contract, an issue, or the native marker.
    accounted = len(coin.contracts) + len([i for i in coin.issues if ":" in i])
    native = sum(1 for k, v in platforms.items() if not k.strip() and v in (None, ""))
    assert accounted - len(
        [i for i in coin.issues if i.startswith("unknown_chain")]
    ) + native == len(platforms)


def test_a_recorded_coin_page_becomes_its_links() -> None:
    detail = normalize_detail("coinpaprika", "eth-ethereum", sample_json(CP_COIN_ETH))
    assert isinstance(detail, ReferenceDetail)
    assert (detail.source, detail.source_asset_id) == ("coinpaprika", "eth-ethereum")
    assert detail.homepages == ("https://www.ethereum.org/",)
    assert "https://etherscan.io/" in detail.explorers


def test_a_coin_page_that_is_missing_or_not_an_object() -> None:
    # A 404 (no page): fetched, with nothing to weigh; never asked for again.
    assert normalize_detail("coingecko", "gone", None) == ReferenceDetail("coingecko", "gone")
    bad = normalize_detail("coingecko", "odd", ["not", "a", "page"])
    assert isinstance(bad, Rejection)
    assert bad.source_asset_id == "odd"
    # CoinGecko pads its lists with "": only real links are kept, each cut to 500 chars.
    page = {"links": {"homepage": ["https://x.io", "", ""], "blockchain_site": ["a" * 900]}}
    got = normalize_detail("coingecko", "x", page)
    assert isinstance(got, ReferenceDetail)
    assert got.homepages == ("https://x.io",)
    assert got.explorers == ("a" * 500,)
