"""The date and time texts a user may write: API query parameters (``since``/``until``),
backfill bounds (API body and CLI).

One pattern per use, published in the OpenAPI document and enforced by the parsers before
anything else, so what is documented is exactly what is parsed. Each accepted text is one
that ``datetime.fromisoformat`` reads (or unix seconds, or a duration); the patterns also
bound every field (months 01-12, hours 00-23, ...), so only a date that is not on the
calendar (2024-02-30) passes a pattern and is then refused by the parser.
"""

from __future__ import annotations

import re
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

INSTANT: Final = re.compile(INSTANT_PATTERN)
WHEN: Final = re.compile(WHEN_PATTERN)
UNIX: Final = re.compile(rf"^{UNIX_SECONDS}$")
