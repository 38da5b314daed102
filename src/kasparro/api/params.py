"""Query-parameter rules shared by every list endpoint.

- Unknown parameters are rejected (422), never ignored: a typo such as ``?sybmol=BTC`` must
  not silently return unfiltered data. The allowed names come from the route's own
  signature, so documentation, validation and this check cannot drift apart.
- A non-repeatable parameter given twice is rejected instead of "last one wins".
- Sorting is an allow-list; the chosen name selects a prebuilt SQL expression and is never
  interpolated into SQL.
"""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.dependencies.models import Dependant
from pydantic import Field

from kasparro.api.errors import InvalidParameter
from kasparro.api.names import Names, member_of, names_schema
from kasparro.query import cursor as cursors
from kasparro.query.cursor import InvalidCursor, Position
from kasparro.query.keyset import SortKey

MAX_QUERY_PARAMS = 64
# The documented maximum of one repeatable parameter (`maxItems`). It must leave room under
# MAX_QUERY_PARAMS for an endpoint's other parameters, or a documented full list is refused:
# it was 100, and the schemathesis fuzz test found `?source=...` x 100 rejected with 422.
MAX_LIST_VALUES = 50

# Cached on the route object itself (routes are unhashable; apps come and go in tests).
_CACHE_ATTR = "_kasparro_query_names"


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_sequence(arg) for arg in typing.get_args(annotation))
    if origin is Annotated:
        return _is_sequence(typing.get_args(annotation)[0])
    return False


def _query_names(dependant: Dependant) -> tuple[frozenset[str], frozenset[str]]:
    names: set[str] = set()
    repeatable: set[str] = set()
    stack = [dependant]
    while stack:
        dep = stack.pop()
        for field in dep.query_params:
            names.add(field.alias)
            if _is_sequence(field.field_info.annotation):
                repeatable.add(field.alias)
        stack.extend(dep.dependencies)
    return frozenset(names), frozenset(repeatable)


async def strict_query(request: Request) -> None:
    """Router dependency: 422 on unknown, repeated or too many query parameters."""
    items = request.query_params.multi_items()
    if not items:
        return
    if len(items) > MAX_QUERY_PARAMS:
        # A limit across parameters, which the schema cannot state per parameter: typed so
        # clients (and the fuzz test) can tell it from a bad value.
        raise InvalidParameter(
            f"too many query parameters ({len(items)} > {MAX_QUERY_PARAMS})",
            details=[
                {
                    "loc": "query",
                    "message": f"at most {MAX_QUERY_PARAMS} query parameters in all",
                    "type": "too_many_parameters",
                }
            ],
        )
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    cached = getattr(route, _CACHE_ATTR, None)
    if cached is None:
        cached = _query_names(dependant)
        setattr(route, _CACHE_ATTR, cached)
    allowed, repeatable = cached
    seen: dict[str, int] = {}
    for name, _ in items:
        seen[name] = seen.get(name, 0) + 1
    unknown = sorted(n for n in seen if n not in allowed)
    if unknown:
        raise InvalidParameter(
            f"unknown query parameter{'s' if len(unknown) > 1 else ''}: "
            f"{', '.join(repr(n[:64]) for n in unknown)}; allowed: {', '.join(sorted(allowed))}",
            details=[
                {
                    "loc": f"query.{n[:64]}",
                    "message": "unknown parameter",
                    "type": "extra_forbidden",
                }
                for n in unknown
            ],
        )
    repeated = sorted(n for n, c in seen.items() if c > 1 and n not in repeatable)
    if repeated:
        raise InvalidParameter(
            f"query parameter{'s' if len(repeated) > 1 else ''} given more than once: "
            f"{', '.join(repeated)}",
            details=[
                {"loc": f"query.{n}", "message": "given more than once", "type": "repeated"}
                for n in repeated
            ],
        )


# --- reusable parameter declarations (documented once, used by several routes) -------------


# Source names, all from the app's registry (api.names): a run's name (market, reference and
# history runs: runs, drift, quarantine), the names observations and asset mappings carry,
# what a trigger or a backfill may name (a source, or one backfill provider, or `all`).
RunName = Annotated[str, member_of(Names.RUN), names_schema(Names.RUN)]
ObservationSource = Annotated[str, member_of(Names.OBSERVATION), names_schema(Names.OBSERVATION)]
TriggerName = Annotated[str, member_of(Names.TRIGGER), names_schema(Names.TRIGGER)]
BackfillName = Annotated[str, member_of(Names.BACKFILL), names_schema(Names.BACKFILL)]
SymbolText = Annotated[str, Field(min_length=1, max_length=64)]

Order = Literal["asc", "desc"]

LimitParam = Annotated[
    int,
    Query(ge=1, le=1000, description="Page size (1-1000).", examples=[100]),
]
CURSOR_DOC = (
    "Opaque `meta.next_cursor` of the previous page (unpadded base64url): only a cursor this "
    "API issued, with the same sort, order and filters, is accepted; any other is rejected "
    "with 422 (type `cursor`)."
)
CursorParam = Annotated[
    str | None,
    Query(
        min_length=cursors.MIN_CURSOR_CHARS,
        max_length=cursors.MAX_CURSOR_CHARS,
        pattern=cursors.CURSOR_PATTERN,
        description=CURSOR_DOC,
    ),
]
OrderParam = Annotated[
    Order | None,
    Query(description="Sort direction; alternatively prefix `sort` with `-` for descending."),
]
SourcesParam = Annotated[
    list[RunName] | None,
    Query(
        max_length=MAX_LIST_VALUES,
        description="Source name; repeat for several (`source=coingecko&source=csv`).",
        examples=[["coingecko"]],
    ),
]
SymbolsParam = Annotated[
    list[SymbolText] | None,
    Query(
        max_length=MAX_LIST_VALUES,
        description="Ticker symbol, ASCII case-insensitive, "
        "matched against the canonical symbol and every source's symbol; repeatable.",
        examples=[["BTC"]],
    ),
]


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def time_range(
    since: datetime | None, until: datetime | None
) -> tuple[datetime | None, datetime | None]:
    since, until = as_utc(since), as_utc(until)
    if since is not None and until is not None and since >= until:
        raise InvalidParameter(
            "'since' must be earlier than 'until'",
            details=[{"loc": "query.since", "message": "since >= until", "type": "range"}],
        )
    return since, until


def parse_sort(
    sort: str | None, order: Order | None, *, allowed: tuple[str, ...], default: tuple[str, bool]
) -> tuple[str, bool]:
    """(field, descending) from ``sort=field|-field`` and optional ``order=asc|desc``."""
    if sort is None:
        field, descending = default
        if order is not None:
            descending = order == "desc"
        return field, descending
    descending = sort.startswith("-")
    field = sort[1:] if descending else sort
    if field not in allowed:
        raise InvalidParameter(
            f"cannot sort by {field[:64]!r}; allowed: {', '.join(allowed)}",
            details=[{"loc": "query.sort", "message": "not an allowed sort field", "type": "enum"}],
        )
    if order is not None:
        if descending and order == "asc":
            raise InvalidParameter(
                "'sort=-field' and 'order=asc' contradict each other",
                details=[
                    {
                        "loc": "query.order",
                        "message": "contradicts the '-' of sort",
                        "type": "conflict",
                    }
                ],
            )
        descending = descending or order == "desc"
    return field, descending


def decode_cursor(token: str | None, *, scope: str, key: SortKey) -> Position | None:
    if token is None:
        return None
    try:
        return cursors.decode(token, scope=scope, kind=key.kind, nullable=key.nullable)
    except InvalidCursor as exc:
        raise InvalidParameter(
            f"invalid cursor: {exc}",
            details=[{"loc": "query.cursor", "message": str(exc), "type": "cursor"}],
        ) from None


def encode_cursor(scope: str, position: Position | None) -> str | None:
    return cursors.encode(scope, position) if position is not None else None
