"""What names, symbols, ids and per-coin pages say (identity.names, identity.detail)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kasparro.identity import names as nm
from kasparro.identity.detail import (
    Detail,
    detail_from_coingecko,
    detail_from_coinpaprika,
    explorer_addresses,
    homepage_sites,
)

UPSTREAM = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"


@pytest.mark.parametrize(
    ("source", "sid", "name", "taken", "expected"),
    [
        ("coingecko", "omisego", "OMG Network", (), {"omisego"}),
        ("coingecko", "pundi-x-2", "Pundi X", (), {"pundi-x"}),
        ("coingecko", "bitcoin-2", "Bitcoin 2", (), {"bitcoin-2"}),  # the name has the number
        ("coingecko", "terra-luna-2", "Terra", ("terra-luna",), {"terra-luna-2"}),  # taken
        ("coinpaprika", "omg-omisego", "OmiseGO", (), {"omisego"}),
        ("coinpaprika", "hav-havven", "Synthetix Network Token", (), {"havven"}),
        ("coinpaprika", "aave-new", "Aave", (), set()),  # a qualifier names nothing
        ("coinpaprika", "btc", "Bitcoin", (), set()),
        ("messari", "a1", "Bitcoin", (), set()),  # ids that encode nothing known
    ],
)
def test_what_an_id_encodes(
    source: str, sid: str, name: str, taken: tuple[str, ...], expected: set[str]
) -> None:
    assert nm.id_names(source, sid, name, taken=frozenset(taken)) == expected


def test_names_without_noise() -> None:
    assert nm.name_core("Theta Token") == nm.name_core("Theta Network") == "theta"
    assert nm.name_core("KuCoin") == nm.name_core("KuCoin Token")
    assert nm.plain_name("Bob's Repair") == nm.plain_name("Bobs Repair")
    assert nm.plain_name("Bitcoin HD") == nm.plain_name("BitcoinHD")
    assert nm.plain_name("Bitcoin Cash") != nm.plain_name("Bitcoin")
    assert nm.name_core("Token") == "token"
    assert nm.is_symbol_only("USDC", "usdc") and not nm.is_symbol_only("USD Coin", "usdc")
    assert nm.version_marks("Aave MANA v1") == {"v1"}


@pytest.mark.parametrize(
    ("name", "symbol", "marks"),
    [
        ("Binance-Peg Uniswap", "uni", {"peg"}),
        ("DAI (Wormhole)", "dai", {"wormhole"}),  # a symbol with a suffix is still a copy
        ("Wrapped Bitcoin (Sollet)", "wbtc", {"wrapped", "sollet"}),
        ("USD Coin (Polygon PoS Bridge)", "usdc", {"polygon", "pos", "bridge"}),
        ("Golden Bridge Coin", "gbc", set()),
        ("Multichain", "multi", set()),
        ("WBTC", "wbtc", set()),
    ],
)
def test_copy_marks(name: str, symbol: str, marks: set[str]) -> None:
    assert nm.copy_marks(name, symbol) == marks


def test_old_marks() -> None:
    assert nm.old_marks("Sentinel [OLD]") == {"old"}
    assert nm.old_marks("Loom Network (OLD)") == {"old"}
    assert nm.old_marks("Old Money") == set()


def test_detail_from_a_recorded_coinpaprika_coin() -> None:
    body = json.loads(
        (UPSTREAM / "coinpaprika" / "coins-id__eth-ethereum__2022-11-15.json").read_text()
    )
    detail = detail_from_coinpaprika(body)
    assert homepage_sites(detail) == {"ethereum.org"}
    assert "https://etherscan.io/" in detail.explorers
    assert explorer_addresses(detail) == set()  # a chain's explorer, not a token page


def test_detail_parsers_never_raise() -> None:
    assert detail_from_coingecko(None) == Detail()
    assert detail_from_coinpaprika({"links": "nope"}) == Detail()
    body = {
        "links": {
            "homepage": ["https://www.graft.network/", "", None],
            "blockchain_site": [
                "https://etherscan.io/token/0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
                7,
            ],
        }
    }
    detail = detail_from_coingecko(body)
    assert homepage_sites(detail) == {"graft.network"}
    assert explorer_addresses(detail) == {"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"}
    shared = Detail(("https://github.com/graft-project/x", "not a url", "https://t.me/"), ())
    assert homepage_sites(shared) == {"github.com/graft-project"}
