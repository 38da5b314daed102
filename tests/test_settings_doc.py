"""README.md's settings table is the one the code generates (kasparro settings)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from kasparro.settings import Settings
from kasparro.settings_doc import settings_table
from tests.fixtures.settings import builtin_registry

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block() -> str:
    found = re.search(
        r"<!-- settings:start[^>]*-->\n(.*?)<!-- settings:end -->", README.read_text(), re.S
    )
    assert found, "README.md lost its settings markers"
    return found.group(1)


def test_the_readme_settings_table_is_generated_from_the_code() -> None:
    assert readme_block() == settings_table(builtin_registry()), (
        "README.md's settings table is stale: paste the output of `kasparro settings`"
    )


def test_kasparro_settings_redirected_to_a_file_is_the_readme_block(tmp_path: Path) -> None:
    """`kasparro settings > s.md`, as a user runs it: the Markdown as is, never wrapped at
    a console's width (a table row split over two lines is no row)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH")}
    with (tmp_path / "s.md").open("w") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "kasparro", "settings"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "s.md").read_text() == readme_block()


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
