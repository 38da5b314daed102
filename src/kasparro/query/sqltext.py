"""Dialect-aware SQL expressions that render exact JSON-ready text.

- Decimals: SQLite already stores the canonical exponent-free text written by
  ``ExactDecimal`` (``decimal_text``); PostgreSQL ``NUMERIC`` is rendered with
  ``trim_scale(x)::text``, which never uses exponent notation and drops trailing zeros, so
  both dialects produce byte-identical strings (``1e-10`` -> ``"0.0000000001"``).
- Timestamps: RFC 3339 UTC with microseconds, ``2024-05-01T12:00:00.000000Z``. SQLite stores
  ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLAlchemy's fixed-width storage format, naive UTC);
  PostgreSQL formats ``timestamptz`` at UTC with ``to_char``.
- Sorting decimals on SQLite: stored text does not sort numerically, so the sort key is
  ``CAST(x AS REAL)``, used identically in ORDER BY and in keyset predicates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import String, Text, cast, func, literal_column, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from kasparro.store.dialect import decimal_sort as decimal_sort
from kasparro.store.types import decimal_text

PG_TS_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def decimal_out(col: ColumnElement[Any], dialect: str) -> ColumnElement[str]:
    if dialect == "sqlite":
        return type_coerce(col, String())
    return cast(func.trim_scale(col), Text)


def timestamp_out(col: ColumnElement[Any], dialect: str) -> ColumnElement[str]:
    if dialect == "sqlite":
        # Constants are inlined (not bound) so statements stay parameter-minimal.
        return func.replace(
            type_coerce(col, String()), literal_column("' '"), literal_column("'T'")
        ).concat(literal_column("'Z'"))
    return func.to_char(
        func.timezone(literal_column("'UTC'"), col), literal_column(f"'{PG_TS_FORMAT}'")
    )


def iso(value: datetime) -> str:
    """Python twin of ``timestamp_out`` for values already loaded as datetimes."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_default(value: Any) -> Any:
    """``orjson`` fallback used with OPT_PASSTHROUGH_DATETIME: one format everywhere."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Decimal):
        return decimal_text(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
