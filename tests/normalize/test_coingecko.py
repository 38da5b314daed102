from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from kasparro.models import MarketRecord, Rejection
from kasparro.normalize.coingecko import normalize_market
from kasparro.normalize.common import loads_exact
from tests.normalize._samples import (
    CG_MARKETS_250,
    CG_MARKETS_BTC_2021,
    CG_MARKETS_DOCS,
    cg_coin,
    sample_bytes,
    sample_json,
)


def record(raw: Any) -> MarketRecord:
    result = normalize_market(raw)
    assert isinstance(result, MarketRecord), result
    return result


def rejection(raw: Any) -> Rejection:
    result = normalize_market(raw)
    assert isinstance(result, Rejection), result
    return result


# --- the recorded 250-coin page ---------------------------------------------------------


def test_every_recorded_coin_normalizes() -> None:
    page = sample_json(CG_MARKETS_250)
    assert len(page) == 250
    results = [normalize_market(element) for element in page]
    rejected = [r for r in results if isinstance(r, Rejection)]
    assert rejected == []
    assert [r.source_asset_id for r in results] == [e["id"] for e in page]
    for result, element in zip(results, page, strict=True):
        assert isinstance(result, MarketRecord)
        assert result.source == "coingecko"
        assert result.symbol == element["symbol"]
        assert result.name == element["name"]
        assert result.observed_at.tzinfo is UTC
        assert result.price_usd == element["current_price"]
        assert result.market_cap_rank == element["market_cap_rank"]


def test_junk_rank_one_token_is_kept_exactly() -> None:
    tico = record(cg_coin("ticoex-token"))
    assert tico.market_cap_rank == 1
    assert tico.price_usd == Decimal("0.00136138")
    assert str(tico.price_usd) == "0.00136138"
    assert tico.market_cap_usd == Decimal(3333370870735)
    assert tico.volume_24h_usd == Decimal("5.4")
    assert tico.change_24h_pct == Decimal("0.32173")
    assert tico.circulating_supply == Decimal("2448524105135891")
    assert tico.total_supply == Decimal("1.01101101E+16") == 10110110100000000
    assert tico.max_supply is None
    assert tico.observed_at == datetime(2022, 2, 23, 11, 23, 11, 426000, UTC)
    assert tico.identity_hint is None


def test_tiny_prices_and_huge_supplies_are_exact() -> None:
    baby = record(cg_coin("baby-doge-coin"))
    assert baby.price_usd == Decimal("3.447E-9")
    assert baby.max_supply == Decimal("4.2E+17") == 420_000_000_000_000_000
    elon = record(cg_coin("dogelon-mars"))
    assert elon.price_usd == Decimal("8.14417E-7")
    assert elon.max_supply == 10**15


def test_nulls_become_none() -> None:
    eth = record(cg_coin("ethereum"))
    assert eth.total_supply is None
    assert eth.max_supply is None
    assert eth.circulating_supply == Decimal("119698044.499")


def test_integer_prices_and_integral_floats() -> None:
    btc = record(cg_coin("bitcoin"))
    assert btc.price_usd == Decimal(38938)
    assert btc.circulating_supply == Decimal("18966243.0")
    assert btc.identity_hint == "curated:bitcoin"


@pytest.mark.parametrize("coin_id", ["usd-coin", "terrausd"])
def test_circulating_above_total_is_not_a_rejection(coin_id: str) -> None:
    result = record(cg_coin(coin_id))
    assert result.circulating_supply is not None and result.total_supply is not None
    assert result.circulating_supply > result.total_supply


def test_total_above_max_is_not_a_rejection() -> None:
    amp = record(cg_coin("amp-token"))
    assert amp.total_supply is not None and amp.max_supply is not None
    assert amp.total_supply > amp.max_supply


def test_override_hints_on_recorded_natives() -> None:
    hints = {r.source_asset_id: r.identity_hint for r in map(record, sample_json(CG_MARKETS_250))}
    assert hints["binancecoin"] == "curated:binance-coin"
    assert hints["ripple"] == "curated:xrp"
    assert hints["avalanche-2"] == "curated:avalanche"
    assert hints["uniswap"] is None  # a token: matched by contract/symbol+name, not curated


def test_other_recordings_normalize() -> None:
    (btc_2021,) = loads_exact(sample_bytes(CG_MARKETS_BTC_2021))
    assert record(btc_2021).observed_at == datetime(2021, 5, 15, 15, 59, 43, 867000, UTC)
    # The spec example carries extra keys (sparkline, *_with_rehypothecated): ignored.
    (docs,) = sample_json(CG_MARKETS_DOCS)
    assert record(docs).price_usd == Decimal(77671)


# --- rejection rules --------------------------------------------------------------------


@pytest.fixture
def btc() -> dict[str, Any]:
    return cg_coin("bitcoin")


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("id", None, "missing required field: id"),
        ("id", "", "id: empty"),
        ("id", "   ", "id: empty"),
        ("id", 1, "id: expected a string, got int"),
        ("symbol", None, "missing required field: symbol"),
        ("symbol", " ", "symbol: empty"),
        ("symbol", ["btc"], "symbol: expected a string, got list"),
        ("name", None, "missing required field: name"),
        ("name", "", "name: empty"),
        ("name", "Bit\x00coin", "name: contains control characters"),
        ("last_updated", None, "missing required field: last_updated"),
        (
            "last_updated",
            "2022-02-23T11:30:23",
            "last_updated: not an ISO-8601 timestamp with timezone",
        ),
        ("last_updated", 1645615823, "last_updated: expected a timestamp string, got int"),
        ("current_price", None, "missing required field: price_usd"),
        ("current_price", "38938", "price_usd: expected a number, got str"),
        ("current_price", True, "price_usd: expected a number, got bool"),
        ("current_price", Decimal("-1"), "price_usd: negative"),
        ("current_price", Decimal("1000000000.5"), "price_usd: exceeds bound 1e9"),
        ("current_price", Decimal("NaN"), "price_usd: not finite"),
        ("current_price", 38938.0, "price_usd: inexact float (parse JSON with loads_exact)"),
        ("market_cap", "738310755630", "market_cap_usd: expected a number, got str"),
        ("market_cap", -5, "market_cap_usd: negative"),
        ("market_cap", Decimal("1.1e16"), "market_cap_usd: exceeds bound 1e16"),
        ("total_volume", Decimal("Infinity"), "volume_24h_usd: not finite"),
        ("total_volume", Decimal("2e16"), "volume_24h_usd: exceeds bound 1e16"),
        ("price_change_percentage_24h", "3.4", "change_24h_pct: expected a number, got str"),
        ("price_change_percentage_24h", Decimal("-Infinity"), "change_24h_pct: not finite"),
        ("market_cap_rank", 0, "market_cap_rank: not positive"),
        ("market_cap_rank", Decimal("2.5"), "market_cap_rank: not an integer"),
        ("market_cap_rank", "2", "market_cap_rank: expected a number, got str"),
        ("circulating_supply", -1, "circulating_supply: negative"),
        ("total_supply", Decimal("1e31"), "total_supply: exceeds bound 1e30"),
        ("max_supply", {"v": 1}, "max_supply: expected a number, got dict"),
    ],
)
def test_rejection_rules(btc: dict[str, Any], key: str, value: object, reason: str) -> None:
    btc[key] = value
    result = rejection(btc)
    assert result.reason == reason
    assert result.raw is btc
    expected_id = btc["id"] if isinstance(btc["id"], str) and btc["id"].strip() else None
    assert result.source_asset_id == expected_id


@pytest.mark.parametrize("key", ["id", "symbol", "name", "last_updated", "current_price"])
def test_absent_required_keys_are_missing(btc: dict[str, Any], key: str) -> None:
    del btc[key]
    assert rejection(btc).reason.startswith("missing required field: ")


def test_first_failing_field_names_the_reason(btc: dict[str, Any]) -> None:
    btc["current_price"] = "x"
    btc["market_cap"] = "y"
    assert rejection(btc).reason == "price_usd: expected a number, got str"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "expected an object, got null"),
        ([], "expected an object, got list"),
        ("bitcoin", "expected an object, got str"),
        (Decimal(1), "expected an object, got Decimal"),
    ],
)
def test_non_objects_are_rejected(raw: object, reason: str) -> None:
    result = rejection(raw)
    assert result.reason == reason
    assert result.source_asset_id is None


def test_non_standard_literals_in_a_body_are_rejected_per_row() -> None:
    body = sample_bytes(CG_MARKETS_BTC_2021).decode()
    page = loads_exact(body.replace('"current_price":49053', '"current_price":NaN'))
    assert rejection(page[0]).reason == "price_usd: not finite"
    page = loads_exact(body.replace('"total_volume":61679663434', '"total_volume":Infinity'))
    assert rejection(page[0]).reason == "volume_24h_usd: not finite"


def test_plain_json_floats_are_refused_rather_than_trusted() -> None:
    (btc_float,) = json.loads(sample_bytes(CG_MARKETS_BTC_2021))
    assert rejection(btc_float).reason == (
        "change_24h_pct: inexact float (parse JSON with loads_exact)"
    )


# --- accepted edge values ---------------------------------------------------------------


def test_price_zero_and_bounds_are_accepted(btc: dict[str, Any]) -> None:
    btc["current_price"] = 0
    assert record(btc).price_usd == 0
    btc["current_price"] = Decimal("1e9")
    assert record(btc).price_usd == Decimal("1e9")


def test_optional_values_may_be_null(btc: dict[str, Any]) -> None:
    for key in (
        "market_cap",
        "total_volume",
        "price_change_percentage_24h",
        "market_cap_rank",
        "circulating_supply",
        "total_supply",
        "max_supply",
    ):
        btc[key] = None
    result = record(btc)
    assert result.market_cap_usd is None
    assert result.market_cap_rank is None
    assert result.change_24h_pct is None


def test_change_pct_may_be_huge_or_negative(btc: dict[str, Any]) -> None:
    btc["price_change_percentage_24h"] = Decimal("223976811.27324")
    assert record(btc).change_24h_pct == Decimal("223976811.27324")
    btc["price_change_percentage_24h"] = Decimal("-99.99")
    assert record(btc).change_24h_pct == Decimal("-99.99")


def test_integral_rank_float_and_unusual_symbols(btc: dict[str, Any]) -> None:
    btc["market_cap_rank"] = Decimal("5.0")
    btc["symbol"] = " $AAPL "
    result = record(btc)
    assert result.market_cap_rank == 5
    assert result.symbol == "$AAPL"


def test_ids_are_kept_verbatim(btc: dict[str, Any]) -> None:
    btc["id"] = "hive_dollar"
    assert record(btc).source_asset_id == "hive_dollar"
    btc["id"] = "bitCNY"
    assert record(btc).source_asset_id == "bitCNY"
