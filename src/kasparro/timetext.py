"""The date and time texts a user may write: API query parameters (``since``/``until``),
backfill bounds (API body and CLI), the bounds of ``kasparro rates recompute``.

One pattern per use, published in the OpenAPI document and enforced by the parsers before
anything else, so what is documented is exactly what is parsed. Each accepted text is one
that ``datetime.fromisoformat`` reads (or unix seconds, or a duration); the patterns also
bound every field (months 01-12, hours 00-23, ...), so only a date that is not on the
calendar (2024-02-30) passes a pattern and is then refused by the parser.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

DATE: Final = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
TIME: Final = r"([01][0-9]|2[0-3])(:[0-5][0-9](:[0-5][0-9]([.,][0-9]{1,6})?)?)?"
OFFSET: Final = r"(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)"
# A date (midnight), or a date and time with an optional offset (none: UTC).
ISO: Final = rf"{DATE}([T ]{TIME}{OFFSET}?)?"
UNIX_SECONDS: Final = r"-?[0-9]{1,10}(\.[0-9]{1,6})?"
# Before `until`: days, hours or minutes (five digits: 273 years at most).
DURATION: Final = r"[0-9]{1,5}[dhm]"

INSTANT_PATTERN: Final = rf"^({ISO}|{UNIX_SECONDS})$"
WHEN_PATTERN: Final = rf"^(now|{DURATION}|{ISO})$"

# What a value that is not one of them is told (the API's 422s, whichever route parses it).
INSTANT_MESSAGE: Final = (
    "Input should be an ISO 8601 date or date-time (e.g. 2024-05-01T12:00:00Z; no offset "
    "means UTC) or unix seconds"
)
WHEN_MESSAGE: Final = (
    "not a date, timestamp or duration (e.g. 7d, 2024-05-01, 2024-05-01T00:00:00Z)"
)

INSTANT: Final = re.compile(INSTANT_PATTERN)
WHEN: Final = re.compile(WHEN_PATTERN)
UNIX: Final = re.compile(rf"^{UNIX_SECONDS}$")
_DURATION: Final = re.compile(r"^(\d+)([dhm])$")


class WhenError(ValueError):
    """A text :func:`parse_when` does not read. ``kind`` names the problem as an API error's
    details do: ``datetime_parsing`` (not a date, timestamp or duration) or
    ``datetime_range`` (outside the years 1..9999)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def parse_instant(text: str) -> datetime:
    """A text of ``INSTANT_PATTERN`` (an ISO 8601 date or time, no offset meaning UTC, or
    unix seconds) as an aware UTC datetime. ``WhenError``: ``datetime_parsing`` for any other
    text or a date not on the calendar, ``datetime_range`` for one outside the years
    1..9999 once in UTC (an offset can push the first or last day out)."""
    if not INSTANT.fullmatch(text):
        raise WhenError(INSTANT_MESSAGE, "datetime_parsing")
    try:
        if UNIX.fullmatch(text):
            return datetime.fromtimestamp(float(text), UTC)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise WhenError(INSTANT_MESSAGE, "datetime_parsing") from None
    except (OverflowError, OSError):
        raise WhenError(f"outside the years 1..9999: {text!r}", "datetime_range") from None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise WhenError(f"outside the years 1..9999: {text!r}", "datetime_range") from None


def parse_when(text: str, *, relative_to: datetime) -> datetime:
    """``now``, ``365d`` / ``12h`` / ``30m`` (before ``relative_to``), a date (00:00 UTC) or
    an ISO-8601 timestamp (UTC when it has no offset): what ``WHEN_PATTERN`` documents."""
    text = text.strip()
    if not WHEN.fullmatch(text):
        # Nothing beyond what the API documents (fromisoformat reads more forms).
        raise WhenError(f"not a date, timestamp or duration: {text[:64]!r}", "datetime_parsing")
    if text == "now":
        return relative_to
    match = _DURATION.match(text)
    try:
        if match:
            amount, unit = int(match.group(1)), match.group(2)
            delta = {"d": timedelta(days=amount), "h": timedelta(hours=amount)}.get(
                unit, timedelta(minutes=amount)
            )
            return relative_to - delta
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise WhenError(
                f"not a date, timestamp or duration: {text!r}", "datetime_parsing"
            ) from None
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        value.astimezone(UTC)  # an offset can push the first or last day out of range
        return value
    except OverflowError:
        raise WhenError(f"outside the years 1..9999: {text!r}", "datetime_range") from None
