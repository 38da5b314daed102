"""Raw payload archive: every upstream response is kept (compressed) for re-normalization."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro import __version__
from kasparro.sources.base import Page, RawResponse
from kasparro.store.schema import raw_responses
from kasparro.store.schema import runs as runs_table


def compress_body(body: bytes) -> bytes:
    # zlib level 1: JSON market pages shrink ~5x for about a millisecond of CPU per page.
    return zlib.compress(body, 1)


def fingerprint(source: str, page: Page) -> str:
    """sha256 of everything that decides what loading ``page`` stores: the code version, the
    request (source, endpoint, parameters), the page's checkpoint (for CSV it hashes the
    file up to the page, header included), how many items the source took from the body
    (CoinGecko's last page is cut to ``coingecko_max_coins``: the same bytes under a higher
    cap hold items not loaded yet) and the exact body bytes."""
    raw = page.raw
    digest = hashlib.sha256()
    for part in (
        __version__,
        source,
        raw.endpoint,
        orjson.dumps(raw.params, option=orjson.OPT_SORT_KEYS, default=str),
        orjson.dumps(page.checkpoint, option=orjson.OPT_SORT_KEYS, default=str),
        str(len(page.items)),
    ):
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    digest.update(raw.body)  # hashlib releases the GIL for big buffers: callable in a thread
    return digest.hexdigest()


# Runs whose loaded payloads a new run recognises (see loaded_fingerprints): the previous run
# alone may have stopped early; three cover a failed or interrupted one in between.
RECENT_RUNS: Final = 3


async def loaded_fingerprints(
    conn: AsyncConnection, source: str, before_run: int, runs: int = RECENT_RUNS
) -> set[str]:
    """Fingerprints of the payloads that the source's last ``runs`` runs before
    ``before_run`` archived after loading them whole with no rejection: every item such a
    payload holds is in the store already. One query per run, not one per page; a payload
    last seen longer ago is simply processed again (and found unchanged)."""
    r = raw_responses.c
    recent = (
        select(runs_table.c.id)
        .where(runs_table.c.source == source, runs_table.c.id < before_run)
        .order_by(runs_table.c.id.desc())
        .limit(runs)
    )
    rows = await conn.execute(
        select(r.fingerprint).where(
            r.source == source, r.fingerprint.is_not(None), r.run_id.in_(recent.scalar_subquery())
        )
    )
    return {fp for (fp,) in rows}


async def mark_loaded(conn: AsyncConnection, raw_id: int, fp: str) -> None:
    await conn.execute(
        update(raw_responses).where(raw_responses.c.id == raw_id).values(fingerprint=fp)
    )


@dataclass(frozen=True, slots=True)
class ArchivedPayload:
    """One response to archive. ``compressed`` is ``compress_body(raw.body)`` if the caller
    has it; ``loaded_fingerprint`` is set when the payload's items are all in the store (see
    :func:`loaded_fingerprints`)."""

    raw: RawResponse
    page: int | None
    compressed: bytes | None = None
    loaded_fingerprint: str | None = None


async def save_raws(
    conn: AsyncConnection, source: str, run_id: int, payloads: Sequence[ArchivedPayload]
) -> list[int]:
    """Archive ``payloads``; returns their ids in the same order. One multi-row INSERT on
    PostgreSQL; on SQLite SQLAlchemy sends one per row to keep the ids in order (in-process,
    so no round trips are at stake)."""
    if not payloads:
        return []
    rows = [
        {
            "fingerprint": p.loaded_fingerprint,
            "run_id": run_id,
            "source": source,
            "endpoint": p.raw.endpoint,
            "params": orjson.dumps(p.raw.params, default=str).decode(),
            "page": p.page,
            "fetched_at": p.raw.fetched_at,
            "http_status": p.raw.status,
            "content_type": p.raw.content_type,
            "body_encoding": "zlib",
            "body": compress_body(p.raw.body) if p.compressed is None else p.compressed,
        }
        for p in payloads
    ]
    stmt = insert(raw_responses).returning(raw_responses.c.id, sort_by_parameter_order=True)
    result = await conn.execute(stmt, rows)
    return [int(raw_id) for raw_id in result.scalars()]


async def save_raw(
    conn: AsyncConnection, source: str, run_id: int, page: int | None, raw: RawResponse
) -> int:
    (raw_id,) = await save_raws(conn, source, run_id, [ArchivedPayload(raw, page)])
    return raw_id


def decode_body(encoding: str, body: bytes) -> bytes:
    return zlib.decompress(body) if encoding == "zlib" else body


async def purge_raw(conn: AsyncConnection, retention_days: int) -> int:
    """Delete raw payloads older than the retention window (0 keeps everything)."""
    if retention_days <= 0:
        return 0
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    result = await conn.execute(delete(raw_responses).where(raw_responses.c.fetched_at < cutoff))
    return result.rowcount or 0
