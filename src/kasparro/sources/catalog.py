"""The registered sources with their settings resolved: what one process can run.

Built once by the composition root (``kasparro.runtime``) from the core ``Settings`` and the
registry, and passed down: sources get their provider's settings through it, the rate limiters
their budgets, the scheduler its intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import httpx
from pydantic import ValidationError
from pydantic_settings import SettingsError

from kasparro.settings import Settings, undecodable_setting
from kasparro.sources.base import HistorySource, Source, SourceContext, SourceKind
from kasparro.sources.config import HttpSourceSettings, SourceSettings
from kasparro.sources.registry import Registry, UnknownSource
from kasparro.sources.spec import Provider

if TYPE_CHECKING:
    from kasparro.sources.history import BackfillSpec
    from kasparro.sources.http import Limiters

# Where a user writes providers' settings as JSON (``Settings.sources``).
SOURCES_SETTING: Final = "KASPARRO_SOURCES"


class SourceSettingsError(ValueError):
    """Providers' settings are invalid: the message names the environment variables;
    ``errors`` holds each provider's (variable prefix, validation error), ``problems`` the
    mistakes found before validation (a key no provider has, a value that is not JSON), one
    line each, naming its variable."""

    def __init__(
        self,
        message: str,
        errors: Sequence[tuple[str, ValidationError]] = (),
        problems: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.errors = list(errors)
        self.problems = list(problems)


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
        configs: dict[str, SourceSettings] = {}
        failed: list[SourceSettingsError] = []
        if unknown:
            problem = (
                f"{SOURCES_SETTING}: unknown provider(s) {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(registry.provider_names())})"
            )
            failed.append(SourceSettingsError(problem, problems=[problem]))
        for p in registry.providers:  # every provider's mistakes, not only the first's
            try:
                configs[p.name] = provider_settings(
                    p, settings.sources.get(p.name, {}), env_file=env_file
                )
            except SourceSettingsError as exc:
                failed.append(exc)
        if failed:
            raise SourceSettingsError(
                "; ".join(map(str, failed)),
                [e for exc in failed for e in exc.errors],
                [line for exc in failed for line in exc.problems],
            )
        return cls(settings, registry, configs)

    def config(self, provider: str) -> SourceSettings:
        return self.configs[provider]

    def variables(self) -> set[str]:
        """Every environment variable that is a setting: the core ones (``KASPARRO_*``) and
        each provider's (``KASPARRO_<PROVIDER>_*``)."""
        names = {f"KASPARRO_{name.upper()}" for name in type(self.settings).model_fields}
        for p in self.registry.providers:
            names |= {f"{p.env_prefix}{name.upper()}" for name in p.settings.model_fields}
            # A field's alias is read as it is, without the prefix (pydantic-settings).
            names |= {key.upper() for key in _keys(p.settings) - set(p.settings.model_fields)}
        return names

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
    """``provider``'s settings: its ``KASPARRO_<PROVIDER>_*`` variables, ``env_file``, then
    ``overrides`` (its entry of ``KASPARRO_SOURCES``), whose keys must be its fields."""
    # Checked here rather than with ``extra="forbid"``: pydantic-settings would then refuse
    # every other line of a .env file (the core settings, other providers', .env.example's
    # POSTGRES_USER), and name a typo as a KASPARRO_<PROVIDER>_* variable never written.
    keys = _keys(provider.settings)
    unknown = [k for k in overrides if k not in keys]
    problems = [
        f"{SOURCES_SETTING}: {provider.name} has no setting {k!r} "
        f"(its settings: {', '.join(provider.settings.model_fields)})"
        for k in unknown
    ]
    try:
        config = provider.settings(  # type: ignore[call-arg]  # pydantic-settings init kwargs
            _env_prefix=provider.env_prefix,
            _env_file=env_file,
            **{k: v for k, v in overrides.items() if k in keys},
        )
    except ValidationError as exc:
        found = [
            f"{provider.env_prefix}{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        ]
        raise SourceSettingsError(
            "; ".join([*problems, *found]), [(provider.env_prefix, exc)], problems
        ) from None
    except SettingsError as exc:  # a value that could not be decoded (JSON)
        problems.append(undecodable_setting(exc, provider.env_prefix))
    if problems:
        raise SourceSettingsError("; ".join(problems), problems=problems)
    return config


def _keys(model: type[SourceSettings]) -> set[str]:
    """What a ``KASPARRO_SOURCES`` entry may name: the fields, and their aliases."""
    keys = set(model.model_fields)
    for field in model.model_fields.values():
        keys |= {a for a in (field.alias, field.validation_alias) if isinstance(a, str)}
    return keys
