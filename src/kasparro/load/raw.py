"""Raw payload archive: every upstream response is kept (compressed) for re-normalization."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro import __version__
from kasparro.sources.base import Page, RawResponse
from kasparro.store.schema import raw_responses


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


async def is_loaded_payload(conn: AsyncConnection, source: str, fp: str) -> bool:
    """True when a payload with this fingerprint was archived after loading with no
    rejection: every item it holds is in the store already."""
    r = raw_responses.c
    found = await conn.execute(select(r.id).where(r.source == source, r.fingerprint == fp).limit(1))
    return found.first() is not None


async def mark_loaded(conn: AsyncConnection, raw_id: int, fp: str) -> None:
    await conn.execute(
        update(raw_responses).where(raw_responses.c.id == raw_id).values(fingerprint=fp)
    )


@dataclass(frozen=True, slots=True)
class ArchivedPayload:
    """One response to archive. ``compressed`` is ``compress_body(raw.body)`` if the caller
    has it; ``loaded_fingerprint`` is set when the payload's items are all in the store (see
    :func:`is_loaded_payload`)."""

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
