"""The store's upkeep: a batch's months before it commits; after each run, partitions ahead,
then retention per tier.

Each step runs in its own short transaction and never fails the run: a failure (a lock not
granted within the partitions' ``lock_timeout``, the database gone) is logged and the step is
retried after the next run. Order matters: whole months are dropped first (a catalogue change
under a brief lock), so the row-level retention that follows only trims what is left.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.lake.lease import ExportBusy, ExportLease
from kasparro.lake.retention import check_lake, retire, retire_months
from kasparro.runs.result import one_line_error
from kasparro.settings import Settings
from kasparro.store import partitions

# Retention renews the export's lease before each commit: the TTL bounds one transaction
# (a backlog's delete can take minutes) and how long an export elsewhere waits if this
# process dies holding it (on the same host a dead holder's lease is taken at once).
LEASE_TTL_SECONDS = 600.0


async def _still_held(conn: Any, lease: ExportLease | None) -> None:
    """Before a retention transaction commits: renew the lease in it, or roll it back."""
    if lease is not None:
        await lease.renew_in(
            conn, "retention lost the lake's export lease: its deletes are rolled back"
        )


async def months_ready(engine: AsyncEngine, observed: Iterable[datetime], bound: Any) -> None:
    """Before a batch's transaction: the months its rows fall in have partitions (PostgreSQL;
    one catalogue read when they do). Not getting the lock is no failure: the rows then wait
    in the default partition for the upkeep after the run."""
    wanted = {partitions.month_of(t) for t in observed}
    if engine.dialect.name != "postgresql" or not wanted:
        return
    try:
        async with engine.begin() as conn:
            made = await partitions.ensure(conn, wanted)
    except Exception as exc:
        bound.warning("partition_not_created", error=one_line_error(exc))
        return
    if made.created:
        bound.info("partitions_created", months=[m.isoformat()[:7] for m in made.created])


async def maintain_store(
    engine: AsyncEngine,
    settings: Settings,
    bound: Any,
    now: datetime | None = None,
) -> None:
    now = now or datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            made = await partitions.maintain(conn, now)
    except Exception as exc:
        bound.error("partition_maintenance_failed", error=one_line_error(exc))
    else:
        if made.created:
            bound.info(
                "partitions_created",
                months=[m.isoformat()[:7] for m in made.created],
                rows_moved_from_default=made.moved_from_default,
            )
    days = settings.observation_retention_days
    hourly = settings.hourly_rollup_retention_days
    if not days and not hourly:
        return
    # Raw rows leave only while this pass holds the export's lease, from the lake check to
    # the last delete's commit (renewed in each transaction, which also blocks an export's
    # acquire until the commit): an export with --restart deletes the lake's files before
    # it writes them again, and rows removed in between would be in neither place.
    lease = ExportLease(engine, LEASE_TTL_SECONDS) if days else None
    if lease is not None:
        try:
            await lease.acquire()
        except ExportBusy:
            bound.warning("retention_deferred", reason="the lake's export lease is held")
            return
        except Exception as exc:
            bound.error("retention_failed", error=one_line_error(exc))
            return
    lake = None
    try:
        if days:
            async with engine.connect() as conn:
                lake = await check_lake(conn, observation_days=days, now=now)
        async with engine.begin() as conn:
            months = await retire_months(conn, observation_days=days, now=now, lake=lake)
            await _still_held(conn, lease)
        async with engine.begin() as conn:
            done = await retire(
                conn, observation_days=days, hourly_rollup_days=hourly, now=now, lake=lake
            )
            await _still_held(conn, lease)
    except Exception as exc:
        bound.error("retention_failed", error=one_line_error(exc))
        return
    finally:
        if lease is not None:
            try:
                await lease.release()
            except Exception as exc:  # it expires on its own; the run must not fail for it
                bound.warning("retention_lease_not_released", error=one_line_error(exc))
    if lake is not None and not lake.holds_all:
        bound.warning(
            "retention_kept_rows_missing_from_lake",
            location=lake.location,
            days=len(lake.missing),
            error=lake.explain(),
        )
    if months.months or done.observations or done.hourly_rollups or done.kept_unexported:
        bound.info(
            "retention",
            months_dropped=[m.isoformat()[:7] for m in months.months],
            observations_deleted=months.rows + done.observations,
            hourly_rollups_deleted=done.hourly_rollups,
            days_kept_until_exported=len(done.kept_unexported),
        )
