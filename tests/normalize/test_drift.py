"""Schema drift detection on real payloads and on each kind of drift."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from kasparro.normalize.common import loads_exact
from kasparro.normalize.contracts import COINGECKO_MARKETS, COINPAPRIKA_TICKERS
from kasparro.normalize.drift import detect_drift
from tests.normalize._samples import SAMPLES

CG_PAGE = SAMPLES / (
    "coingecko/coins-markets__vs-usd_per_page-250_page-1_pcp-1h-24h-7d-14d-30d-200d-1y"
    "__2022-02-23.json"
)
CP_TICKER = SAMPLES / "coinpaprika/tickers-id__btc-bitcoin_quotes-USD__2022-04-19.json"


@pytest.fixture(scope="module")
def cg_page() -> list[dict[str, Any]]:
    data = loads_exact(CG_PAGE.read_bytes())
    assert isinstance(data, list) and len(data) == 250
    return data


@pytest.fixture(scope="module")
def cp_ticker() -> dict[str, Any]:
    data = loads_exact(CP_TICKER.read_bytes())
    assert isinstance(data, dict)
    return data


def by_key(findings: list[Any]) -> dict[tuple[str, str], Any]:
    return {(f.field, f.kind): f for f in findings}


def test_recorded_payloads_have_no_drift(
    cg_page: list[dict[str, Any]], cp_ticker: dict[str, Any]
) -> None:
    assert detect_drift(COINGECKO_MARKETS, cg_page) == []
    assert detect_drift(COINPAPRIKA_TICKERS, [cp_ticker]) == []


def test_free_plan_omitting_circulating_supply_is_not_drift(cp_ticker: dict[str, Any]) -> None:
    t = copy.deepcopy(cp_ticker)
    del t["circulating_supply"]
    assert detect_drift(COINPAPRIKA_TICKERS, [t]) == []


def test_rename_is_detected_with_a_suggestion(cg_page: list[dict[str, Any]]) -> None:
    page = copy.deepcopy(cg_page)
    for rec in page[:3]:
        rec["price_usd_current"] = rec.pop("current_price")
    found = by_key(detect_drift(COINGECKO_MARKETS, page))
    missing = found[("current_price", "missing")]
    assert missing.count == 3
    assert missing.suggestion == "price_usd_current"
    assert missing.confidence is not None and Decimal("0.5") <= missing.confidence <= 1
    assert found[("price_usd_current", "unexpected")].count == 3


def test_nested_rename_and_type_change(cp_ticker: dict[str, Any]) -> None:
    t = copy.deepcopy(cp_ticker)
    t["quotes"]["USD"]["price_usd"] = t["quotes"]["USD"].pop("price")
    t["rank"] = "1"
    found = by_key(detect_drift(COINPAPRIKA_TICKERS, [t]))
    assert found[("quotes.USD.price", "missing")].suggestion == "quotes.USD.price_usd"
    changed = found[("rank", "type_changed")]
    assert (changed.expected, changed.observed, changed.sample) == ("null|number", "string", "1")


def test_extra_field_is_unexpected(cg_page: list[dict[str, Any]]) -> None:
    page = copy.deepcopy(cg_page[:10])
    page[4]["brand_new_metric"] = 1
    found = by_key(detect_drift(COINGECKO_MARKETS, page))
    assert list(found) == [("brand_new_metric", "unexpected")]
    assert found[("brand_new_metric", "unexpected")].observed == "number"


def test_unrelated_missing_field_gets_no_confident_suggestion(
    cg_page: list[dict[str, Any]],
) -> None:
    page = copy.deepcopy(cg_page[:2])
    for rec in page:
        del rec["ath"]
        rec["zzz"] = "x"
    missing = by_key(detect_drift(COINGECKO_MARKETS, page))[("ath", "missing")]
    assert missing.suggestion is None or (missing.confidence or 0) < Decimal("0.5")


def test_field_names_with_lone_surrogates_are_reported_storably(
    cg_page: list[dict[str, Any]],
) -> None:
    # A key JSON-escaped as "price\\ud800" decodes to a string no UTF-8 store (or orjson
    # log line) accepts: reported with the surrogate written as its escape.
    page = copy.deepcopy(cg_page[:3])
    for rec in page:
        rec["current_price\ud800"] = rec.pop("current_price")
    found = by_key(detect_drift(COINGECKO_MARKETS, page))
    assert ("current_price\\ud800", "unexpected") in found
    assert found[("current_price", "missing")].suggestion == "current_price\\ud800"


def test_non_objects_are_left_to_the_normalizer() -> None:
    assert detect_drift(COINGECKO_MARKETS, [1, "x", None]) == []
