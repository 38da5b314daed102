"""How a provider declares its sources, so everything else derives from the declaration.

A :class:`Provider` is one upstream (CoinGecko, CoinPaprika, the CSV files, a third-party
plugin): its name (which is also its settings prefix ``KASPARRO_<NAME>_``, its request budget
and the namespace of its ids), its settings class, its sources and how the dashboard shows it.
The registry (``sources.registry``) collects the built-in providers and those of installed
plugins (the ``kasparro.sources`` entry-point group); the rate limiters, the scheduler's
intervals, the API's enums and validation, the CLI's choices and the dashboard's columns are
all read from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from kasparro.sources.base import HistorySource, Source, SourceContext, SourceKind
from kasparro.sources.config import SourceSettings

if TYPE_CHECKING:
    from kasparro.sources.history import BackfillSpec

NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
COLOR: Final = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One source of a provider. ``schedule`` names the provider settings field holding the
    interval the scheduler runs it at (``None``: never scheduled)."""

    name: str
    kind: SourceKind
    build: Callable[[SourceContext], Source]
    schedule: str | None = "schedule_seconds"
    description: str = ""


HistoryFactory = Callable[[SourceContext, "BackfillSpec"], HistorySource]


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    label: str  # how people write it: "CoinGecko"
    settings: type[SourceSettings]
    sources: tuple[SourceSpec, ...]
    color: str = "#6b7280"  # the dashboard's colour for its quotes
    # The backfill source (``<name>_history``), when the provider serves price history.
    history: HistoryFactory | None = None
    description: str = ""
    # Its quotes are live market data: compared in spreads and shown by default (the CSV
    # files are the user's own snapshots, possibly old: not live).
    live: bool = True

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ValueError(f"provider name {self.name!r}: lower case letters, digits, _")
        if not COLOR.match(self.color):
            raise ValueError(f"provider {self.name}: color must be #rrggbb, got {self.color!r}")
        for spec in self.sources:
            if not NAME.match(spec.name):
                raise ValueError(f"source name {spec.name!r}: lower case letters, digits, _")
            if spec.schedule is not None and spec.schedule not in self.settings.model_fields:
                raise ValueError(
                    f"source {spec.name}: schedule field {spec.schedule!r} is not a field of "
                    f"{self.settings.__name__}"
                )

    @property
    def env_prefix(self) -> str:
        return f"KASPARRO_{self.name.upper()}_"

    @property
    def history_name(self) -> str:
        return f"{self.name}_history"
