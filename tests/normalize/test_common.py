from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kasparro.normalize.common import (
    PRICE_BOUND,
    SUPPLY_BOUND,
    InvalidValue,
    bounded,
    decimal_from_text,
    loads_exact,
    optional_text,
    parse_timestamp,
    rank_from_number,
    require_text,
    storable_text,
    to_decimal,
    to_rank,
)


def reason_of(call, *args, **kwargs) -> str:
    with pytest.raises(InvalidValue) as info:
        call(*args, **kwargs)
    return info.value.reason


# --- loads_exact -----------------------------------------------------------------------


def test_loads_exact_keeps_the_json_text_digits() -> None:
    body = b'{"p": 0.00136138, "s": 1.01101101e+16, "q": 41389.57931641128, "i": 38938}'
    parsed = loads_exact(body)
    assert parsed["p"] == Decimal("0.00136138")
    assert str(parsed["p"]) == "0.00136138"
    assert parsed["s"] == Decimal("1.01101101E+16") == 10110110100000000
    # Through float this would be 41389.579316411283 or similar; the text is the truth.
    assert str(parsed["q"]) == "41389.57931641128"
    assert type(parsed["i"]) is int


def test_loads_exact_accepts_str_bytes_and_a_utf8_bom() -> None:
    assert loads_exact('{"a": 1.5}') == {"a": Decimal("1.5")}
    assert loads_exact(b'\xef\xbb\xbf{"a": 1.5}') == {"a": Decimal("1.5")}
    assert loads_exact('{"a": 1.5}'.encode("utf-16")) == {"a": Decimal("1.5")}


@pytest.mark.parametrize(
    ("literal", "is_nan", "negative"),
    [("NaN", True, False), ("Infinity", False, False), ("-Infinity", False, True)],
)
def test_non_standard_literals_become_non_finite_decimals(
    literal: str, is_nan: bool, negative: bool
) -> None:
    value = loads_exact(f'{{"x": {literal}}}')["x"]
    assert isinstance(value, Decimal)
    assert not value.is_finite()
    assert value.is_nan() is is_nan
    assert value.is_signed() is negative
    assert reason_of(to_decimal, value, "price_usd") == "price_usd: not finite"


def test_loads_exact_raises_on_a_malformed_body() -> None:
    with pytest.raises(ValueError):
        loads_exact(b'[{"id": "bitcoin",')
    with pytest.raises(ValueError):
        loads_exact(b"\xff\xfe\xfa")


def test_overlong_json_numbers_are_refused_but_kept_for_quarantine() -> None:
    text = "0." + "1" * 200
    value = loads_exact(f"[{text}]")[0]
    assert value == Decimal(text)
    assert reason_of(to_decimal, value, "price_usd") == "price_usd: too many digits"
    assert reason_of(require_text, value, "id", 300, strip=False) == (
        "id: expected a string, got Decimal"
    )


def test_integers_too_long_for_int_are_one_rejection_not_an_undecodable_body() -> None:
    # Over 4300 digits int() and msgspec refuse the number; the body is still valid JSON, so
    # it must decode, and only the record holding the number is rejected.
    digits = "1" + "0" * 5000
    body = f'[{{"id": "a", "price": {digits}}}, {{"id": "b", "price": -{digits}, "rank": 7}}]'
    a, b = loads_exact(body)
    assert a["id"] == "a" and b["rank"] == 7
    assert str(a["price"]) == digits and str(b["price"]) == "-" + digits
    assert reason_of(to_decimal, a["price"], "price_usd") == "price_usd: too many digits"
    assert loads_exact("[12345678901234567890]") == [12345678901234567890]  # still an int


# --- to_decimal / bounded ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, Decimal(5)), (Decimal("3.447E-9"), Decimal("3.447E-9")), (0, Decimal(0))],
)
def test_to_decimal_accepts_json_numbers(value: object, expected: Decimal) -> None:
    assert to_decimal(value, "x") == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1.5", "x: expected a number, got str"),
        (True, "x: expected a number, got bool"),
        (None, "x: expected a number, got null"),
        ([1], "x: expected a number, got list"),
        ({"usd": 1}, "x: expected a number, got dict"),
        (1.5, "x: inexact float (parse JSON with loads_exact)"),
        (Decimal("NaN"), "x: not finite"),
        (Decimal("sNaN"), "x: not finite"),
        (Decimal("-Infinity"), "x: not finite"),
    ],
)
def test_to_decimal_rejects(value: object, reason: str) -> None:
    assert reason_of(to_decimal, value, "x") == reason


def test_bounded_checks_sign_bound_and_resolution() -> None:
    assert bounded(Decimal("1e9"), "price_usd", PRICE_BOUND) == Decimal("1e9")
    assert reason_of(bounded, Decimal("1000000000.01"), "price_usd", PRICE_BOUND) == (
        "price_usd: exceeds bound 1e9"
    )
    assert reason_of(bounded, Decimal("-0.01"), "price_usd", PRICE_BOUND) == "price_usd: negative"
    assert reason_of(bounded, Decimal("1e31"), "max_supply", SUPPLY_BOUND) == (
        "max_supply: exceeds bound 1e30"
    )
    assert bounded(Decimal("-50"), "c", PRICE_BOUND, signed=True) == Decimal(-50)
    assert reason_of(bounded, Decimal("-2e9"), "c", PRICE_BOUND, signed=True) == (
        "c: exceeds bound 1e9"
    )
    assert reason_of(bounded, Decimal("1e-31"), "p", PRICE_BOUND) == "p: nonzero below 1e-30"
    assert bounded(Decimal("1e-30"), "p", PRICE_BOUND) == Decimal("1e-30")


def test_negative_zero_is_stored_as_zero() -> None:
    zero = bounded(Decimal("-0.0"), "price_usd", PRICE_BOUND)
    assert zero == 0
    assert not zero.is_signed()


# --- decimal_from_text (CSV) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e-10", Decimal("1E-10")),
        ("4.2E+17", Decimal("420000000000000000")),
        (" 12.50 ", Decimal("12.50")),
        ("-3.5", Decimal("-3.5")),
        ("+7", Decimal(7)),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_decimal_from_text_parses_exactly(text: str | None, expected: Decimal | None) -> None:
    assert decimal_from_text(text, "x") == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "x: not a decimal number"),
        ("1,000", "x: not a decimal number"),
        ("1_000", "x: not a decimal number"),  # Decimal() itself would accept this
        ("$5", "x: not a decimal number"),
        ("0x10", "x: not a decimal number"),
        ("\u0661\u0662", "x: not a decimal number"),  # Arabic-Indic digits, also Decimal-valid
        ("1e", "x: not a decimal number"),
        ("NaN", "x: not finite"),
        ("nan", "x: not finite"),
        ("-Infinity", "x: not finite"),
        ("inf", "x: not finite"),
        ("1" * 81, "x: too many digits"),
    ],
)
def test_decimal_from_text_rejects(text: str, reason: str) -> None:
    assert reason_of(decimal_from_text, text, "x") == reason


# --- ranks ------------------------------------------------------------------------------


def test_ranks() -> None:
    assert to_rank(None) is None
    assert to_rank(7) == 7
    assert to_rank(Decimal("5.0")) == 5
    assert rank_from_number(Decimal("1E+3")) == 1000
    assert reason_of(to_rank, Decimal("5.5")) == "market_cap_rank: not an integer"
    assert reason_of(to_rank, 0) == "market_cap_rank: not positive"
    assert reason_of(to_rank, -3) == "market_cap_rank: not positive"
    assert reason_of(to_rank, True) == "market_cap_rank: expected a number, got bool"
    assert reason_of(to_rank, "5") == "market_cap_rank: expected a number, got str"
    assert reason_of(to_rank, 10**8) == "market_cap_rank: exceeds bound 10000000"
    assert reason_of(to_rank, Decimal("1e30")) == "market_cap_rank: exceeds bound 10000000"


# --- text -------------------------------------------------------------------------------


def test_require_text() -> None:
    assert require_text("  Bitcoin ", "name", 300, strip=True) == "Bitcoin"
    assert require_text(" odd id ", "id", 300, strip=False) == " odd id "
    assert reason_of(require_text, None, "id", 300, strip=False) == "missing required field: id"
    assert reason_of(require_text, 5, "id", 300, strip=False) == "id: expected a string, got int"
    assert reason_of(require_text, "   ", "id", 300, strip=False) == "id: empty"
    assert reason_of(require_text, "", "name", 300, strip=True) == "name: empty"
    assert reason_of(require_text, "x" * 65, "symbol", 64, strip=True) == (
        "symbol: longer than 64 characters"
    )
    assert reason_of(require_text, "a\x00b", "name", 300, strip=True) == (
        "name: contains control characters"
    )
    assert reason_of(require_text, "a\ud800b", "name", 300, strip=True) == (
        "name: contains control characters"
    )


def test_optional_text_only_returns_storable_ids() -> None:
    assert optional_text("bitcoin") == "bitcoin"
    assert optional_text("  ") is None
    assert optional_text(5) is None
    assert optional_text("x" * 301) is None


# --- timestamps -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-02-23T11:23:11.426Z", datetime(2022, 2, 23, 11, 23, 11, 426000, UTC)),
        ("2022-04-19T15:43:22Z", datetime(2022, 4, 19, 15, 43, 22, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T09:30:00-0230", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01 12:00:00+00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01t12:00:00z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        # Nanoseconds are truncated, never rounded up into the next second.
        ("2024-05-01T12:00:59.999999999Z", datetime(2024, 5, 1, 12, 0, 59, 999999, UTC)),
    ],
)
def test_parse_timestamp_accepts(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "missing required field: last_updated"),
        (1650383002, "last_updated: expected a timestamp string, got int"),
        ("2022-04-19T15:43:22", "last_updated: not an ISO-8601 timestamp with timezone"),
        ("2022-04-19", "last_updated: not an ISO-8601 timestamp with timezone"),
        ("yesterday", "last_updated: not an ISO-8601 timestamp with timezone"),
        ("", "last_updated: not an ISO-8601 timestamp with timezone"),
        ("2022-04-19T15:43:22+05:75", "last_updated: not an ISO-8601 timestamp with timezone"),
        ("2022-02-30T00:00:00Z", "last_updated: invalid date or time"),
        ("2022-02-23T24:00:00Z", "last_updated: invalid date or time"),
        ("2022-02-23T11:23:60Z", "last_updated: invalid date or time"),
        ("2022-02-23T11:23:00+24:00", "last_updated: invalid date or time"),
        ("1970-01-01T00:00:00Z", "last_updated: out of range"),
        ("2150-01-01T00:00:00Z", "last_updated: out of range"),
        ("0001-01-01T00:00:00+01:00", "last_updated: invalid date or time"),
    ],
)
def test_parse_timestamp_rejects(value: object, reason: str) -> None:
    assert reason_of(parse_timestamp, value) == reason


def test_module_json_is_untouched() -> None:
    # loads_exact must not reconfigure the stdlib parser other code relies on.
    loads_exact("[1.5]")
    assert json.loads("[1.5]") == [1.5]


def test_storable_text_escapes_lone_surrogates_only() -> None:
    assert storable_text("bitcoin") == "bitcoin"
    assert storable_text("ß→€") == "ß→€"
    assert storable_text("btc\ud800") == "btc\\ud800"
    assert optional_text("btc\ud800") == "btc\\ud800"  # a rejection's id
