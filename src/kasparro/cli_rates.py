"""``kasparro rates``: the reference rate (``docs/reference-rate.md``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from kasparro.cli_common import command_runtime, out, with_engine
from kasparro.preflight import UserError

rates_app = typer.Typer(no_args_is_help=True, help="The reference rate.")


def _instant(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"error: {option} {text!r} is not a date or time\n"
            "hint: ISO 8601, e.g. 2026-12-07 or 2026-12-07T08:00:00Z (no offset: UTC)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@rates_app.command("recompute")
def recompute(
    since: Annotated[str, typer.Option("--since", help="First instant (ISO 8601, UTC).")],
    until: Annotated[str, typer.Option("--until", help="Last instant (ISO 8601, UTC).")],
    interval: Annotated[
        list[str] | None,
        typer.Option("--interval", help="1m or 1h (repeatable); default: both."),
    ] = None,
) -> None:
    """Rebuild the reference rate of a range from the stored venue quotes and aggregator
    observations with the current methodology version (older versions' values are kept).
    On unchanged data the values are identical; values that changed are counted as
    restated."""
    from kasparro.rates.method import CURRENT, INTERVALS
    from kasparro.rates.service import compute_range

    start, end = _instant(since, "--since"), _instant(until, "--until")
    if end < start:
        raise UserError("error: --until is before --since")
    chosen = tuple(interval or INTERVALS)
    unknown = [i for i in chosen if i not in INTERVALS]
    if unknown:
        raise UserError(f"error: unknown interval {unknown[0]!r}: choose from 1m, 1h")
    runtime = command_runtime(need_schema=True)
    result = with_engine(runtime, lambda e: compute_range(e, start, end, intervals=chosen))
    per = ", ".join(f"{k}: {v:,}" for k, v in sorted(result.by_interval.items())) or "none"
    out.print(
        f"method {CURRENT.version}: {result.buckets:,} buckets, {result.values:,} values "
        f"({per}), {result.restated:,} restated"
    )
