"""README.md's settings table is the one the code generates (kasparro settings)."""

from __future__ import annotations

import re
from pathlib import Path

from kasparro.settings import Settings
from kasparro.settings_doc import settings_table
from tests.fixtures.settings import builtin_registry

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_settings_table_is_generated_from_the_code() -> None:
    text = README.read_text()
    found = re.search(r"<!-- settings:start[^>]*-->\n(.*?)<!-- settings:end -->", text, re.S)
    assert found, "README.md lost its settings markers"
    assert found.group(1) == settings_table(builtin_registry()), (
        "README.md's settings table is stale: paste the output of `kasparro settings`"
    )


def test_every_setting_says_what_it_does() -> None:
    registry = builtin_registry()
    models = [Settings, *(p.settings for p in registry.providers)]
    missing = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not field.description
    ]
    assert not missing, f"settings without a description: {missing}"
