"""Declarative query-string parsing for the hot endpoints.

FastAPI validates each declared query parameter through pydantic on every request, which
costs more than the rest of a cached ``/data`` request. Hot routes instead declare a
``QuerySpec``: one table that drives parsing (strict: unknown, repeated or malformed
parameters are 422 with the same error details as elsewhere) *and* the OpenAPI parameter
documentation, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

from kasparro.api.errors import InvalidParameter
from kasparro.api.names import MARKER, Names, current_allowed
from kasparro.api.params import MAX_LIST_VALUES, MAX_QUERY_PARAMS
from kasparro.timetext import INSTANT_PATTERN, WhenError, parse_instant

Kind = Literal["int", "str", "bool", "datetime", "enum", "names"]
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: Kind
    description: str
    default: Any = None
    repeatable: bool = False
    max_items: int = MAX_LIST_VALUES
    ge: int | None = None
    le: int | None = None
    min_length: int = 1  # text parameters: never empty
    max_length: int | None = None
    pattern: str | None = None
    choices: tuple[str, ...] = ()
    names: Names | None = None  # kind "names": source names from the app's registry
    example: Any = None

    def parse(self, raw: str) -> Any:
        """The typed value, or raise ValueError(message, type)."""
        if self.kind == "int":
            try:
                value = int(raw)
            except ValueError:
                raise _Bad("Input should be a valid integer", "int_parsing") from None
            if self.ge is not None and value < self.ge:
                raise _Bad(
                    f"Input should be greater than or equal to {self.ge}", "greater_than_equal"
                )
            if self.le is not None and value > self.le:
                raise _Bad(f"Input should be less than or equal to {self.le}", "less_than_equal")
            return value
        if self.kind == "bool":
            lowered = raw.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise _Bad("Input should be a valid boolean (true/false)", "bool_parsing")
        if self.kind == "datetime":
            return _parse_datetime(raw)
        if self.kind == "enum":
            if raw not in self.choices:
                raise _Bad("Input should be " + ", ".join(repr(c) for c in self.choices), "enum")
            return raw
        if self.kind == "names":
            assert self.names is not None
            allowed = current_allowed(self.names)
            if raw not in allowed:
                raise _Bad("Input should be " + ", ".join(repr(c) for c in allowed), "enum")
            return raw
        if len(raw) < self.min_length:
            plural = "s" if self.min_length > 1 else ""
            raise _Bad(
                f"String should have at least {self.min_length} character{plural}",
                "string_too_short",
            )
        if self.max_length is not None and len(raw) > self.max_length:
            raise _Bad(
                f"String should have at most {self.max_length} characters", "string_too_long"
            )
        if self.pattern is not None and not re.fullmatch(self.pattern, raw):
            raise _Bad(f"String should match pattern '{self.pattern}'", "string_pattern_mismatch")
        return raw

    def openapi(self) -> dict[str, Any]:
        schemas: dict[str, dict[str, Any]] = {
            "int": {"type": "integer"},
            "str": {"type": "string"},
            "bool": {"type": "boolean"},
            "datetime": {"type": "string", "pattern": INSTANT_PATTERN},
            "enum": {"type": "string", "enum": list(self.choices)},
            "names": {"type": "string", MARKER: str(self.names)},
        }
        schema = dict(schemas[self.kind])
        for key, value in (
            ("minimum", self.ge),
            ("maximum", self.le),
            ("minLength", self.min_length if self.kind == "str" else None),
            ("maxLength", self.max_length),
            ("pattern", self.pattern),
        ):
            if value is not None:
                schema[key] = value
        if self.default is not None and not self.repeatable:
            schema["default"] = self.default
        if self.repeatable:
            schema = {"type": "array", "items": schema, "maxItems": self.max_items}
        out: dict[str, Any] = {
            "name": self.name,
            "in": "query",
            "required": False,
            "description": self.description,
            "schema": schema,
        }
        if self.repeatable:
            out.update({"style": "form", "explode": True})
        if self.example is not None:
            out["example"] = self.example
        return out


class _Bad(ValueError):
    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


def _parse_datetime(raw: str) -> datetime:
    # Exactly the documented forms (timetext.INSTANT_PATTERN), then the calendar and range.
    try:
        return parse_instant(raw)
    except WhenError as exc:
        raise _Bad(str(exc), exc.kind) from None


class QuerySpec:
    def __init__(self, *params: Param) -> None:
        self.params = {p.name: p for p in params}
        self.allowed = ", ".join(sorted(self.params))

    def parse(self, query_string: bytes) -> dict[str, Any]:
        """Typed values for every declared parameter (defaults filled in)."""
        values: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        if query_string:
            items = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
            if len(items) > MAX_QUERY_PARAMS:
                raise InvalidParameter(
                    f"too many query parameters ({len(items)} > {MAX_QUERY_PARAMS})"
                )
            for name, raw in items:
                param = self.params.get(name)
                if param is None:
                    errors.append(
                        {
                            "loc": f"query.{name[:64]}",
                            "message": "unknown parameter",
                            "type": "extra_forbidden",
                        }
                    )
                    continue
                if param.repeatable:
                    bucket = values.setdefault(name, [])
                    if len(bucket) >= param.max_items:
                        errors.append(
                            {
                                "loc": f"query.{name}",
                                "type": "too_long",
                                "message": f"at most {param.max_items} values",
                            }
                        )
                        continue
                elif name in values:
                    errors.append(
                        {
                            "loc": f"query.{name}",
                            "message": "given more than once",
                            "type": "repeated",
                        }
                    )
                    continue
                try:
                    value = param.parse(raw)
                except _Bad as exc:
                    errors.append(
                        {
                            "loc": f"query.{name}",
                            "message": exc.message,
                            "type": exc.kind,
                            "input": raw[:100],
                        }
                    )
                    continue
                if param.repeatable:
                    values[name].append(value)
                else:
                    values[name] = value
        if errors:
            raise InvalidParameter(self._summary(errors), details=errors)
        for name, param in self.params.items():
            if name not in values:
                values[name] = [] if param.repeatable else param.default
        return values

    def _summary(self, errors: list[dict[str, Any]]) -> str:
        unknown = [e["loc"].split(".", 1)[1] for e in errors if e["type"] == "extra_forbidden"]
        if unknown:
            first = (
                f"unknown query parameter{'s' if len(unknown) > 1 else ''}: "
                f"{', '.join(repr(u) for u in unknown)}; allowed: {self.allowed}"
            )
        else:
            e = errors[0]
            first = f"query parameter '{e['loc'].split('.', 1)[1]}': {e['message']}"
        rest = len(errors) - (len(unknown) or 1)
        return first + (f" (and {rest} more problem{'s' if rest > 1 else ''})" if rest > 0 else "")

    def openapi(self) -> list[dict[str, Any]]:
        return [p.openapi() for p in self.params.values()]
