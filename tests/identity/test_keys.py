from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kasparro.identity.keys import (
    CURATED,
    CURATED_ALIASES,
    OVERRIDES,
    identity_key,
    override_for,
    resolve_key,
)
from kasparro.models import MarketRecord
from kasparro.normalize.coingecko import normalize_market
from kasparro.normalize.coinpaprika import normalize_ticker
from tests.normalize._samples import (
    CG_COINS_LIST,
    CG_MARKETS_250,
    CP_TICKER_BTC,
    cg_coin,
    sample_json,
)


def make(source: str, asset_id: str, symbol: str, name: str) -> MarketRecord:
    return MarketRecord(
        source=source,
        source_asset_id=asset_id,
        symbol=symbol,
        name=name,
        observed_at=datetime(2024, 5, 1, tzinfo=UTC),
        price_usd=Decimal(1),
    )


# --- identity_key -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "name", "key"),
    [
        ("btc", "Bitcoin", "btc:bitcoin"),
        ("BTC", "Bitcoin", "btc:bitcoin"),
        (" BTC ", " Bitcoin ", "btc:bitcoin"),
        ("uni", "Uniswap", "uni:uniswap"),
        ("uni", "Unicorn Token", "uni:unicorn-token"),
        ("$aapl", "$AAPL", "$aapl:aapl"),
        ("ape$", "APE Punk", "ape$:ape-punk"),
        ("ETHEREUM I", "EthereumInu", "ethereum i:ethereuminu"),
        ("ETHEREUM  I", "EthereumInu", "ethereum i:ethereuminu"),
        ("hdp.ф", "HEdpAY", "hdp.ф:hedpay"),
        ("yfi", "yearn.finance", "yfi:yearn-finance"),
        ("cafe", "Café Coin", "cafe:cafe-coin"),
        ("ETHW", "Ethereum wizard", "ethw:ethereum-wizard"),
        ("X", "比特币", "x:比特币"),
        ("X", "\uff22\uff29\uff34", "x:bit"),  # fullwidth BIT folds to ASCII under NFKD
        ("", "Bitcoin", "?:bitcoin"),
        ("X", "", "x:_"),
        ("X", "   ", "x:_"),
        ("a:b", "c", "a:b:c"),
    ],
)
def test_identity_key_examples(symbol: str, name: str, key: str) -> None:
    assert identity_key(symbol, name) == key


def test_names_without_letters_get_a_distinct_hashed_slug() -> None:
    dollars = identity_key("X", "$$$")
    stars = identity_key("X", "***")
    assert dollars.startswith("x:_") and len(dollars) > len("x:_")
    assert dollars != stars
    assert dollars == identity_key("x", "$$$")


def test_very_long_inputs_stay_within_the_column_and_distinct() -> None:
    a = identity_key("S" * 500, "n" * 1000 + "a")
    b = identity_key("S" * 500, "n" * 1000 + "b")
    assert a != b
    assert len(a) <= 300 and len(b) <= 300


def test_recorded_btc_matches_across_sources() -> None:
    cg = normalize_market(cg_coin("bitcoin"))
    cp = normalize_ticker(sample_json(CP_TICKER_BTC))
    assert isinstance(cg, MarketRecord) and isinstance(cp, MarketRecord)
    assert identity_key(cg.symbol, cg.name) == identity_key(cp.symbol, cp.name) == "btc:bitcoin"
    assert resolve_key(cg) == resolve_key(cp) == ("curated:bitcoin", "override")


def test_uni_collision_in_coins_list_gives_four_keys() -> None:
    coins = [c for c in sample_json(CG_COINS_LIST) if c["symbol"] == "uni"]
    assert {c["id"] for c in coins} == {
        "uniswap",
        "binance-peg-uniswap",
        "unicorn-token",
        "universe-token",
    }
    assert len({identity_key(c["symbol"], c["name"]) for c in coins}) == 4


def test_whole_coins_list_gets_distinct_keys_despite_shared_symbols() -> None:
    coins = sample_json(CG_COINS_LIST)
    assert len(coins) == 7248
    shared_symbols = sum(1 for n in Counter(c["symbol"] for c in coins).values() if n > 1)
    assert shared_symbols > 600  # QUIRKS.md: 676 symbols are shared
    keys = [identity_key(c["symbol"], c["name"]) for c in coins]
    assert all(key and ":" in key and len(key) <= 300 for key in keys)
    duplicates = {key for key, n in Counter(keys).items() if n > 1}
    assert duplicates == set()


# --- overrides --------------------------------------------------------------------------


def test_override_table_shape() -> None:
    assert 20 <= len(CURATED) <= 30
    assert len(OVERRIDES) == 2 * len(CURATED)
    assert all(key.startswith("curated:") for key in OVERRIDES.values())
    assert Counter(OVERRIDES.values()) == {coin.key: 2 for coin in CURATED}
    assert OVERRIDES["coingecko", "binancecoin"] == OVERRIDES["coinpaprika", "bnb-binance-coin"]
    assert OVERRIDES["coingecko", "ripple"] == OVERRIDES["coinpaprika", "xrp-xrp"]
    assert OVERRIDES["coingecko", "avalanche-2"] == OVERRIDES["coinpaprika", "avax-avalanche"]
    assert override_for("coingecko", "uniswap") is None


def test_curated_coingecko_ids_and_names_match_the_recording() -> None:
    recorded = {c["id"]: c for c in sample_json(CG_MARKETS_250)}
    for coin in CURATED:
        assert coin.coingecko in recorded, coin
        element = recorded[coin.coingecko]
        key = identity_key(element["symbol"], element["name"])
        assert CURATED_ALIASES[key] == coin.key, (coin, key)


def test_curated_coinpaprika_ids_follow_symbol_dash_slug() -> None:
    for coin in CURATED:
        symbols = {symbol.lower() for symbol, _ in coin.aliases}
        assert any(coin.coinpaprika.startswith(f"{s}-") for s in symbols), coin


# --- resolve_key ------------------------------------------------------------------------


def test_resolve_key_methods() -> None:
    hinted = make("coingecko", "binancecoin", "bnb", "BNB")
    assert resolve_key(hinted) == ("curated:binance-coin", "override")
    cp = make("coinpaprika", "bnb-binance-coin", "BNB", "Binance Coin")
    assert resolve_key(cp) == ("curated:binance-coin", "override")
    assert resolve_key(make("coingecko", "uniswap", "uni", "Uniswap")) == (
        "uni:uniswap",
        "symbol_name",
    )


def test_csv_natives_join_the_curated_asset_by_alias() -> None:
    assert resolve_key(make("csv", "bitcoin", "BTC", "Bitcoin")) == (
        "curated:bitcoin",
        "symbol_name",
    )
    assert resolve_key(make("csv", "whatever", "BNB", "BNB"))[0] == "curated:binance-coin"


def test_curated_sources_do_not_alias_impostors() -> None:
    # A CoinGecko "BTC"/"Bitcoin" that is not the curated id is some other token.
    impostor = make("coingecko", "bitcoin-on-somechain", "BTC", "Bitcoin")
    assert resolve_key(impostor) == ("btc:bitcoin", "symbol_name")


def test_explicit_hint_wins() -> None:
    record = MarketRecord(
        source="csv",
        source_asset_id="x",
        symbol="X",
        name="X",
        observed_at=datetime(2024, 5, 1, tzinfo=UTC),
        price_usd=Decimal(1),
        identity_hint="curated:somecoin",
    )
    assert resolve_key(record) == ("curated:somecoin", "override")
