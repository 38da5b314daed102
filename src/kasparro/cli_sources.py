"""``kasparro sources`` and ``kasparro settings``: what this installation can run, and how to
configure it (both read from the registry, plugins included)."""

from __future__ import annotations

import typer
from rich import box
from rich.table import Table

from kasparro.cli_common import command_runtime, err, out


def register(app: typer.Typer) -> None:
    app.command("sources")(sources)
    app.command("settings")(settings)


def sources() -> None:
    """The registered sources, built in and from installed plugins.

    Each with its kind, schedule and request budget; plugins that failed to load are
    reported."""
    runtime = command_runtime(database=False)
    catalog = runtime.catalog
    budgets = catalog.budgets()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("provider", "source", "kind", "schedule", "budget", "what"):
        table.add_column(column, no_wrap=column in ("provider", "source"))
    for provider in catalog.registry.providers:
        config = catalog.config(provider.name)
        budget = f"{budgets[provider.name]:g}/min" if provider.name in budgets else "-"
        for spec in provider.sources:
            interval = getattr(config, spec.schedule) if spec.schedule else None
            schedule = f"{interval:g} s" if interval else "on demand"
            table.add_row(
                provider.name, spec.name, spec.kind.value, schedule, budget, spec.description
            )
        if provider.history is not None:
            table.add_row(
                provider.name, provider.history_name, "history", "backfill", budget, "price history"
            )
    out.print(table)
    for problem in catalog.registry.problems:
        err.print(f"[yellow]not loaded:[/yellow] {problem}", highlight=False)


def settings() -> None:
    """Every setting (core and per provider) with its default and meaning, as Markdown.

    The table of README.md, with those of installed plugins."""
    from kasparro.settings_doc import settings_table

    # Written as is, not through the console: rich wraps long lines at its width (140
    # columns when redirected), and a table row split over two lines is no row.
    typer.echo(settings_table(command_runtime(database=False).registry), nl=False)
