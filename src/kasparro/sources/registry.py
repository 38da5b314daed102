"""The registry: the built-in providers and those of installed plugins.

A plugin is a separate installable package that declares, in its ``pyproject.toml``::

    [project.entry-points."kasparro.sources"]
    example = "kasparro_example:PROVIDER"

where ``PROVIDER`` is a :class:`~kasparro.sources.spec.Provider` (or a callable returning
one): the convention of pytest plugins, dlt sources and Airbyte connectors. No fork, no edit
of Kasparro (docs/sources.md). A plugin that cannot be loaded, or that reuses a name taken by
another provider, is left out and reported (``Registry.problems``, ``kasparro sources``), so a
broken plugin never takes the built-in sources down with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Final

from kasparro.sources.base import SourceKind
from kasparro.sources.coingecko import COINGECKO
from kasparro.sources.coinpaprika import COINPAPRIKA
from kasparro.sources.csv_files import CSV
from kasparro.sources.spec import Provider, SourceSpec
from kasparro.sources.venues import VENUES

ENTRY_POINT_GROUP: Final = "kasparro.sources"
BUILTIN: Final[tuple[Provider, ...]] = (COINGECKO, COINPAPRIKA, CSV, *VENUES)


class UnknownSource(ValueError):
    """A name that no registered source has."""


@dataclass(frozen=True)
class Registry:
    providers: tuple[Provider, ...]
    problems: tuple[str, ...] = ()  # plugins left out, one line each
    _sources: dict[str, tuple[Provider, SourceSpec]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for provider in self.providers:
            names = [s.name for s in provider.sources]
            if provider.history is not None:
                names.append(provider.history_name)
            for name in names:
                if name in seen:
                    raise ValueError(
                        f"source {name!r} is declared by {seen[name]} and {provider.name}"
                    )
                seen[name] = provider.name
            for spec in provider.sources:
                self._sources[spec.name] = (provider, spec)

    @classmethod
    def discover(cls, *, plugins: bool = True) -> Registry:
        """The built-in providers, then every installed plugin's (entry points are read now,
        at the composition root, never at import time)."""
        if not plugins:
            return cls(BUILTIN)
        return cls.with_plugins(entry_points(group=ENTRY_POINT_GROUP))

    @classmethod
    def with_plugins(cls, found: Iterable[EntryPoint]) -> Registry:
        providers = list(BUILTIN)
        taken = {n for p in providers for n in _names(p)} | {p.name for p in providers}
        problems: list[str] = []
        for ep in sorted(found, key=lambda e: e.name):
            try:
                loaded = ep.load()
                provider = (
                    loaded() if callable(loaded) and not isinstance(loaded, Provider) else loaded
                )
                if not isinstance(provider, Provider):
                    raise TypeError(f"expected a kasparro Provider, got {type(provider).__name__}")
            except Exception as exc:  # a broken plugin is reported, not fatal
                problems.append(f"plugin {ep.name!r} ({ep.value}): {type(exc).__name__}: {exc}")
                continue
            clash = ({provider.name} | set(_names(provider))) & taken
            if clash:
                problems.append(
                    f"plugin {ep.name!r} ({ep.value}): name(s) already taken: "
                    f"{', '.join(sorted(clash))}"
                )
                continue
            taken |= {provider.name, *_names(provider)}
            providers.append(provider)
        return cls(tuple(providers), tuple(problems))

    # -- lookups ---------------------------------------------------------------------------

    def names(self, kind: SourceKind | None = None) -> list[str]:
        """Source names in declaration order (history sources are backfills: not listed)."""
        return [n for n, (_, s) in self._sources.items() if kind is None or s.kind == kind]

    def spec(self, name: str) -> tuple[Provider, SourceSpec]:
        try:
            return self._sources[name]
        except KeyError:
            raise UnknownSource(
                f"unknown source {name!r}; known: {', '.join(self._sources)}"
            ) from None

    def provider(self, name: str) -> Provider:
        for provider in self.providers:
            if provider.name == name:
                return provider
        raise UnknownSource(f"unknown provider {name!r}; known: {', '.join(self.provider_names())}")

    def live_markets(self) -> list[str]:
        """The market sources of live providers: what spreads compare and the dashboard
        shows by default."""
        return [
            name
            for name, (provider, spec) in self._sources.items()
            if provider.live and spec.kind == SourceKind.MARKET
        ]

    def provider_names(self) -> list[str]:
        return [p.name for p in self.providers]

    def backfill_providers(self) -> list[str]:
        """Providers that serve price history (``kasparro backfill --source``)."""
        return [p.name for p in self.providers if p.history is not None]

    def all_run_names(self) -> list[str]:
        """Every name a run can carry: the sources and the backfills (``<provider>_history``)."""
        return [*self._sources, *(f"{p}_history" for p in self.backfill_providers())]

    def validate(self, names: list[str] | None) -> list[str]:
        """``names`` checked and de-duplicated; none (or ``all``) means every source."""
        if not names or names == ["all"]:
            return self.names()
        unknown = [n for n in names if n not in self._sources]
        if unknown:
            raise UnknownSource(
                f"unknown source(s): {', '.join(unknown)}; known: {', '.join(self._sources)}"
            )
        return list(dict.fromkeys(names))

    def validate_backfill(self, names: list[str] | None) -> list[str]:
        known = self.backfill_providers()
        unknown = [n for n in names or [] if n not in known]
        if unknown or not names:
            raise UnknownSource(
                f"unknown backfill source(s): {', '.join(unknown)}; known: {', '.join(known)}"
            )
        return list(dict.fromkeys(names))


def _names(provider: Provider) -> list[str]:
    names = [s.name for s in provider.sources]
    return [*names, provider.history_name] if provider.history is not None else names
