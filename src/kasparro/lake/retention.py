"""What a retention job must ask before it drops raw observations: is it in the lake?

The contract (tested in ``tests/lake/test_retention.py``): :func:`require_exported` raises
:class:`NotExported` naming every (source, day) partition before ``before`` that holds a
row the lake does not have, so a job that calls it before dropping (a day, a month's
partition) can never drop data that was not exported. A partition is exported once every
row in it has an id at or below the watermark, which only moves after the files are on
disk; a row that arrives later for an old day (a backfill) makes that day unexported again
until the next export writes it.

:func:`exported_through` is the same fact as one date per source, for display and for a
job that drops whole days: the last day before which everything is in the lake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.lake import repository as repo
from kasparro.lake import verify
from kasparro.lake.tables import AppendTable, table_named
from kasparro.load import rollups
from kasparro.store import partitions


class NotExported(Exception):
    def __init__(self, partitions: list[repo.Partition]) -> None:
        self.partitions = partitions
        shown = ", ".join(f"{p.source} {p.day} ({p.rows} rows)" for p in partitions[:10])
        more = f" and {len(partitions) - 10} more" if len(partitions) > 10 else ""
        super().__init__(f"not in the lake yet: {shown}{more}; run `kasparro export` first")


@dataclass(frozen=True, slots=True)
class SourceStatus:
    source: str
    exported_days: int
    exported_rows: int
    exported_through: date | None  # every row of this source before the next day is exported
    pending_days: list[date]


def _observations() -> AppendTable:
    t = table_named("observations")
    assert isinstance(t, AppendTable)
    return t


async def require_exported(
    conn: AsyncConnection, source: str, before: date, *, table: AppendTable | None = None
) -> None:
    """Raise :class:`NotExported` unless every row of ``source`` observed before ``before``
    (UTC midnight) is in the lake."""
    missing = await repo.unexported(conn, table or _observations(), source=source, before=before)
    if missing:
        raise NotExported(missing)


async def status(
    conn: AsyncConnection, *, table: AppendTable | None = None
) -> dict[str, SourceStatus]:
    """Per source: what the lake holds, and the last day through which it holds everything."""
    t = table or _observations()
    exported = await repo.exported_partitions(conn, t.name)
    pending = await repo.unexported(conn, t)
    out: dict[str, SourceStatus] = {}
    for source in sorted({p.source for p in exported} | {p.source for p in pending}):
        done = [p for p in exported if p.source == source]
        waiting = sorted(p.day for p in pending if p.source == source)
        through: date | None
        if waiting:
            earliest = waiting[0]
            through = earliest - timedelta(days=1) if any(p.day < earliest for p in done) else None
        else:
            through = max((p.day for p in done), default=None)
        out[source] = SourceStatus(
            source,
            len(done),
            sum(p.rows for p in done),
            through,
            waiting,
        )
    return out


@dataclass(frozen=True, slots=True)
class Retired:
    observations: int  # raw rows deleted (all of them in the lake)
    kept_unexported: list[repo.Partition]  # old enough, not in the lake yet: kept
    hourly_rollups: int
    # Exported days whose files are not in the lake any more: every raw row is kept.
    lake: verify.LakeCheck | None = None


async def check_lake(
    conn: AsyncConnection, *, observation_days: int, now: datetime | None = None
) -> verify.LakeCheck:
    """Whether the lake still holds the exported days that retention would remove now
    (:mod:`kasparro.lake.verify`): once per upkeep pass, for both steps below."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return await verify.check(conn, _observations(), today - timedelta(days=observation_days))


async def retire(
    conn: AsyncConnection,
    *,
    observation_days: int,
    hourly_rollup_days: int,
    now: datetime | None = None,
    lake: verify.LakeCheck | None = None,
) -> Retired:
    """Retention per tier, run by Kasparro itself after each run (0 keeps a tier for ever):
    raw observations older than ``observation_days`` (whole UTC days) are deleted **only
    if the lake holds them**: rows not exported yet stay until an export writes them, and
    none goes while an exported day's files are missing from the lake (``verify``);
    hourly rollups older than ``hourly_rollup_days`` are deleted; daily rollups are kept.
    The caller owns the transaction."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    deleted = 0
    waiting: list[repo.Partition] = []
    if observation_days > 0:
        cutoff = today - timedelta(days=observation_days)
        t = _observations()
        waiting = await repo.unexported(conn, t, before=cutoff)
        lake = lake or await verify.check(conn, t, cutoff)
        if lake.holds_all and lake.since is not None:
            deleted = await repo.delete_exported(
                conn, t, repo.day_bounds(cutoff)[0], since=repo.day_bounds(lake.since)[0]
            )
        if deleted:
            await rollups.mark_retired(conn, repo.day_bounds(cutoff)[0])
    hourly = 0
    if hourly_rollup_days > 0:
        cutoff = today - timedelta(days=max(hourly_rollup_days, observation_days))
        hourly = await rollups.delete_before(conn, 3_600, repo.day_bounds(cutoff)[0])
    return Retired(deleted, waiting, hourly, lake)


async def retire_months(
    conn: AsyncConnection,
    *,
    observation_days: int,
    now: datetime | None = None,
    lake: verify.LakeCheck | None = None,
) -> partitions.Dropped:
    """PostgreSQL's partitioned store: drop whole months older than ``observation_days``
    whose rows the lake holds, at the cost of a catalogue change instead of a DELETE of
    millions of rows (what :func:`retire` then deletes row by row is only the rest: a
    month that is partly inside the window, or that holds a latest pointer's row).
    Run it in its own short transaction: a drop locks the parent table until the commit."""
    none = partitions.Dropped([], 0, [])
    if observation_days <= 0:
        return none
    mark = await repo.watermark(conn, _observations().name)
    if mark is None or mark.exported_to_id <= 0:
        return none
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    cutoff = today - timedelta(days=observation_days)
    lake = lake or await verify.check(conn, _observations(), cutoff)
    if not lake.holds_all or lake.since is None:
        return none  # :func:`retire` reports it and keeps the rows too
    before = repo.day_bounds(cutoff)[0]
    dropped = await partitions.drop_exported(
        conn, before, mark.exported_to_id, not_before=repo.day_bounds(lake.since)[0]
    )
    if dropped.months:
        end = partitions.next_month(dropped.months[-1])
        await rollups.mark_retired(conn, partitions.month_start(end))
    return dropped


async def exported_through(conn: AsyncConnection, source: str) -> date | None:
    found = (await status(conn)).get(source)
    return found.exported_through if found else None
