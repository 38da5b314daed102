"""The registered sources with their settings resolved: what one process can run.

Built once by the composition root (``kasparro.runtime``) from the core ``Settings`` and the
registry, and passed down: sources get their provider's settings through it, the rate limiters
their budgets, the scheduler its intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import ValidationError

from kasparro.settings import Settings
from kasparro.sources.base import HistorySource, Source, SourceContext, SourceKind
from kasparro.sources.config import HttpSourceSettings, SourceSettings
from kasparro.sources.registry import Registry, UnknownSource
from kasparro.sources.spec import Provider

if TYPE_CHECKING:
    from kasparro.sources.history import BackfillSpec
    from kasparro.sources.http import Limiters


class SourceSettingsError(ValueError):
    """Providers' settings are invalid: the message names the environment variables;
    ``errors`` holds each provider's (variable prefix, validation error)."""

    def __init__(self, message: str, errors: Sequence[tuple[str, ValidationError]] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


@dataclass(frozen=True)
class Catalog:
    settings: Settings
    registry: Registry
    configs: Mapping[str, SourceSettings]  # provider name -> its settings

    @classmethod
    def build(
        cls,
        settings: Settings,
        registry: Registry | None = None,
        *,
        env_file: str | None = ".env",
    ) -> Catalog:
        """Read each provider's settings (``KASPARRO_<PROVIDER>_*`` variables, ``env_file``,
        then ``settings.sources`` overrides, which win)."""
        registry = registry or Registry.discover()
        unknown = sorted(set(settings.sources) - set(registry.provider_names()))
        if unknown:
            raise SourceSettingsError(
                f"KASPARRO_SOURCES names unknown provider(s): {', '.join(unknown)}"
            )
        configs: dict[str, SourceSettings] = {}
        failed: list[SourceSettingsError] = []
        for p in registry.providers:  # every provider's mistakes, not only the first's
            try:
                configs[p.name] = provider_settings(
                    p, settings.sources.get(p.name, {}), env_file=env_file
                )
            except SourceSettingsError as exc:
                failed.append(exc)
        if failed:
            raise SourceSettingsError(
                "; ".join(map(str, failed)), [e for exc in failed for e in exc.errors]
            )
        return cls(settings, registry, configs)

    def config(self, provider: str) -> SourceSettings:
        return self.configs[provider]

    def context(self, provider: str, http: httpx.AsyncClient, limiters: Limiters) -> SourceContext:
        return SourceContext(
            settings=self.settings, config=self.configs[provider], http=http, limiters=limiters
        )

    def source(self, name: str, http: httpx.AsyncClient, limiters: Limiters) -> Source:
        provider, spec = self.registry.spec(name)
        return spec.build(self.context(provider.name, http, limiters))

    def history(
        self, provider_name: str, http: httpx.AsyncClient, limiters: Limiters, spec: BackfillSpec
    ) -> HistorySource:
        provider = self.registry.provider(provider_name)
        if provider.history is None:
            raise UnknownSource(f"{provider.label} serves no price history")
        return provider.history(self.context(provider.name, http, limiters), spec)

    def budgets(self) -> dict[str, float]:
        """Requests per minute per provider: one budget shared by all its sources."""
        return {
            name: config.requests_per_minute
            for name, config in self.configs.items()
            if isinstance(config, HttpSourceSettings)
        }

    def scheduled(self) -> dict[str, float]:
        """Enabled source -> interval (s): every source that declares a schedule, unless
        ``KASPARRO_SCHEDULE_ENABLED_SOURCES`` picks some (unknown names fail fast, an empty
        list schedules nothing)."""
        wanted = self.settings.schedule_enabled_sources
        if wanted is None:
            wanted = [n for n in self.registry.names() if self.registry.spec(n)[1].schedule]
        out: dict[str, float] = {}
        for name in dict.fromkeys(wanted):
            provider, spec = self.registry.spec(name)
            if spec.schedule is None:
                raise UnknownSource(f"source {name!r} is not scheduled (it runs on demand)")
            out[name] = float(getattr(self.configs[provider.name], spec.schedule))
        return out

    def kind(self, name: str) -> SourceKind:
        return self.registry.spec(name)[1].kind

    def provider_of(self, name: str) -> Provider:
        return self.registry.spec(name)[0]


def provider_settings(
    provider: Provider, overrides: Mapping[str, Any], *, env_file: str | None = ".env"
) -> SourceSettings:
    try:
        return provider.settings(  # type: ignore[call-arg]  # pydantic-settings init kwargs
            _env_prefix=provider.env_prefix,
            _env_file=env_file,
            **overrides,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{provider.env_prefix}{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise SourceSettingsError(problems, [(provider.env_prefix, exc)]) from None
