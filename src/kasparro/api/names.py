"""Source names in the API: validated against, and documented from, the app's own registry.

The registry is the composition root's (built-in providers and installed plugins), known when
the app is created, while parameter types are declared once at import. So a source-name
parameter is declared with the *kind* of names it takes (:class:`Names`); the request context
middleware sets the app's registry in :data:`CURRENT` for the request, the validator checks
against it (the same ``enum`` error as a ``Literal``), and the app fills each such schema's
``enum`` from its registry when it builds the OpenAPI document (:func:`fill_enums`).
"""

from __future__ import annotations

from contextvars import ContextVar
from enum import StrEnum
from typing import Any, Final

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from kasparro.sources.base import SourceKind
from kasparro.sources.registry import Registry

MARKER: Final = "x-kasparro-names"

# The registry of the app serving the current request (set by api.middleware).
CURRENT: ContextVar[Registry | None] = ContextVar("kasparro_registry", default=None)


class Names(StrEnum):
    RUN = "run"  # every name a run (and its drift events and quarantine) is recorded under
    OBSERVATION = "observation"  # what observations carry: the market sources
    TRIGGER = "trigger"  # what a trigger may name: a source, or `all`
    BACKFILL = "backfill"  # a provider serving history, or `all`


def allowed(registry: Registry, kind: Names) -> list[str]:
    if kind == Names.RUN:
        return registry.all_run_names()
    if kind == Names.OBSERVATION:
        # A backfill's points are stored under its provider's market name.
        return registry.names(SourceKind.MARKET)
    if kind == Names.TRIGGER:
        return [*registry.names(), "all"]
    return [*registry.backfill_providers(), "all"]


def current_allowed(kind: Names) -> list[str]:
    registry = CURRENT.get()
    if registry is None:  # outside a request (a test calling a validator directly)
        registry = Registry.discover(plugins=False)
    return allowed(registry, kind)


def refuse(value: str, kind: Names) -> PydanticCustomError:
    expected = ", ".join(repr(n) for n in current_allowed(kind))
    return PydanticCustomError("enum", "Input should be {expected}", {"expected": expected})


def member_of(kind: Names) -> AfterValidator:
    def check(value: str) -> str:
        if value not in current_allowed(kind):
            raise refuse(value, kind)
        return value

    return AfterValidator(check)


def names_schema(kind: Names) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", MARKER: kind.value})


def fill_enums(document: Any, registry: Registry) -> Any:
    """The OpenAPI document with every source-name schema's ``enum`` from ``registry``."""
    if isinstance(document, dict):
        kind = document.pop(MARKER, None)
        if kind is not None:
            document["enum"] = allowed(registry, Names(kind))
        for value in document.values():
            fill_enums(value, registry)
    elif isinstance(document, list):
        for value in document:
            fill_enums(value, registry)
    return document
