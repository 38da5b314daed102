"""The settings table of README.md, generated from the code: the core settings and every
registered provider's (``kasparro settings`` prints it; a test keeps the README in step)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from kasparro.settings import Settings
from kasparro.sources.registry import Registry

HEADER = "| variable | default | meaning |\n|---|---|---|\n"


def _default(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "shown_default" in extra:
        return str(extra["shown_default"])
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None or isinstance(value, SecretStr) or value == {}:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{prefix}{name.upper()}` | {_default(field)} | {meaning} |")
    return rows


def settings_table(registry: Registry) -> str:
    """Markdown: one table of the core settings, one per provider."""
    parts = ["**Core** (`KASPARRO_*`)\n\n" + HEADER + "\n".join(_rows(Settings, "KASPARRO_"))]
    for provider in registry.providers:
        title = f"**{provider.label}** (`{provider.env_prefix}*`): {provider.description}"
        parts.append(
            f"{title}\n\n" + HEADER + "\n".join(_rows(provider.settings, provider.env_prefix))
        )
    return "\n\n".join(parts) + "\n"
