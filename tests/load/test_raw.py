"""The raw archive: payloads kept in order, and which ones a new run may skip as loaded."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.load.raw import (
    RECENT_RUNS,
    ArchivedPayload,
    decode_body,
    loaded_fingerprints,
    save_raws,
)
from kasparro.runs import repository as repo
from kasparro.sources.base import RawResponse
from kasparro.store.schema import raw_responses

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _raw(body: bytes) -> RawResponse:
    return RawResponse("/coins/markets", {"page": 1}, 200, "application/json", body, T0)


async def _run(conn: object, source: str) -> int:
    return await repo.create_run(
        conn,  # type: ignore[arg-type]
        source=source,
        trigger="cli",
        owner="t:0:x",
        resumed_from=None,
        start_page=1,
    )


async def test_a_group_of_payloads_is_archived_in_order_with_its_ids(engine: AsyncEngine) -> None:
    bodies = [f"[{i}]".encode() for i in range(7)]
    async with engine.begin() as conn:
        run_id = await _run(conn, "coingecko")
        payloads = [ArchivedPayload(_raw(b), page=i + 1) for i, b in enumerate(bodies)]
        ids = await save_raws(conn, "coingecko", run_id, payloads)
        rows = (
            await conn.execute(
                raw_responses.select().with_only_columns(
                    raw_responses.c.id,
                    raw_responses.c.page,
                    raw_responses.c.body_encoding,
                    raw_responses.c.body,
                )
            )
        ).all()
    assert ids == sorted(ids) and len(set(ids)) == 7
    by_id = {r.id: (r.page, decode_body(r.body_encoding, r.body)) for r in rows}
    assert [by_id[i] for i in ids] == [(i + 1, b) for i, b in enumerate(bodies)]


async def test_a_new_run_knows_the_payloads_its_source_loaded_in_its_last_runs(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        runs = []
        for n in range(5):
            run_id = await _run(conn, "coingecko")
            runs.append(run_id)
            loaded = ArchivedPayload(_raw(b"[1]"), 1, loaded_fingerprint=f"fp-{n}")
            rejected = ArchivedPayload(_raw(b"[2]"), 2)  # not loaded whole: no fingerprint
            await save_raws(conn, "coingecko", run_id, [loaded, rejected])
        other = await _run(conn, "coinpaprika")
        await save_raws(conn, "coinpaprika", other, [ArchivedPayload(_raw(b"[]"), 1, None, "x")])
        current = await _run(conn, "coingecko")

        known = await loaded_fingerprints(conn, "coingecko", current)
        assert RECENT_RUNS == 3
        assert known == {"fp-2", "fp-3", "fp-4"}  # the last three runs before this one
        assert await loaded_fingerprints(conn, "coingecko", runs[2]) == {"fp-0", "fp-1"}
        assert await loaded_fingerprints(conn, "coingecko", runs[0]) == set()
        assert await loaded_fingerprints(conn, "coinpaprika", current) == {"x"}
