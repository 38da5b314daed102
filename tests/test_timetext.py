"""The instants a query parameter may name (``timetext.parse_instant``): the documented forms
as aware UTC datetimes, anything else refused with the reason's kind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kasparro.timetext import INSTANT_MESSAGE, WhenError, parse_instant


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("1714564800", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("1714564800.5", datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_documented_forms_are_utc(text: str, expected: datetime) -> None:
    value = parse_instant(text)
    assert value == expected and value.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("yesterday", "datetime_parsing"),
        ("2024-02-30", "datetime_parsing"),  # the pattern's form, not on the calendar
        ("0001-01-01T00:00:00+05:00", "datetime_range"),
        ("9999-12-31T23:00:00-05:00", "datetime_range"),
    ],
)
def test_other_texts_are_refused_with_their_kind(text: str, kind: str) -> None:
    with pytest.raises(WhenError) as info:
        parse_instant(text)
    assert info.value.kind == kind
    if kind == "datetime_parsing":
        assert str(info.value) == INSTANT_MESSAGE
