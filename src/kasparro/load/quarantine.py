"""Quarantine: rejected records with their reason and raw form, deduplicated by fingerprint."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.models import Rejection
from kasparro.store.dialect import insert_for
from kasparro.store.schema import quarantine


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return repr(obj)


def raw_text(raw: Any) -> str:
    """``raw`` as JSON text (sorted keys, compact), exactly as it came: what quarantine and
    drift samples store."""
    try:
        return orjson.dumps(raw, default=_default, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        # orjson refuses what JSON allows and rejected records do carry: integers beyond 64
        # bits (a price of 10**30) and lone surrogates (``"\\ud800"``). The stdlib writes both
        # (surrogates as their escape), so the record is kept, not lost with its batch.
        return json.dumps(
            raw, default=_default, sort_keys=True, separators=(",", ":"), ensure_ascii=True
        )


async def quarantine_rejections(
    conn: AsyncConnection, source: str, rejections: list[Rejection], run_id: int, now: datetime
) -> None:
    """Upsert rejections: a record rejected again bumps ``seen_count`` instead of duplicating."""
    if not rejections:
        return
    rows: dict[str, dict[str, Any]] = {}
    for rej in rejections:
        text = raw_text(rej.raw)
        fp = hashlib.sha256(f"{rej.reason}\x00{text}".encode()).hexdigest()
        if fp in rows:
            rows[fp]["seen_count"] += 1
            continue
        rows[fp] = {
            "source": source,
            "fingerprint": fp,
            "source_asset_id": rej.source_asset_id,
            "reason": rej.reason,
            "raw": text,
            "first_run_id": run_id,
            "last_run_id": run_id,
            "seen_count": 1,
            "first_seen_at": now,
            "last_seen_at": now,
        }
    ins = insert_for(conn, quarantine)
    stmt = ins.on_conflict_do_update(
        index_elements=["source", "fingerprint"],
        set_={
            "last_run_id": ins.excluded.last_run_id,
            "last_seen_at": ins.excluded.last_seen_at,
            "seen_count": quarantine.c.seen_count + ins.excluded.seen_count,
        },
    )
    await conn.execute(stmt, list(rows.values()))
