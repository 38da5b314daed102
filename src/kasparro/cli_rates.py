"""``kasparro rates``: the reference rate (``docs/reference-rate.md``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from kasparro.cli_common import command_runtime, out, with_engine
from kasparro.preflight import UserError
from kasparro.timetext import WhenError, parse_when

rates_app = typer.Typer(no_args_is_help=True, help="The reference rate.")


def _when(text: str, option: str, relative_to: datetime) -> datetime:
    """What ``kasparro backfill`` reads for its bounds, read the same way."""
    try:
        return parse_when(text, relative_to=relative_to)
    except WhenError as exc:
        if exc.kind == "datetime_range":
            raise UserError(f"error: {option} {text!r} is outside the years 1..9999") from None
        raise UserError(
            f"error: {option} {text!r} is not a date, time or duration\n"
            "hint: a date (2026-12-07), an ISO 8601 time (2026-12-07T08:00:00Z; no offset: UTC), "
            "'now', or a duration before --until (7d, 12h, 30m)"
        ) from None


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


@rates_app.command("recompute")
def recompute(
    since: Annotated[
        str,
        typer.Option(
            "--since", help="Start: a date, an ISO timestamp (UTC), or a duration before --until."
        ),
    ],
    until: Annotated[
        str,
        typer.Option(
            "--until", help="End: a date, an ISO timestamp (UTC), 'now' or a duration before now."
        ),
    ],
    interval: Annotated[
        list[str] | None,
        typer.Option("--interval", help="1m or 1h (repeatable); default: both."),
    ] = None,
) -> None:
    """Rebuild the reference rate of a range from the stored venue quotes and aggregator
    observations with the current methodology version.

    Older versions' values are kept. On unchanged data the values are identical; values
    that changed are counted as restated.

    The range is written as for `kasparro backfill`: `--since 7d --until now`, or dates and
    times."""
    from kasparro.rates.method import CURRENT, INTERVALS
    from kasparro.rates.service import compute_range

    end = _when(until, "--until", datetime.now(UTC))
    start = _when(since, "--since", end)
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
        f"method {CURRENT.version}: {_count(result.buckets, 'bucket')}, "
        f"{_count(result.values, 'value')} ({per}), {result.restated:,} restated"
    )
