"""Rows of a lake table as Arrow tables, with exact decimals.

Exact decimal columns become ``decimal128(38, scale)`` (scales in ``tables``). A value its
column cannot hold exactly is written as its exact text in the row's ``overflow`` column (a
JSON object, column -> decimal text) and its decimal column is null. Readers that need every
value exactly take ``coalesce(CAST(price_usd AS VARCHAR), overflow->>'price_usd')``
(DuckDB), the README shows it.

The database hands decimals over as their plain text (``repository``), and timestamps on
SQLite as their stored text: Arrow converts whole columns at once, about ten times faster
than building ``Decimal`` and ``datetime`` objects per value. Which values fit is decided
here, not by Arrow: its conversions check for lost digits only within 38 digits and silently
write 0 for some longer values (pyarrow 26, from ``Decimal`` or text: ``tests/lake``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeAlias

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text

from kasparro.lake.tables import LakeTable
from kasparro.store.types import ExactDecimal, UTCDateTime, decimal_text

DECIMAL_PRECISION = 38
_ZERO = Decimal(0)
OVERFLOW = "overflow"


def column_type(table: LakeTable, name: str) -> pa.DataType:
    sql_type = table.column(name).type
    if isinstance(sql_type, ExactDecimal):
        if name not in table.decimals:
            raise ValueError(f"{table.name}.{name}: declare its decimal128 scale")
        return pa.decimal128(DECIMAL_PRECISION, table.decimals[name])
    if isinstance(sql_type, UTCDateTime | DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(sql_type, BigInteger):
        return pa.int64()
    if isinstance(sql_type, Integer):
        # BigId is INTEGER on SQLite only (its rowid alias); ids are 64-bit everywhere.
        return pa.int64() if name == "id" or name.endswith("_id") else pa.int32()
    if isinstance(sql_type, Boolean):
        return pa.bool_()
    if isinstance(sql_type, String | Text):
        return pa.string()
    raise ValueError(f"{table.name}.{name}: no Arrow type for {sql_type!r}")


def schema(table: LakeTable) -> pa.Schema:
    fields = [pa.field(c, column_type(table, c)) for c in table.columns]
    if table.decimals:
        fields.append(pa.field(OVERFLOW, pa.string()))
    return pa.schema(fields)


# Sign, integer digits without leading zeros, fractional digits without trailing zeros.
_PARTS = r"^-?0*(?P<int>\d*)(?:\.(?P<frac>\d*?)0*)?$"
# Plain text no longer than this has at most 38 digits, all of which Arrow parses exactly.
_SAFE_TEXT = DECIMAL_PRECISION + 1


def _first(values: Sequence[Any]) -> Any:
    return next((v for v in values if v is not None), None)


Column: TypeAlias = "pa.Array | Sequence[Any]"


def _texts(values: Column) -> pa.Array:
    """A column is an Arrow string array (the PostgreSQL export), or all text (SQLite) or
    all ``Decimal`` (other callers)."""
    if isinstance(values, pa.Array):
        return values
    if isinstance(_first(values), Decimal):
        values = [None if v is None else decimal_text(v) for v in values]
    return pa.array(values, pa.string())


def _decimal_column(
    values: Column, typ: pa.Decimal128Type, name: str, overflow: list[dict[str, str] | None]
) -> pa.Array:
    """``values`` (plain decimal text or ``Decimal``) as a decimal128 column; a value it
    cannot hold exactly goes to ``overflow``."""
    texts = _texts(values)
    parts = pc.extract_regex(texts, _PARTS)
    int_len = pc.utf8_length(pc.struct_field(parts, "int"))
    frac_len = pc.utf8_length(pc.struct_field(parts, "frac"))
    plain = pc.and_(
        pc.less_equal(frac_len, typ.scale),
        pc.less_equal(int_len, DECIMAL_PRECISION - typ.scale),
    )
    ok = pc.and_(plain, pc.less_equal(pc.utf8_length(texts), _SAFE_TEXT))
    # Null for a null value; false for text the pattern does not read (an exponent).
    suspect = pc.invert(pc.fill_null(ok, False))
    suspect = pc.and_(suspect, pc.is_valid(texts))
    if pc.any(suspect).as_py():
        fixed = texts.to_pylist()
        for i in pc.indices_nonzero(suspect).to_pylist():
            value = Decimal(fixed[i])
            if fits(value, typ.scale):
                fixed[i] = decimal_text(value)  # trailing zeros or an exponent gone
                continue
            fixed[i] = None
            extra = overflow[i]
            if extra is None:
                extra = overflow[i] = {}
            extra[name] = decimal_text(value)
        texts = pa.array(fixed, pa.string())
    return pc.cast(texts, typ)


def _timestamp_column(values: Column, typ: pa.DataType) -> pa.Array:
    if isinstance(values, pa.Array):  # PostgreSQL: microseconds since the epoch
        return pc.cast(values, typ)
    if isinstance(_first(values), str):  # SQLite: naive UTC text
        return pc.cast(pc.cast(pa.array(values, pa.string()), pa.timestamp("us")), typ)
    return pa.array(values, typ)


def fits(value: Decimal, scale: int) -> bool:
    """``value`` is exactly a ``decimal128(38, scale)``. (Not via ``normalize()``: it rounds
    to the context's 28 digits.)"""
    if not value.is_finite():
        return False
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if not any(digits):
        return True
    trailing = 0
    for d in reversed(digits):
        if d:
            break
        trailing += 1
    exponent += trailing
    significant = len(digits) - trailing
    if exponent < -scale:
        return False
    return significant + exponent <= DECIMAL_PRECISION - scale


def to_arrow(table: LakeTable, rows: Sequence[Sequence[Any]]) -> pa.Table:
    """``rows`` (values in ``table.columns`` order) as an Arrow table of :func:`schema`."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in table.columns]
    return columns_to_arrow(table, columns, len(rows))


def columns_to_arrow(table: LakeTable, columns: Sequence[Column], length: int) -> pa.Table:
    """Columns in ``table.columns`` order (lists of values, or Arrow arrays as the CSV of a
    PostgreSQL ``COPY`` reads: decimals as text, timestamps as epoch microseconds)."""
    target = schema(table)
    overflow: list[dict[str, str] | None] = [None] * length
    arrays: list[pa.Array] = []
    for name, values in zip(table.columns, columns, strict=True):
        typ = target.field(name).type
        if isinstance(typ, pa.Decimal128Type):
            arrays.append(_decimal_column(values, typ, name, overflow))
        elif pa.types.is_timestamp(typ):
            arrays.append(_timestamp_column(values, typ))
        elif isinstance(values, pa.Array):
            arrays.append(values.cast(typ))
        else:
            arrays.append(pa.array(values, typ))
    if table.decimals:
        arrays.append(
            pa.array(
                [None if o is None else orjson.dumps(o).decode() for o in overflow], pa.string()
            )
        )
    return pa.Table.from_arrays(arrays, schema=target)


def csv_types(table: LakeTable) -> dict[str, pa.DataType]:
    """How the CSV of a PostgreSQL ``COPY`` of the table's export query is read."""
    types: dict[str, pa.DataType] = {}
    for field in schema(table):
        if field.name == OVERFLOW:
            continue
        if pa.types.is_decimal(field.type):
            types[field.name] = pa.string()
        elif pa.types.is_timestamp(field.type):
            types[field.name] = pa.int64()
        else:
            types[field.name] = field.type
    return types


def read_csv(table: LakeTable, path: Path, block_bytes: int = 16 << 20) -> Iterator[pa.RecordBatch]:
    """The CSV file in batches (pyarrow's multi-threaded reader; memory stays bounded)."""
    from pyarrow import csv

    types = csv_types(table)
    reader = csv.open_csv(
        path,
        read_options=csv.ReadOptions(column_names=list(types), block_size=block_bytes),
        # COPY writes NULL unquoted and empty, an empty string quoted.
        parse_options=csv.ParseOptions(newlines_in_values=True),
        convert_options=csv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    yield from reader
