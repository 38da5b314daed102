"""Per-source operational figures for ``/stats`` and ``/health``.

Per-source lookups walk ``ix_runs_source_started`` backwards with LIMIT (constant time);
the only aggregate is one GROUP BY over ``runs`` (one row per run, not per record), plus
GROUP BYs over the small ``quarantine`` and ``drift_events`` tables. Nothing counts
``observations``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.query.runs import OK_STATUSES as OK_STATUSES
from kasparro.query.runs import RUN_COLUMNS, RUN_FIELDS, with_duration
from kasparro.store.schema import checkpoints, drift_events, quarantine, runs, scheduler_state

r = runs.c
FAILED_STATUSES = ("failed", "crashed")


async def ping(conn: AsyncConnection) -> None:
    await conn.execute(select(1))


async def run_totals(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    rows = await conn.execute(
        select(
            r.source,
            func.count(),
            func.coalesce(func.sum(r.fetched), 0),
            func.coalesce(func.sum(r.loaded), 0),
            func.coalesce(func.sum(r.unchanged), 0),
            func.coalesce(func.sum(r.rejected), 0),
        ).group_by(r.source)
    )
    return {
        source: {
            "runs": int(n),
            "fetched": int(f),
            "loaded": int(ld),
            "unchanged": int(u),
            "rejected": int(rj),
        }
        for source, n, f, ld, u, rj in rows
    }


async def recent_runs(conn: AsyncConnection, source: str, n: int) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(*RUN_COLUMNS)
        .where(r.source == source)
        .order_by(r.started_at.desc(), r.id.desc())
        .limit(n)
    )
    return [with_duration(dict(zip(RUN_FIELDS, row, strict=True))) for row in rows]


async def last_run_with_status(
    conn: AsyncConnection, source: str, statuses: Iterable[str]
) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(*RUN_COLUMNS)
            .where(r.source == source, r.status.in_(list(statuses)))
            .order_by(r.started_at.desc(), r.id.desc())
            .limit(1)
        )
    ).first()
    return with_duration(dict(zip(RUN_FIELDS, row, strict=True))) if row else None


async def checkpoint_states(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    rows = await conn.execute(
        select(
            checkpoints.c.source,
            checkpoints.c.state,
            checkpoints.c.run_id,
            checkpoints.c.updated_at,
        )
    )
    out: dict[str, dict[str, Any]] = {}
    for source, state, run_id, updated_at in rows:
        try:
            parsed: Any = orjson.loads(state)
        except orjson.JSONDecodeError:
            parsed = {"unparseable": state[:200]}
        out[source] = {"state": parsed, "run_id": run_id, "updated_at": updated_at}
    return out


async def scheduler_rows(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    s = scheduler_state.c
    rows = await conn.execute(
        select(
            s.source, s.next_run_at, s.last_tick_at, s.consecutive_failures, s.heartbeat_at, s.owner
        )
    )
    return {
        row[0]: {
            "next_run_at": row[1],
            "last_tick_at": row[2],
            "consecutive_failures": row[3],
            "heartbeat_at": row[4],
            "owner": row[5],
        }
        for row in rows
    }


async def drift_counts(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    d = drift_events.c
    rows = await conn.execute(
        select(d.source, func.count(), func.coalesce(func.sum(d.count), 0)).group_by(d.source)
    )
    return {src: {"events": int(n), "occurrences": int(total)} for src, n, total in rows}


async def quarantine_counts(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    q = quarantine.c
    rows = await conn.execute(
        select(q.source, func.count(), func.coalesce(func.sum(q.seen_count), 0)).group_by(q.source)
    )
    return {src: {"records": int(n), "times_seen": int(total)} for src, n, total in rows}


async def last_run(conn: AsyncConnection, source: str) -> dict[str, Any] | None:
    runs_ = await recent_runs(conn, source, 1)
    return runs_[0] if runs_ else None


def latest_time(values: Iterable[datetime | None]) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _for_source(status: dict[str, Any] | None, source: str) -> dict[str, Any] | None:
    """Per-source entry of an in-process scheduler status (``{"sources": {...}}`` or flat)."""
    if not status:
        return None
    container = status.get("sources", status)
    entry = container.get(source) if isinstance(container, dict) else None
    return entry if isinstance(entry, dict) else None


async def stats_report(
    conn: AsyncConnection,
    *,
    sources: Iterable[str],
    window: int,
    scheduler_status: dict[str, Any] | None,
    running_in_app: Iterable[str] = (),
) -> dict[str, Any]:
    totals = await run_totals(conn)
    checkpoints_ = await checkpoint_states(conn)
    schedule = await scheduler_rows(conn)
    drift = await drift_counts(conn)
    quarantined = await quarantine_counts(conn)
    active = set(running_in_app)
    names = list(dict.fromkeys([*sources, *sorted(totals), *sorted(checkpoints_)]))

    per_source: dict[str, Any] = {}
    for name in names:
        recent = await recent_runs(conn, name, window)
        last = recent[0] if recent else None
        finished = [r for r in recent if r["status"] != "running"]
        ok = [r for r in finished if r["status"] in OK_STATUSES]
        last_ok = await last_run_with_status(conn, name, OK_STATUSES)
        last_bad = await last_run_with_status(conn, name, FAILED_STATUSES)
        live = _for_source(scheduler_status, name)
        row = schedule.get(name)
        next_run_at = (live or {}).get("next_run_at") or (row or {}).get("next_run_at")
        t = totals.get(name, {"runs": 0, "fetched": 0, "loaded": 0, "unchanged": 0, "rejected": 0})
        per_source[name] = {
            "last_run_status": last["status"] if last else None,
            "last_run_at": last["started_at"] if last else None,
            "last_success_at": (last_ok["finished_at"] or last_ok["started_at"])
            if last_ok
            else None,
            "last_failure_at": (last_bad["finished_at"] or last_bad["started_at"])
            if last_bad
            else None,
            "last_duration_s": finished[0]["duration_s"] if finished else None,
            "success_rate": round(len(ok) / len(finished), 4) if finished else None,
            "success_rate_window": window,
            "success_rate_runs": len(finished),
            "runs": t["runs"],
            "records": {k: t[k] for k in ("fetched", "loaded", "unchanged", "rejected")},
            "checkpoint": checkpoints_.get(name),
            "next_run_at": next_run_at,
            "scheduler": live or row,
            "drift_events": drift.get(name, {}).get("events", 0),
            "drift_occurrences": drift.get(name, {}).get("occurrences", 0),
            "quarantined_records": quarantined.get(name, {}).get("records", 0),
            "quarantine_times_seen": quarantined.get(name, {}).get("times_seen", 0),
            "running": name in active or bool(last and last["status"] == "running"),
            "last_run": last,
        }
    records = {
        k: sum(t[k] for t in totals.values())
        for k in ("fetched", "loaded", "unchanged", "rejected")
    }
    return {
        "total_records_processed": records["fetched"],
        "records": records,
        "runs": sum(t["runs"] for t in totals.values()),
        "sources": per_source,
    }


async def health_report(conn: AsyncConnection, sources: Iterable[str]) -> dict[str, Any]:
    """Last run per source and the freshest scheduler heartbeat recorded in the database."""
    out: dict[str, Any] = {}
    for name in sources:
        last = await last_run(conn, name)
        out[name] = {
            "last_run_id": last["id"] if last else None,
            "last_run_status": last["status"] if last else None,
            "last_run_at": last["started_at"] if last else None,
            "last_finished_at": last["finished_at"] if last else None,
        }
    schedule = await scheduler_rows(conn)
    return {
        "sources": out,
        "scheduler_heartbeat_at": latest_time(r["heartbeat_at"] for r in schedule.values()),
    }
