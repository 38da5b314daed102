"""Drift events: one row per (source, endpoint, field, kind), counted and timestamped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.load.quarantine import raw_text
from kasparro.normalize.drift import DriftFinding
from kasparro.store.dialect import insert_for
from kasparro.store.schema import drift_events


async def record_drift(
    conn: AsyncConnection,
    source: str,
    endpoint: str,
    findings: list[DriftFinding],
    run_id: int,
    now: datetime,
) -> list[DriftFinding]:
    """Upsert findings; return those never seen before (the caller warns once for each)."""
    if not findings:
        return []
    keys = [(source, endpoint, f.field, f.kind) for f in findings]
    existing = {
        tuple(r)
        for r in await conn.execute(
            select(
                drift_events.c.source,
                drift_events.c.endpoint,
                drift_events.c.field,
                drift_events.c.kind,
            ).where(
                tuple_(
                    drift_events.c.source,
                    drift_events.c.endpoint,
                    drift_events.c.field,
                    drift_events.c.kind,
                ).in_(keys)
            )
        )
    }
    rows = [
        {
            "source": source,
            "endpoint": endpoint,
            "field": f.field,
            "kind": f.kind,
            "expected": f.expected,
            "observed": f.observed,
            "suggestion": f.suggestion,
            "confidence": f.confidence,
            "sample": None if f.sample is None else raw_text(f.sample)[:2000],
            "count": f.count,
            "first_seen_at": now,
            "last_seen_at": now,
            "last_run_id": run_id,
        }
        for f in findings
    ]
    ins = insert_for(conn, drift_events)
    await conn.execute(
        ins.on_conflict_do_update(
            index_elements=["source", "endpoint", "field", "kind"],
            set_={
                "count": drift_events.c.count + ins.excluded.count,
                "last_seen_at": ins.excluded.last_seen_at,
                "last_run_id": ins.excluded.last_run_id,
                "observed": ins.excluded.observed,
                "suggestion": ins.excluded.suggestion,
                "confidence": ins.excluded.confidence,
            },
        ),
        rows,
    )
    return [f for f, k in zip(findings, keys, strict=True) if k not in existing]
