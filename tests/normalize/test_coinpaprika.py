from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from kasparro.models import MarketRecord, Rejection
from kasparro.normalize.coinpaprika import normalize_ticker
from kasparro.normalize.common import loads_exact
from tests.normalize._samples import CP_TICKER_BTC, sample_bytes, sample_json


def record(raw: Any) -> MarketRecord:
    result = normalize_ticker(raw)
    assert isinstance(result, MarketRecord), result
    return result


def rejection(raw: Any) -> Rejection:
    result = normalize_ticker(raw)
    assert isinstance(result, Rejection), result
    return result


@pytest.fixture
def ticker() -> dict[str, Any]:
    return sample_json(CP_TICKER_BTC)


def test_recorded_btc_ticker_normalizes_exactly() -> None:
    btc = record(loads_exact(sample_bytes(CP_TICKER_BTC)))
    assert btc == MarketRecord(
        source="coinpaprika",
        source_asset_id="btc-bitcoin",
        symbol="BTC",
        name="Bitcoin",
        observed_at=datetime(2022, 4, 19, 15, 43, 22, tzinfo=UTC),
        price_usd=Decimal("41389.57931641128"),
        market_cap_usd=Decimal(787066061422),
        volume_24h_usd=Decimal("35357658696.99645"),
        change_24h_pct=Decimal("5.25"),
        market_cap_rank=1,
        # Circulating above total is what CoinPaprika really reports; not a rejection.
        circulating_supply=Decimal(19016044),
        total_supply=Decimal(19016031),
        max_supply=Decimal(21000000),
        identity_hint="curated:bitcoin",
    )
    assert str(btc.price_usd) == "41389.57931641128"


def test_max_supply_zero_means_uncapped(ticker: dict[str, Any]) -> None:
    ticker["max_supply"] = 0
    assert record(ticker).max_supply is None


def test_free_plan_without_circulating_supply(ticker: dict[str, Any]) -> None:
    del ticker["circulating_supply"]
    assert record(ticker).circulating_supply is None


def test_rank_zero_means_unranked(ticker: dict[str, Any]) -> None:
    ticker["rank"] = 0
    assert record(ticker).market_cap_rank is None


def test_empty_string_is_the_documented_missing_value(ticker: dict[str, Any]) -> None:
    for key in ("total_supply", "max_supply", "circulating_supply", "rank"):
        ticker[key] = ""
    for key in ("market_cap", "volume_24h", "percent_change_24h"):
        ticker["quotes"]["USD"][key] = ""
    result = record(ticker)
    assert result.total_supply is None
    assert result.market_cap_usd is None
    assert result.volume_24h_usd is None
    assert result.change_24h_pct is None
    assert result.market_cap_rank is None


def test_other_quotes_are_ignored(ticker: dict[str, Any]) -> None:
    ticker["quotes"]["BTC"] = {"price": 1, "market_cap": "junk"}
    assert record(ticker).price_usd == Decimal("41389.57931641128")


def test_unknown_coin_has_no_hint(ticker: dict[str, Any]) -> None:
    ticker.update(id="uni-uniswap", symbol="UNI", name="Uniswap")
    assert record(ticker).identity_hint is None


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("id",), None, "missing required field: id"),
        (("id",), "", "id: empty"),
        (("symbol",), 7, "symbol: expected a string, got int"),
        (("name",), None, "missing required field: name"),
        (
            ("last_updated",),
            "2022-04-19 15:43",
            "last_updated: not an ISO-8601 timestamp with timezone",
        ),
        (("rank",), -1, "market_cap_rank: not positive"),
        (("rank",), "1", "market_cap_rank: expected a number, got str"),
        (("max_supply",), -21000000, "max_supply: negative"),
        (("total_supply",), Decimal("NaN"), "total_supply: not finite"),
        (("quotes",), None, "missing required field: quotes.USD"),
        (("quotes",), [], "quotes: expected an object, got list"),
        (("quotes", "USD"), None, "missing required field: quotes.USD"),
        (("quotes", "USD"), 41389, "quotes.USD: expected an object, got int"),
        (("quotes", "USD", "price"), None, "missing required field: price_usd"),
        (("quotes", "USD", "price"), "", "missing required field: price_usd"),
        (("quotes", "USD", "price"), "41389.5", "price_usd: expected a number, got str"),
        (("quotes", "USD", "price"), Decimal("-0.1"), "price_usd: negative"),
        (("quotes", "USD", "price"), Decimal("Infinity"), "price_usd: not finite"),
        (("quotes", "USD", "market_cap"), Decimal("2e16"), "market_cap_usd: exceeds bound 1e16"),
        (("quotes", "USD", "volume_24h"), -1, "volume_24h_usd: negative"),
        (
            ("quotes", "USD", "percent_change_24h"),
            "5.25",
            "change_24h_pct: expected a number, got str",
        ),
    ],
)
def test_rejection_rules(
    ticker: dict[str, Any], path: tuple[str, ...], value: object, reason: str
) -> None:
    target = ticker
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    result = rejection(ticker)
    assert result.reason == reason
    assert result.raw is ticker


def test_missing_quotes_key_entirely(ticker: dict[str, Any]) -> None:
    del ticker["quotes"]
    result = rejection(ticker)
    assert result.reason == "missing required field: quotes.USD"
    assert result.source_asset_id == "btc-bitcoin"


def test_non_object_is_rejected() -> None:
    assert rejection(["btc-bitcoin"]).reason == "expected an object, got list"
