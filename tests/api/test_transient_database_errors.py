"""A query a PostgreSQL standby cancels to replay WAL (SQLSTATE 40001), or one lost to a
deadlock or a restarting server, is an outage to retry (503 with Retry-After), not our bug
(500): the read router's failover only covers opening the connection."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.requests import Request

from kasparro.api.errors import _database_error


def _request() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "state": {}})


@pytest.mark.parametrize(
    ("sql", "status"),
    [
        ("DO $$ BEGIN RAISE EXCEPTION 'replay' USING ERRCODE = '40001'; END $$", 503),
        ("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$", 503),
        ("SELECT 1 / 0", 500),
        ("SELECT no_such_column FROM pg_class", 500),
    ],
)
async def test_a_cancelled_replica_query_is_a_503(pg_url: str, sql: str, status: int) -> None:
    engine = create_async_engine(pg_url)
    try:
        async with engine.connect() as conn:
            with pytest.raises(Exception) as caught:
                await conn.execute(text(sql))
    finally:
        await engine.dispose()
    response = await _database_error(_request(), caught.value)
    assert response.status_code == status
    body = json.loads(bytes(response.body))
    assert body["error"]["code"] == ("database_unavailable" if status == 503 else "internal_error")
    if status == 503:
        assert response.headers["Retry-After"]
