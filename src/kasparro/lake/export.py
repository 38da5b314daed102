"""``kasparro export``: the store's tables into the Parquet lake.

An append table (observations) is exported in ranges of ids, like the backfill's
watermarks:

1. The range is ``(exported_to_id, high water]`` (see ``repository.high_water``: no row
   can still appear below it). It is recorded as ``pending_to_id`` *before* any file is
   written.
2. Each (day, source) partition the range touches gets one file,
   ``part-<first id>-<last id>.parquet``, written under a temporary name, flushed and
   renamed into place (``files``).
3. Only then, in one transaction, the watermark moves to the range's end and the
   partitions' counts (``lake_partitions``) grow.

A crash anywhere before 3 leaves ``pending_to_id`` set: the next export writes exactly
that range again, to the same file names, which replace whatever the crashed one
published, so no row is ever in the lake twice. After 3, the range is never written again:
running the export twice adds nothing (idempotent). Snapshot tables are rewritten whole,
atomically, by every export.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kasparro.lake import repository as repo
from kasparro.lake.arrow import columns_to_arrow, read_csv, schema, to_arrow
from kasparro.lake.files import PartWriter, fsync_tree, sweep
from kasparro.lake.lease import ExportLease
from kasparro.lake.tables import TABLES, AppendTable, LakeTable, SnapshotTable
from kasparro.lake.verify import partition_dir
from kasparro.runs.failpoints import FailPoints
from kasparro.runs.repository import utcnow


class LakeMismatch(Exception):
    """The store was exported to another lake: exporting here would skip what only the
    other one holds."""


@dataclass
class TableReport:
    table: str
    kind: str  # append | snapshot
    rows: int = 0
    files: int = 0
    bytes: int = 0
    resumed: bool = False
    seconds: float = 0.0


@dataclass
class ExportReport:
    location: str
    tables: list[TableReport] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


Progress = Callable[[str, int], None]  # (table, rows written so far)


async def export(
    engine: AsyncEngine,
    root: Path,
    *,
    tables: tuple[LakeTable, ...] = TABLES,
    restart: bool = False,
    wait_s: float = 60.0,
    lease_ttl: float = 60.0,
    progress: Progress | None = None,
    failpoints: FailPoints | None = None,
) -> ExportReport:
    lease = ExportLease(engine, lease_ttl)
    await lease.acquire()
    try:
        return await _export_all(
            engine, prepare(root), tables, restart, wait_s, lease, progress, failpoints
        )
    finally:
        await lease.release()


async def _export_all(
    engine: AsyncEngine,
    root: Path,
    tables: tuple[LakeTable, ...],
    restart: bool,
    wait_s: float,
    lease: ExportLease,
    progress: Progress | None,
    failpoints: FailPoints | None,
) -> ExportReport:
    location = str(root)
    report = ExportReport(location)
    for t in tables:
        if restart:
            # Everything again: the table's files here go too (they would be duplicates).
            shutil.rmtree(root / t.name, ignore_errors=True)
            async with engine.begin() as conn:
                await repo.reset(conn, t.name)
        if isinstance(t, AppendTable):
            part = await _export_append(engine, root, t, wait_s, lease, progress, failpoints)
        else:
            part = await _export_snapshot(engine, root, t)
        report.tables.append(part)
    return report


def prepare(root: Path) -> Path:
    """The lake's absolute path, created, without an interrupted export's leftovers.
    (The export is a batch job: its file I/O blocks on purpose, nothing else runs.)"""
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    sweep(root)
    return root


async def _check_location(
    engine: AsyncEngine, t: LakeTable, location: str
) -> repo.Watermark | None:
    async with engine.connect() as conn:
        mark = await repo.watermark(conn, t.name)
    if (
        mark is not None
        and mark.location != location
        and (mark.rows or mark.pending_to_id is not None)
    ):
        raise LakeMismatch(
            f"{t.name} was exported to {mark.location}, not {location}: export there, or "
            "pass --restart to export everything again here"
        )
    return mark


async def _export_append(
    engine: AsyncEngine,
    root: Path,
    t: AppendTable,
    wait_s: float,
    lease: ExportLease,
    progress: Progress | None,
    failpoints: FailPoints | None,
) -> TableReport:
    started = time.perf_counter()
    report = TableReport(t.name, "append")
    location = str(root)
    mark = await _check_location(engine, t, location)
    if mark is not None and mark.pending_to_id is not None:
        # An interrupted export's range first, exactly as planned; then what came since.
        report.resumed = True
        await _export_range(
            engine,
            root,
            t,
            (mark.exported_to_id, mark.pending_to_id),
            report,
            lease,
            progress,
            failpoints,
        )
        async with engine.connect() as conn:
            mark = await repo.watermark(conn, t.name)
    after = mark.exported_to_id if mark is not None else 0
    to_id = await repo.high_water(engine, t, wait_s=wait_s)
    if to_id > after:
        async with engine.begin() as conn:
            await repo.plan(conn, t.name, location, to_id, utcnow())
        await _export_range(engine, root, t, (after, to_id), report, lease, progress, failpoints)
    report.seconds = time.perf_counter() - started
    return report


async def _export_range(
    engine: AsyncEngine,
    root: Path,
    t: AppendTable,
    id_range: tuple[int, int],
    report: TableReport,
    lease: ExportLease,
    progress: Progress | None,
    failpoints: FailPoints | None,
) -> None:
    """Rows with ids in ``(after, to_id]`` (planned), one file per partition, then the
    watermark."""
    after, to_id = id_range
    target = schema(t)
    written: list[repo.Partition] = []
    async with engine.connect() as conn:
        parts = await repo.pending_partitions(conn, t, after, to_id)
        for number, part in enumerate(parts, start=1):
            path = partition_dir(root, t, part) / f"part-{after + 1:019d}-{to_id:019d}.parquet"
            writer = PartWriter(path, target)
            try:
                async for batch in _batches(conn, t, part, after, to_id, writer.tmp):
                    writer.write(batch)
                    await lease.renew()
                    if failpoints is not None:
                        failpoints.crash("export-write", t.name, [number])
                    if progress is not None:
                        progress(t.name, report.rows + writer.rows)
                writer.publish()
            except BaseException:
                writer.abort()
                raise
            fsync_tree(path.parent, root)
            report.rows += writer.rows
            report.files += 1
            report.bytes += path.stat().st_size
            written.append(repo.Partition(part.source, part.day, writer.rows, part.max_id))
            if failpoints is not None:
                failpoints.crash("export-file", t.name, [number])
    async with engine.begin() as conn:
        await repo.commit(conn, t.name, str(root), to_id, written, utcnow())


async def _batches(
    conn: AsyncConnection,
    t: AppendTable,
    part: repo.Partition,
    after: int,
    to_id: int,
    scratch_next_to: Path,
) -> AsyncIterator[pa.Table]:
    """The partition's rows as Arrow tables: through a CSV ``COPY`` on PostgreSQL (next to
    the file being written, removed after; a crash leaves it to ``files.sweep``), row
    chunks on SQLite."""
    if conn.dialect.name != "postgresql":
        async for chunk in repo.partition_rows(conn, t, part, after, to_id):
            yield to_arrow(t, chunk)
        return
    scratch = scratch_next_to.with_name(scratch_next_to.name.replace(".parquet", ".csv"))
    try:
        await repo.copy_partition(conn, t, part, after, to_id, scratch)
        for batch in read_csv(t, scratch):
            yield columns_to_arrow(t, batch.columns, batch.num_rows)
    finally:
        scratch.unlink(missing_ok=True)


async def _export_snapshot(engine: AsyncEngine, root: Path, t: SnapshotTable) -> TableReport:
    started = time.perf_counter()
    report = TableReport(t.name, "snapshot")
    path = root / t.name / f"{t.name}.parquet"
    writer = PartWriter(path, schema(t))
    try:
        async with engine.connect() as conn:
            async for chunk in repo.snapshot_rows(conn, t):
                writer.write(to_arrow(t, chunk))
        writer.publish()
    except BaseException:
        writer.abort()
        raise
    fsync_tree(path.parent, root)
    report.rows, report.files, report.bytes = writer.rows, 1, path.stat().st_size
    async with engine.begin() as conn:
        await repo.record_snapshot(conn, t.name, str(root), writer.rows, utcnow())
    report.seconds = time.perf_counter() - started
    return report
