"""Keyset pagination: ORDER BY and "rows after this one" predicates that always agree.

Every sort is ``(key, id)`` with the id as tie-breaker in the same direction, so the order is
total and a page boundary is one exact position. New rows can never shift a later page (no
OFFSET), so a walk neither skips nor repeats rows that existed when it started.

Nullable keys sort NULLS LAST in both directions on both dialects (explicit ``NULLS LAST``:
PostgreSQL's default puts NULLs first for DESC, SQLite's puts them first for ASC), and the
predicate encodes the same rule: after a non-NULL value come larger/smaller values, then
every NULL; after a NULL only NULLs with a later id. Non-nullable keys use a row-value
comparison ``(key, id) < (:v, :id)``, which both planners turn into an index range scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, bindparam, or_, tuple_
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.types import TypeEngine

Kind = Literal["datetime", "decimal", "float", "int", "str"]

CURSOR_VALUE = "cur_v"
CURSOR_ID = "cur_id"


@dataclass(frozen=True, slots=True)
class SortKey:
    """A sortable expression, its tie-breaker column and how its cursor value is typed."""

    name: str
    expr: ColumnElement[Any]
    tiebreak: ColumnElement[Any]
    nullable: bool
    kind: Kind
    bind_type: TypeEngine[Any]


def order_by(key: SortKey, descending: bool) -> list[ColumnElement[Any]]:
    if descending:
        first = key.expr.desc()
        tie = key.tiebreak.desc()
    else:
        first = key.expr.asc()
        tie = key.tiebreak.asc()
    if key.nullable:
        first = first.nulls_last()
    return [first, tie]


def after(key: SortKey, descending: bool, value_is_null: bool) -> ColumnElement[bool]:
    """Rows strictly after the cursor ``(:cur_v, :cur_id)`` in ``order_by`` order."""
    last_id: BindParameter[Any] = bindparam(CURSOR_ID, type_=key.tiebreak.type)
    if value_is_null:
        if not key.nullable:
            raise ValueError(f"{key.name} is never NULL")
        later = key.tiebreak < last_id if descending else key.tiebreak > last_id
        return and_(key.expr.is_(None), later)
    value: BindParameter[Any] = bindparam(CURSOR_VALUE, type_=key.bind_type)
    if not key.nullable:
        pair = tuple_(key.expr, key.tiebreak)
        bound = tuple_(value, last_id)
        return pair < bound if descending else pair > bound
    beyond = key.expr < value if descending else key.expr > value
    tie = key.tiebreak < last_id if descending else key.tiebreak > last_id
    return or_(beyond, and_(key.expr == value, tie), key.expr.is_(None))
