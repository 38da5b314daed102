"""`kasparro --help` and every command's: paragraphs printed as written, whole (never broken
where the docstring's source line ended), and no internal module names."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from kasparro.cli import app

# Wide enough that rich never wraps: every line break shown is one the help text holds.
WIDE = {"COLUMNS": "2000", "TERMINAL_WIDTH": "2000"}


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def paragraphs(text: str | None) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text or "") if p.strip()]


def shown(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_prints_whole_sentences(path: tuple[str, ...], command: Any) -> None:
    text = shown(path)
    for paragraph in paragraphs(command.help):
        assert paragraph in text, f"{paragraph!r} is broken in:\n{text}"
    # A group lists each command with its first paragraph, whole too.
    for sub in getattr(command, "commands", {}).values():
        assert paragraphs(sub.help)[0] in text, f"{sub.name} is broken in:\n{text}"
    assert not re.search(r"\bkasparro\.(?!db\b)[a-z_]", text), text
    assert "``" not in text  # reStructuredText is for the source, not for users


def test_the_top_level_help_says_what_a_mistake_gets() -> None:
    text = shown(())
    assert "answered in one or two lines" in text
