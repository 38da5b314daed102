"""Before retention removes raw rows: are their files really in the lake?

The watermark records what an export wrote, not what is still there: a lake under ``/tmp``
after a reboot, a directory deleted or moved, a disk that was not mounted. Retention removes
raw rows of a day only while that day's files are where the export recorded them, holding
at least the rows it counted (read from each Parquet file's footer); otherwise it keeps
every raw row and says where it looked. Not ``kasparro export --restart`` into the same lake
as a remedy: it deletes the lake's files first, those of days already retired included.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.lake import repository as repo
from kasparro.lake.tables import AppendTable


@dataclass(frozen=True, slots=True)
class LakeCheck:
    location: str | None
    missing: list[repo.Partition]  # exported days whose files are gone or short of rows
    unreadable: bool = False  # no pyarrow in this install: nothing could be checked
    # The first day checked (the oldest removable row's): retention removes nothing older,
    # even a row a moved latest pointer frees meanwhile. None: nothing was removable.
    since: date | None = None

    @property
    def holds_all(self) -> bool:
        return not self.missing and not self.unreadable

    def explain(self) -> str:
        """One line for the log: what is kept, and what to do."""
        if self.unreadable:
            return (
                f"retention cannot read the lake at {self.location} from this install (no "
                "pyarrow): raw rows are kept; pip install 'kasparro[lake]'"
            )
        shown = ", ".join(f"{p.source} {p.day}" for p in self.missing[:5])
        more = ", ..." if len(self.missing) > 5 else ""
        return (
            f"{len(self.missing)} exported day(s) have no complete files in {self.location} "
            f"({shown}{more}): raw rows are kept; restore the files there, or export what the "
            "database holds to a new, empty lake (`kasparro export --to <folder> --restart`; "
            "days retired earlier stay in the old one)"
        )


def partition_dir(root: Path, t: AppendTable, part: repo.Partition) -> Path:
    """Where an export writes a partition's files. Hive-style: engines read date and source
    from the path. Source names are the registry's ([a-z0-9_] in practice); anything else
    is percent-encoded as Hive does."""
    source = quote(part.source, safe="")
    return root / t.name / f"date={part.day.isoformat()}" / f"source={source}"


def rows_on_disk(folder: Path) -> int | None:
    """Rows in the folder's Parquet files, from their footers; None when they cannot be
    read (no pyarrow in this install: ``pip install 'kasparro[lake]'``)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None
    total = 0
    for path in sorted(folder.glob("*.parquet")):
        try:
            total += pq.read_metadata(path).num_rows
        except (OSError, ValueError):  # unreadable or truncated: it holds nothing usable
            continue
    return total


async def check(conn: AsyncConnection, t: AppendTable, before: date) -> LakeCheck:
    """The exported days before ``before`` that retention could still remove rows of
    (from the oldest such row on) whose files are missing or hold fewer rows than exported."""
    mark = await repo.watermark(conn, t.name)
    first = await repo.oldest_removable(conn, t)
    if mark is None or first is None:
        return LakeCheck(None if mark is None else mark.location, [])
    since = first.date()
    parts = await repo.exported_partitions(conn, t.name, since=since, before=before)
    if not parts:
        return LakeCheck(mark.location, [], since=since)
    root = Path(mark.location)

    def short() -> list[repo.Partition] | None:
        missing = []
        for part in parts:
            found = rows_on_disk(partition_dir(root, t, part))
            if found is None:
                return None
            if found < part.rows:
                missing.append(part)
        return missing

    # File I/O off the event loop: the scheduler's loop serves leases and heartbeats.
    missing = await asyncio.to_thread(short)
    if missing is None:
        return LakeCheck(mark.location, parts, unreadable=True, since=since)
    return LakeCheck(mark.location, missing, since=since)
