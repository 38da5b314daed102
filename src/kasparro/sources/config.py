"""Settings a source declares for itself: ``KASPARRO_<PROVIDER>_<FIELD>`` variables.

A provider (an upstream such as CoinGecko, or the CSV files) declares one settings class;
the registry reads it from the environment with the provider's prefix (``KASPARRO_COINGECKO_``
for ``coingecko``), so a third-party source brings its own settings without touching
Kasparro's. Everything derived from settings (request budgets, schedules) is read from these
objects by name, never looked up by string in the core ``Settings``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SourceSettings(BaseSettings):
    """What every provider can be told: how often the scheduler runs its market source."""

    # The prefix is the registry's (``_env_prefix``), derived from the provider's name.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    schedule_seconds: Annotated[
        float, Field(gt=0, description="how often the scheduler runs its market source")
    ] = 600.0


class HttpSourceSettings(SourceSettings):
    """A provider reached over HTTP: its base URL (a setting, so the same code talks to the
    real API or to the emulator), an optional key (never logged) and its request budget
    (shared by every source of the provider in a process)."""

    base_url: Annotated[str, Field(description="the API's base URL (the emulator's in the demo)")]
    api_key: Annotated[SecretStr | None, Field(description="API key; never logged")] = None
    requests_per_minute: Annotated[
        float, Field(gt=0, description="request budget, shared by all its sources")
    ] = 60.0

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        # `KASPARRO_X_API_KEY=` in a .env means "no key", not an empty key.
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        v = v.strip()
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    def key_header(self) -> dict[str, str]:
        """The header that carries ``api_key`` (none without a key)."""
        return {}
