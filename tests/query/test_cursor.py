"""Cursors round-trip exactly and any modification is detected."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kasparro.query import cursor
from kasparro.query.cursor import InvalidCursor, Position

SCOPE = cursor.scope_digest("data", "price_usd", True)

values = st.one_of(
    st.tuples(st.just("datetime"), st.datetimes(timezones=st.just(UTC))),
    st.tuples(st.just("decimal"), st.decimals(allow_nan=False, allow_infinity=False)),
    st.tuples(st.just("float"), st.floats(allow_nan=False, allow_infinity=False)),
    st.tuples(st.just("int"), st.integers(-(2**62), 2**62)),
    st.tuples(st.just("str"), st.text(max_size=64)),
)


@given(kind_value=values, last_id=st.integers(0, 2**63 - 1))
def test_round_trip_is_exact(kind_value: tuple[str, object], last_id: int) -> None:
    kind, value = kind_value
    token = cursor.encode(SCOPE, Position(value, last_id))
    back = cursor.decode(token, scope=SCOPE, kind=kind, nullable=False)  # type: ignore[arg-type]
    assert back.id == last_id
    assert back.value == value
    assert type(back.value) is type(value) or kind == "float"


def test_null_value_only_for_nullable_keys() -> None:
    token = cursor.encode(SCOPE, Position(None, 5))
    assert cursor.decode(token, scope=SCOPE, kind="int", nullable=True) == Position(None, 5)
    with pytest.raises(InvalidCursor, match="may not be null"):
        cursor.decode(token, scope=SCOPE, kind="int", nullable=False)


def test_every_single_character_change_is_rejected() -> None:
    token = cursor.encode(SCOPE, Position(Decimal("63000.5"), 1234))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, ch in enumerate(token):
        replacement = alphabet[(alphabet.index(ch) + 1) % len(alphabet)]
        tampered = token[:i] + replacement + token[i + 1 :]
        with pytest.raises(InvalidCursor):
            cursor.decode(tampered, scope=SCOPE, kind="decimal", nullable=True)


def test_truncated_extended_and_garbage_cursors_are_rejected() -> None:
    token = cursor.encode(SCOPE, Position(3, 9))
    for bad in (token[:-3], token + "AA", "", "!!!!", "a" * 2000, "e30"):
        with pytest.raises(InvalidCursor):
            cursor.decode(bad, scope=SCOPE, kind="int", nullable=False)


def test_cursor_is_bound_to_its_query_scope() -> None:
    token = cursor.encode(SCOPE, Position(3, 9))
    other = cursor.scope_digest("data", "price_usd", False)
    with pytest.raises(InvalidCursor, match="different query"):
        cursor.decode(token, scope=other, kind="int", nullable=False)


def test_wrong_value_type_for_the_sort_is_rejected() -> None:
    token = cursor.encode(SCOPE, Position("not a number", 9))
    with pytest.raises(InvalidCursor, match="decimal"):
        cursor.decode(token, scope=SCOPE, kind="decimal", nullable=False)
    naive = cursor.encode(SCOPE, Position(datetime(2024, 1, 1), 9))
    with pytest.raises(InvalidCursor, match="UTC offset"):
        cursor.decode(naive, scope=SCOPE, kind="datetime", nullable=False)


def test_forged_payload_without_valid_mac_is_rejected() -> None:
    body = b'[1,"' + SCOPE.encode() + b'",1,1]'
    forged = base64.urlsafe_b64encode(b"\x00" * 8 + body).rstrip(b"=").decode()
    with pytest.raises(InvalidCursor, match="integrity"):
        cursor.decode(forged, scope=SCOPE, kind="int", nullable=False)


def test_timestamps_keep_microseconds() -> None:
    at = datetime(2024, 5, 1, 12, tzinfo=UTC) + timedelta(microseconds=7)
    token = cursor.encode(SCOPE, Position(at, 1))
    assert cursor.decode(token, scope=SCOPE, kind="datetime", nullable=False).value == at
