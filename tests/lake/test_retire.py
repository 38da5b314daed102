"""Retention per tier (``retire``), on both dialects: raw observations leave only once the
lake holds them, the latest observation of each asset and source stays, hourly rollups go
after their own window, daily rollups and their candles stay."""

from __future__ import annotations

import shutil
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.lake.export import export
from kasparro.lake.lease import ExportLease
from kasparro.lake.retention import Retired, retire
from kasparro.runs.maintenance import maintain_store
from kasparro.settings import Settings
from kasparro.store.rollup_schema import observation_rollups
from kasparro.store.schema import listings, observations
from tests.fixtures.api import T0, rec, running_app, seed_run

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
NOW = T0 + 40 * DAY


async def _counts(engine: AsyncEngine) -> tuple[int, int, int]:
    r = observation_rollups.c
    async with engine.connect() as conn:
        raw = (await conn.execute(select(func.count()).select_from(observations))).scalar_one()
        per = [
            (await conn.execute(select(func.count()).where(r.bucket_seconds == s))).scalar_one()
            for s in (3_600, 86_400)
        ]
    return int(raw), int(per[0]), int(per[1])


async def _retire(engine: AsyncEngine, days: int, hourly: int) -> object:
    async with engine.begin() as conn:
        return await retire(conn, observation_days=days, hourly_rollup_days=hourly, now=NOW)


async def test_raw_rows_go_only_once_exported_and_rollups_outlive_them(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    # Two coins, one observation a day for 40 days; "c1" stops after day 4.
    for day in range(40):
        coins = ["c0", "c1"] if day < 5 else ["c0"]
        await seed_run(engine, "coingecko", [rec(c, at=T0 + day * DAY) for c in coins])
    assert await _counts(engine) == (45, 45, 45)

    # Nothing is in the lake yet: nothing raw is deleted, whatever the window.
    done = await _retire(engine, 10, 0)
    assert done.observations == 0 and len(done.kept_unexported) == 30
    assert (await _counts(engine))[0] == 45

    await export(engine, tmp_path / "lake")
    await seed_run(engine, "coingecko", [rec("late", at=T0 + 2 * DAY)])  # after the export
    done = await _retire(engine, 10, 0)
    # Days 0-29 are older than 10 days: 35 rows, less c1's latest (day 4) and the late row.
    assert done.observations == 35 - 1
    assert [(p.day.isoformat(), p.rows) for p in done.kept_unexported] == [("2024-05-03", 1)]
    raw, hourly, daily = await _counts(engine)
    assert raw == 46 - 34
    assert hourly == daily == 46  # rollups are not retired with the raw rows

    done = await _retire(engine, 10, 20)
    assert done.hourly_rollups == 46 - 20  # hourly rollups of days 0-19 (the late one too)
    assert await _counts(engine) == (12, 20, 46)

    again = await _retire(engine, 10, 20)
    assert (again.observations, again.hourly_rollups) == (0, 0)


async def test_zero_keeps_every_tier(engine: AsyncEngine, tmp_path: Path) -> None:
    await seed_run(engine, "coingecko", [rec("c0", at=T0)])
    await export(engine, tmp_path / "lake")
    done = await _retire(engine, 0, 0)
    assert (done.observations, done.hourly_rollups) == (0, 0)
    assert await _counts(engine) == (1, 1, 1)


async def test_a_relink_after_retention_leaves_the_retired_days_rollups_whole(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from kasparro.load.rollups import rebuild_moved
    from kasparro.store.schema import assets

    # "c1": 6 observations on day 0, then nothing: after retention only its latest is left.
    await seed_run(engine, "coingecko", [rec("c1", at=T0 + timedelta(hours=h)) for h in range(6)])
    await seed_run(engine, "coingecko", [rec("c0", at=T0 + 39 * DAY)])
    await export(engine, tmp_path / "lake")
    assert (await _retire(engine, 10, 0)).observations == 5
    r = observation_rollups.c
    daily = select(r.asset_id, r.observations).where(
        r.bucket_seconds == 86_400, r.bucket == int(T0.timestamp()) // 86_400 * 86_400
    )
    async with engine.begin() as conn:
        (before,) = (await conn.execute(daily)).all()
        target = (
            await conn.execute(
                assets.insert().returning(assets.c.id),
                {"identity_key": "c1:moved", "symbol": "c1", "name": "c1", "created_at": T0},
            )
        ).scalar_one()
        o = observations.c
        await conn.execute(
            update(observations)
            .where(
                o.listing_id
                == select(listings.c.id).where(listings.c.source_asset_id == "c1").scalar_subquery()
            )
            .values(asset_id=target)
        )
        await rebuild_moved(conn, [("coingecko", "c1", before.asset_id, target)])
        # Rebuilt from the one raw row left, the day would count 1 observation instead of 6.
        assert (await conn.execute(daily)).all() == [before]
        assert before.observations == 6


async def test_candles_never_come_from_the_rows_retention_left(
    engine: AsyncEngine, tmp_path: Path, api_settings: Settings
) -> None:
    """Before the retention boundary only the rollups hold every bucket: the raw path
    refuses a range that reaches there (422 naming the setting), an open range starts at
    the boundary, and aligned 1h/1d candles still answer from the rollups."""
    for day in range(40):
        await seed_run(
            engine, "coingecko", [rec("c0", at=T0 + day * DAY + h * HOUR) for h in (0, 6)]
        )
    await export(engine, tmp_path / "lake")
    assert (await _retire(engine, 10, 0)).observations == 60
    async with running_app(api_settings, engine=engine) as client:
        asset = (await client.get("/api/v1/assets")).json()["data"][0]["id"]
        url = f"/api/v1/assets/{asset}/history"
        old = (T0 + 2 * DAY).strftime("%Y-%m-%dT00:00:00Z")  # a day boundary
        refused = await client.get(url, params={"interval": "4h", "since": old})
        assert refused.status_code == 422, refused.text
        assert "KASPARRO_OBSERVATION_RETENTION_DAYS" in refused.json()["error"]["message"]
        shifted = (T0 + 2 * DAY).strftime("%Y-%m-%dT00:00:01Z")
        assert (
            await client.get(url, params={"interval": "1d", "since": shifted})
        ).status_code == 422
        open_range = (await client.get(url, params={"interval": "4h", "limit": 500})).json()
        first = open_range["data"][0]["bucket_start"]
        assert first >= (NOW - 10 * DAY).strftime("%Y-%m-%d"), first
        assert all(c["observations"] == 1 for c in open_range["data"])  # one row per 4 h bucket
        daily = (await client.get(url, params={"interval": "1d", "since": old, "limit": 5})).json()
        assert [c["observations"] for c in daily["data"]] == [2] * 5, daily


async def test_raw_rows_stay_while_their_exported_files_are_gone_from_the_lake(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The watermark says what an export wrote, not what is still there (a lake under /tmp
    after a reboot): retention checks each day's files before removing its raw rows."""
    for day in range(20):
        await seed_run(engine, "coingecko", [rec("c0", at=T0 + day * DAY)])
    lake = tmp_path / "lake"
    await export(engine, lake)
    shutil.rmtree(lake / "observations" / "date=2024-05-03")
    (file,) = (lake / "observations" / "date=2024-05-07").rglob("*.parquet")
    file.write_bytes(b"not parquet any more")

    done = await _retire(engine, 10, 0)
    assert isinstance(done, Retired) and done.lake is not None
    assert done.observations == 0 and (await _counts(engine))[0] == 20
    assert done.lake.location == str(lake.resolve())
    assert [(p.source, p.day.isoformat()) for p in done.lake.missing] == [
        ("coingecko", "2024-05-03"),
        ("coingecko", "2024-05-07"),
    ]

    # Written again, the days may go (all but c0's latest row, day 19).
    await export(engine, lake, restart=True)
    done = await _retire(engine, 10, 0)
    assert isinstance(done, Retired) and done.lake is not None
    assert done.lake.missing == [] and done.observations == 19


async def test_without_pyarrow_nothing_raw_goes_and_the_reason_says_so(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduler installed without the `lake` extra cannot read the files: it keeps the
    rows and names the extra, rather than calling the lake's files gone."""
    for day in range(20):
        await seed_run(engine, "coingecko", [rec("c0", at=T0 + day * DAY)])
    await export(engine, tmp_path / "lake")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import now raises ImportError
    done = await _retire(engine, 10, 0)
    assert isinstance(done, Retired) and done.lake is not None
    assert done.observations == 0 and done.lake.unreadable and not done.lake.holds_all
    assert "pip install 'kasparro[lake]'" in done.lake.explain()


async def test_upkeep_waits_for_a_running_export_and_names_missing_files(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    """Retention holds the export's lease from its lake check to its last delete: while an
    export holds it (one with --restart deletes files before writing them again), upkeep
    removes nothing; with the lease, missing files keep the rows and the log says why."""
    for day in range(20):
        await seed_run(engine, "coingecko", [rec("c0", at=T0 + day * DAY)])
    lake = tmp_path / "lake"
    await export(engine, lake)
    settings = Settings(database_url=db_url, observation_retention_days=10)
    exporting = ExportLease(engine, 60)
    await exporting.acquire()
    try:
        with structlog.testing.capture_logs() as logs:
            await maintain_store(engine, settings, structlog.get_logger(), now=NOW)
    finally:
        await exporting.release()
    assert [e["event"] for e in logs if e["event"].startswith("retention")] == [
        "retention_deferred"
    ]
    assert (await _counts(engine))[0] == 20

    shutil.rmtree(lake / "observations" / "date=2024-05-03")
    with structlog.testing.capture_logs() as logs:
        await maintain_store(engine, settings, structlog.get_logger(), now=NOW)
    (kept,) = [e for e in logs if e["event"] == "retention_kept_rows_missing_from_lake"]
    assert kept["days"] == 1 and "coingecko 2024-05-03" in kept["error"]
    assert "--restart" in kept["error"] and "new, empty lake" in kept["error"]
    assert (await _counts(engine))[0] == 20
