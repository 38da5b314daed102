"""``kasparro export``: the store into the Parquet lake (see ``kasparro.lake``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from kasparro.cli_common import command_runtime, out
from kasparro.preflight import UserError


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    to: Annotated[
        Path | None, typer.Option("--to", help="The lake's directory (KASPARRO_LAKE_DIR).")
    ] = None,
    table: Annotated[
        list[str] | None,
        typer.Option("--table", help="Only this table (repeatable); default: every table."),
    ] = None,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart", help="Forget what was exported and write every table again here."
        ),
    ] = False,
    status: Annotated[
        bool, typer.Option("--status", help="Only show what the lake holds, per source.")
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            min=0, help="Seconds to wait for transactions still writing rows (PostgreSQL)."
        ),
    ] = 60.0,
) -> None:
    """Write observations (by day and source), assets and mappings to Parquet files with
    exact decimals.

    Incremental and resumable: rows already in the lake are not written again, and an
    interrupted export resumes its range without duplicating a row."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UserError(
            "error: kasparro export needs pyarrow, which is not installed\n"
            "hint: pip install 'kasparro[lake]' (make install includes it)"
        ) from None
    from kasparro.lake.export import LakeMismatch
    from kasparro.lake.lease import ExportBusy
    from kasparro.lake.tables import TABLES

    runtime = command_runtime(need_schema=True)
    known = {t.name: t for t in TABLES}
    unknown = [n for n in table or () if n not in known]
    if unknown:
        raise UserError(f"error: unknown table {unknown[0]!r}: choose from {', '.join(known)}")
    chosen = tuple(known[n] for n in table) if table else TABLES
    root = to or Path(runtime.settings.lake_dir)
    if status:
        _print_status(asyncio.run(_status(runtime)))
        return
    try:
        report = asyncio.run(_export(runtime, root, chosen, restart, wait))
    except LakeMismatch as exc:
        raise UserError(f"error: {exc}") from None
    except ExportBusy as exc:
        raise UserError(f"error: {exc}\nhint: wait for it to finish") from None
    except TimeoutError as exc:
        raise UserError(f"error: {exc}\nhint: run it again, or wait longer with --wait") from None
    except OSError as exc:
        raise UserError(f"error: cannot write the lake at {root}: {exc.strerror or exc}") from None
    grid = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=f"lake: {report.location}")
    for column in ("table", "rows", "files", "MB", "bytes/row", "s", "rows/s", "note"):
        grid.add_column(column, justify="left" if column in ("table", "note") else "right")
    for t in report.tables:
        per_row = f"{t.bytes / t.rows:.1f}" if t.rows else "-"
        rate = f"{t.rows / t.seconds:,.0f}" if t.rows and t.seconds else "-"
        note = "resumed an interrupted export" if t.resumed else ""
        if t.kind == "append" and not t.rows and not t.resumed:
            note = "nothing new"
        grid.add_row(
            t.table,
            f"{t.rows:,}",
            str(t.files),
            f"{t.bytes / 1e6:.2f}",
            per_row,
            f"{t.seconds:.2f}",
            rate,
            note,
        )
    out.print(grid)


async def _export(
    runtime: Any, root: Path, tables: tuple[Any, ...], restart: bool, wait: float
) -> Any:
    from kasparro.lake.export import export as run_export
    from kasparro.runs.failpoints import FailPoints

    engine = runtime.engine(pool_size=2)
    try:
        return await run_export(
            engine,
            root,
            tables=tables,
            restart=restart,
            wait_s=wait,
            lease_ttl=runtime.settings.lease_ttl_seconds,
            failpoints=FailPoints(None, runtime.settings.crash_at),
        )
    finally:
        await engine.dispose()


async def _status(runtime: Any) -> dict[str, Any]:
    from kasparro.lake.retention import status

    engine = runtime.engine(pool_size=1)
    try:
        async with engine.connect() as conn:
            return await status(conn)
    finally:
        await engine.dispose()


def _print_status(found: dict[str, Any]) -> None:
    grid = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="observations in the lake")
    for column in ("source", "days", "rows", "exported through", "days not yet exported"):
        grid.add_column(column)
    for s in found.values():
        pending = ", ".join(d.isoformat() for d in s.pending_days[:5])
        if len(s.pending_days) > 5:
            pending += f" (+{len(s.pending_days) - 5})"
        through = s.exported_through.isoformat() if s.exported_through else "-"
        grid.add_row(
            s.source, str(s.exported_days), f"{s.exported_rows:,}", through, pending or "-"
        )
    out.print(grid)
