"""Raw payload archive: every upstream response is kept (compressed) for re-normalization."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.sources.base import RawResponse
from kasparro.store.schema import raw_responses


async def save_raw(
    conn: AsyncConnection, source: str, run_id: int, page: int | None, raw: RawResponse
) -> int:
    # zlib level 1: JSON market pages shrink ~5x for about a millisecond of CPU per page.
    body = zlib.compress(raw.body, 1)
    result = await conn.execute(
        insert(raw_responses).returning(raw_responses.c.id),
        {
            "run_id": run_id,
            "source": source,
            "endpoint": raw.endpoint,
            "params": orjson.dumps(raw.params, default=str).decode(),
            "page": page,
            "fetched_at": raw.fetched_at,
            "http_status": raw.status,
            "content_type": raw.content_type,
            "body_encoding": "zlib",
            "body": body,
        },
    )
    return int(result.scalar_one())


def decode_body(encoding: str, body: bytes) -> bytes:
    return zlib.decompress(body) if encoding == "zlib" else body


async def purge_raw(conn: AsyncConnection, retention_days: int) -> int:
    """Delete raw payloads older than the retention window (0 keeps everything)."""
    if retention_days <= 0:
        return 0
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    result = await conn.execute(delete(raw_responses).where(raw_responses.c.fetched_at < cutoff))
    return result.rowcount or 0
