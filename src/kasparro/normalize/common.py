"""Exact JSON parsing and the per-value validators shared by every normalizer.

All validators raise :class:`InvalidValue` carrying a short, stable reason such as
``"price_usd: negative"``; normalizers turn that into a :class:`~kasparro.models.Rejection`.
They are plain functions on the hot path (100k+ rows per run), so type checks use
``type(x) is ...`` and regexes are compiled once.

Field labels used in reasons are the canonical ``MarketRecord`` names for numbers
(``price_usd``, ``market_cap_usd``, ...) and the names every source shares for text and time
(``id``, ``symbol``, ``name``, ``last_updated``), so one reason means the same thing whichever
source produced it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import msgspec

__all__ = [
    "CHANGE_PCT_BOUND",
    "MARKET_BOUND",
    "MAX_ID_CHARS",
    "MAX_NAME_CHARS",
    "MAX_SYMBOL_CHARS",
    "PRICE_BOUND",
    "RANK_BOUND",
    "SUPPLY_BOUND",
    "InvalidValue",
    "bounded",
    "decimal_from_text",
    "loads_exact",
    "optional_number",
    "optional_text",
    "parse_timestamp",
    "rank_from_number",
    "require_text",
    "required_number",
    "to_decimal",
    "to_rank",
    "type_name",
]

PRICE_BOUND: Final = Decimal("1e9")
MARKET_BOUND: Final = Decimal("1e16")  # market cap and 24h volume
SUPPLY_BOUND: Final = Decimal("1e30")
# Not a plausibility check (junk tokens really report +2.2e8 %): it only keeps the value
# representable, since an exponent of 1e6 would render as a megabyte of digits downstream.
CHANGE_PCT_BOUND: Final = Decimal("1e18")
# Same reason on the small side: a nonzero 1e-999999 would expand to a million zeros.
_SMALLEST_NONZERO_EXP: Final = -30
RANK_BOUND: Final = 10_000_000

# Column widths of the store (assets/observations); longer values would fail the insert.
MAX_ID_CHARS: Final = 300
MAX_SYMBOL_CHARS: Final = 64
MAX_NAME_CHARS: Final = 300

# JSON and CSV numbers longer than this are not market data; refusing them keeps a hostile
# body from pushing huge Decimals into the store.
_MAX_NUMBER_TEXT: Final = 80

_EARLIEST_YEAR: Final = 2009  # the genesis block; nothing observed before it is a market quote
_LATEST_YEAR: Final = 2099


class InvalidValue(ValueError):
    """A value failed validation; ``reason`` is the short, stable text stored in quarantine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def type_name(value: object) -> str:
    """JSON-flavoured type name for reasons (``null`` rather than ``NoneType``)."""
    if value is None:
        return "null"
    if type(value) is _OverlongNumber:
        return "Decimal"
    return type(value).__name__


# --- exact JSON -------------------------------------------------------------------------


class _OverlongNumber(Decimal):
    """A JSON number whose text was too long: kept exact for quarantine, rejected by type."""

    __slots__ = ()


_NAN: Final = Decimal("NaN")
_CONSTANTS: Final = {
    "NaN": _NAN,
    "Infinity": Decimal("Infinity"),
    "-Infinity": Decimal("-Infinity"),
}


def _parse_float(text: str) -> Decimal:
    if len(text) > _MAX_NUMBER_TEXT:
        return _OverlongNumber(text)
    return Decimal(text)


def _parse_int(text: str) -> int | Decimal:
    # An integer too long for int() (over sys.get_int_max_str_digits(), 4300 by default)
    # would make the whole body undecodable; kept as text instead, it is one record's
    # "too many digits" rejection. Shorter ones stay int, as msgspec leaves them.
    try:
        return int(text)
    except ValueError:
        return _OverlongNumber(text)


def _parse_constant(text: str) -> Decimal:
    # json only calls this for the three non-standard literals; keep them visible as
    # non-finite Decimals so to_decimal rejects them instead of letting float('nan') through.
    return _CONSTANTS.get(text, _NAN)


_decoder: Final = json.JSONDecoder(
    parse_float=_parse_float, parse_int=_parse_int, parse_constant=_parse_constant
)
# msgspec first: it builds the same values (its float_hook receives the number's text) about
# 3x faster than the stdlib scanner and with less garbage. It only accepts strict UTF-8 JSON;
# anything else (NaN literals, a BOM, UTF-16, lone surrogates, integers over 4300 digits) goes
# to the stdlib decoder, which defines the behaviour for those bodies.
_fast_decoder: Final = msgspec.json.Decoder(float_hook=_parse_float)


def loads_exact(body: bytes | str | msgspec.Raw) -> Any:
    """Parse JSON with every non-integer number as an exact ``Decimal`` built from its text.

    ``NaN`` / ``Infinity`` / ``-Infinity`` literals become non-finite Decimals, which
    :func:`to_decimal` rejects as ``"<field>: not finite"``. Integers stay ``int`` (one too long
    for ``int()``, over 4300 digits, is kept as its text and rejected as too many digits).
    Raises ``ValueError`` (``json.JSONDecodeError``, ``UnicodeDecodeError``, or plain
    ``ValueError`` for absurd nesting) on a malformed body: that is a page-level failure,
    not a row rejection.

    ``body`` may also be one element of an array ``parse_json_array`` already validated (a
    ``msgspec.Raw`` view): what only decoding checks there, such as an integer over 4300
    digits, takes the same stdlib path, so it becomes one record's rejection, not the page's.
    """
    try:
        return _fast_decoder.decode(body)
    except msgspec.DecodeError:
        pass
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    return _loads_exact_stdlib(bytes(body) if type(body) is msgspec.Raw else body)


def _loads_exact_stdlib(body: bytes | str) -> Any:
    if isinstance(body, bytes | bytearray):
        # Same detection json.loads does (UTF-8/16/32, BOM); the shared decoder takes str.
        body = body.decode(json.detect_encoding(body), "surrogatepass")
    try:
        return _decoder.decode(body)
    except RecursionError:
        # A hostile body must fail like any other malformed one, not as a crash.
        raise ValueError("JSON nested too deeply") from None


# --- numbers ----------------------------------------------------------------------------


_ZERO: Final = Decimal(0)


def to_decimal(value: Any, field: str) -> Decimal:
    """A JSON number (``int`` or exact ``Decimal``) as a finite Decimal.

    Rejects strings, booleans, floats (their digits are no longer the upstream's text: parse
    bodies with :func:`loads_exact`), NaN and infinities.
    """
    kind = type(value)
    if kind is Decimal:
        if value.is_finite():
            return value
        raise InvalidValue(f"{field}: not finite")
    if kind is int:
        return Decimal(value)
    if kind is _OverlongNumber:
        raise InvalidValue(f"{field}: too many digits")
    if kind is float:
        raise InvalidValue(f"{field}: inexact float (parse JSON with loads_exact)")
    raise InvalidValue(f"{field}: expected a number, got {type_name(value)}")


def bounded(value: Decimal, field: str, bound: Decimal, *, signed: bool = False) -> Decimal:
    """Check ``value`` against ``[0, bound]`` (or ``[-bound, bound]`` when ``signed``).

    ``-0`` comes back as ``0`` so the store never shows a signed zero.
    """
    if not value:
        return _ZERO
    if value < 0:
        if not signed:
            raise InvalidValue(f"{field}: negative")
        if -value > bound:
            raise InvalidValue(f"{field}: exceeds bound {_bound_text(bound)}")
    elif value > bound:
        raise InvalidValue(f"{field}: exceeds bound {_bound_text(bound)}")
    if value.adjusted() < _SMALLEST_NONZERO_EXP:
        raise InvalidValue(f"{field}: nonzero below 1e{_SMALLEST_NONZERO_EXP}")
    return value


def required_number(value: Any, field: str, bound: Decimal) -> Decimal:
    """A required non-negative JSON number within ``bound``."""
    if value is None:
        raise InvalidValue(f"missing required field: {field}")
    return bounded(to_decimal(value, field), field, bound)


def optional_number(
    value: Any, field: str, bound: Decimal, *, signed: bool = False
) -> Decimal | None:
    """An optional JSON number: ``null`` is ``None``, anything present must be valid."""
    if value is None:
        return None
    return bounded(to_decimal(value, field), field, bound, signed=signed)


def _bound_text(bound: Decimal) -> str:
    return f"1e{bound.adjusted()}"


# Plain decimal text only: Decimal() itself would also accept "1_000", "nan", "Infinity",
# " 12 " and non-ASCII digits, none of which is a number in a market-data file.
_DECIMAL_TEXT: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_NON_FINITE_TEXT: Final = frozenset(
    {"nan", "snan", "inf", "infinity", "+nan", "-nan", "+inf", "-inf", "+infinity", "-infinity"}
)


def decimal_from_text(text: str | None, field: str) -> Decimal | None:
    """Exact Decimal from decimal text (scientific notation allowed); blank means ``None``."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    if len(text) > _MAX_NUMBER_TEXT:
        raise InvalidValue(f"{field}: too many digits")
    if _DECIMAL_TEXT.fullmatch(text):
        return Decimal(text)
    if text.lower() in _NON_FINITE_TEXT:
        raise InvalidValue(f"{field}: not finite")
    raise InvalidValue(f"{field}: not a decimal number")


def to_rank(value: Any, field: str = "market_cap_rank") -> int | None:
    """A JSON rank: ``null`` or a positive integer (an integral number such as ``5.0`` too)."""
    if value is None:
        return None
    if type(value) is int:
        if value <= 0:
            raise InvalidValue(f"{field}: not positive")
        if value > RANK_BOUND:
            raise InvalidValue(f"{field}: exceeds bound {RANK_BOUND}")
        return value
    return rank_from_number(to_decimal(value, field), field)


def rank_from_number(value: Decimal | None, field: str = "market_cap_rank") -> int | None:
    """A rank is a positive integer; an integral Decimal such as ``5.0`` is accepted."""
    if value is None:
        return None
    if value != value.to_integral_value():
        raise InvalidValue(f"{field}: not an integer")
    if value <= 0:
        raise InvalidValue(f"{field}: not positive")
    if value > RANK_BOUND:
        raise InvalidValue(f"{field}: exceeds bound {RANK_BOUND}")
    return int(value)


# --- text -------------------------------------------------------------------------------

# NUL cannot be stored in PostgreSQL text, lone surrogates cannot be encoded as UTF-8, and
# other control characters in a symbol or name are always transport damage.
_BAD_CHARS: Final = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def require_text(value: Any, field: str, max_chars: int, *, strip: bool) -> str:
    """A required, non-blank string; ``strip`` trims display fields, ids stay verbatim."""
    if value is None:
        raise InvalidValue(f"missing required field: {field}")
    if type(value) is not str:
        raise InvalidValue(f"{field}: expected a string, got {type_name(value)}")
    text = value.strip() if strip else value
    if not text or (not strip and not text.strip()):
        raise InvalidValue(f"{field}: empty")
    if len(text) > max_chars:
        raise InvalidValue(f"{field}: longer than {max_chars} characters")
    if _BAD_CHARS.search(text):
        raise InvalidValue(f"{field}: contains control characters")
    return text


def optional_text(value: Any) -> str | None:
    """``value`` if it is a usable id for ``Rejection.source_asset_id``, else ``None``."""
    if type(value) is str and value.strip() and len(value) <= MAX_ID_CHARS:
        return storable_text(value)
    return None


def storable_text(value: str) -> str:
    """``value`` as text that every store and log accepts. JSON can escape a lone UTF-16
    surrogate (``"\\ud800"``); Python decodes it, but UTF-8 cannot encode it, so PostgreSQL,
    SQLite and orjson all refuse such a string. Those code points are written back as their
    ``\\ud800`` escape (only ids and field names of rejected or drifting records get here:
    the normalizers reject surrogates in the values they accept)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


# --- timestamps -------------------------------------------------------------------------

# RFC 3339 / ISO 8601 with a mandatory offset: CoinGecko sends milliseconds
# (2022-02-23T11:23:11.426Z), CoinPaprika whole seconds (2022-04-19T15:43:22Z). The regex
# decides what is accepted; datetime.fromisoformat (C, ~4x faster than building from groups)
# only does the arithmetic, so its own leniencies (offset minutes of 75) never get through.
_TIMESTAMP: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:?[0-5]\d)",
    re.ASCII,
)


def parse_timestamp(value: Any, field: str = "last_updated") -> datetime:
    """A timezone-aware UTC datetime from an ISO-8601 string with ``Z`` or a numeric offset.

    Fractions beyond microseconds are truncated (never rounded into the next second).
    Naive timestamps, dates without a time, unix numbers and years outside 2009-2099 are
    rejected.
    """
    if value is None:
        raise InvalidValue(f"missing required field: {field}")
    if type(value) is not str:
        raise InvalidValue(f"{field}: expected a timestamp string, got {type_name(value)}")
    text = value.strip()
    if _TIMESTAMP.fullmatch(text) is None:
        raise InvalidValue(f"{field}: not an ISO-8601 timestamp with timezone")
    try:
        parsed = datetime.fromisoformat(text.upper())
        if parsed.tzinfo is not UTC:
            parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidValue(f"{field}: invalid date or time") from None
    if not _EARLIEST_YEAR <= parsed.year <= _LATEST_YEAR:
        raise InvalidValue(f"{field}: out of range")
    return parsed
