"""parse_json_array: validated up front, elements decoded lazily and exactly."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kasparro.normalize.common import loads_exact
from kasparro.sources.parsing import JsonArray, parse_json_array
from tests.normalize._samples import CG_MARKETS_250, sample_bytes


def test_elements_decode_like_loads_exact_on_a_recorded_page() -> None:
    body = sample_bytes(CG_MARKETS_250)
    items = parse_json_array(body)
    assert isinstance(items, JsonArray)
    assert list(items) == loads_exact(body)
    assert items[0] == loads_exact(body)[0]
    assert list(items[1:3]) == loads_exact(body)[1:3]


def test_numbers_keep_their_text_digits() -> None:
    items = parse_json_array(b'[{"p": 0.0000000001, "q": 12345678901234567890.123456789, "n": 7}]')
    (item,) = items
    assert item == {
        "p": Decimal("1E-10"),
        "q": Decimal("12345678901234567890.123456789"),
        "n": 7,
    }
    assert type(item["n"]) is int


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b'{"error": "x"}', "expected a JSON array, got dict"),
        (b'[{"id": "bitcoin",', "invalid JSON"),
        (b'[{"id": "bit\xffcoin"}]', "invalid JSON"),  # the split alone does not check UTF-8
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
    ids=["empty", "object", "truncated", "bad-utf8", "deep"],
)
def test_a_malformed_body_fails_the_page_up_front(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_json_array(body)


def test_bodies_only_the_stdlib_accepts_still_parse() -> None:
    # A BOM, UTF-16 and NaN literals are not strict JSON; they were accepted before, and are.
    assert list(parse_json_array(b'\xef\xbb\xbf[{"a": 1.5}]')) == [{"a": Decimal("1.5")}]
    assert list(parse_json_array('[{"a": 2.5}]'.encode("utf-16"))) == [{"a": Decimal("2.5")}]
    (item,) = parse_json_array(b'[{"a": NaN}]')
    assert item["a"].is_nan()


def test_an_integer_too_long_for_int_still_decodes_as_its_exact_text() -> None:
    # msgspec refuses it when the element is decoded (after the page was validated): the
    # element falls back to the stdlib decoder, and the record holding it is what the
    # normalizer rejects ("too many digits"), not the page.
    digits = "9" * 5000
    items = parse_json_array(f'[1, {{"big": {digits}, "n": 2}}, {{"big": -{digits}}}]'.encode())
    assert items[0] == 1
    assert str(items[1]["big"]) == digits and items[1]["n"] == 2
    assert str(items[2]["big"]) == "-" + digits


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.decimals(allow_nan=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.lists(json_values, max_size=8))
def test_any_array_decodes_to_what_loads_exact_returns(values: list[object]) -> None:
    body = json.dumps(values, default=str).encode()
    assert list(parse_json_array(body)) == loads_exact(body)
