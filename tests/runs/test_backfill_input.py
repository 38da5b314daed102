"""`kasparro backfill` and the runs it starts: a caller's mistake (an asset id that names no
asset, assets no chosen source lists, a time that is not one) is a usage error (exit 2, one
line) before any run, never a failed run."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.emulator import EmulatorConfig
from kasparro.runs.service import run_sources
from kasparro.sources.history import BackfillError, BackfillSpec, scope_assets
from tests.fixtures.api import rec, seed_run
from tests.fixtures.emulator import EmulatorFactory
from tests.fixtures.etl import make_settings, rows
from tests.fixtures.settings import runtime_for
from tests.runs.test_backfill import _cli_env

CLOSED = "http://127.0.0.1:9"  # nothing listens: a run started by mistake fails at once
WHEN = "not a date, timestamp or duration (e.g. 7d, 2024-05-01, 2024-05-01T00:00:00Z)"


async def _seed(engine: AsyncEngine) -> tuple[int, int]:
    """An asset CoinGecko lists (Bitcoin) and one only the CSV files list."""
    gecko = await seed_run(engine, "coingecko", [rec("bitcoin", symbol="BTC")])
    mine = await seed_run(engine, "csv", [rec("my-token", source="csv", symbol="MYT")])
    return gecko.asset_ids["bitcoin"], mine.asset_ids["my-token"]


async def _history_runs(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    return await rows(
        engine, "SELECT source, status FROM runs WHERE source LIKE '%_history' ORDER BY id"
    )


async def _backfill(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, list[str]]:
    """The console script as a user runs it: exit status, and every line it printed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kasparro",
        "backfill",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    text = (out + err).decode(errors="replace")
    return proc.returncode, [line for line in text.splitlines() if line.strip()]


def _env(db_url: str, base_url: str = CLOSED) -> dict[str, str]:
    env = _cli_env(db_url, _Urls(base_url))
    env.update(KASPARRO_HTTP_MAX_ATTEMPTS="1", KASPARRO_LOG_JSON="false")
    return env


class _Urls:
    def __init__(self, base: str) -> None:
        self.coingecko_base_url = f"{base}/api/v3"
        self.coinpaprika_base_url = f"{base}/v1"


async def test_the_cli_refuses_what_cannot_be_backfilled_in_one_line(
    engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    bitcoin, token = await _seed(engine)
    env = _env(db_url)
    cases = [
        (["--asset", "999999", "--since", "2d"], "error: asset 999999 does not exist"),
        (
            ["--asset", "999999", "--asset", str(bitcoin), "--asset", "999998"],
            "error: assets 999999, 999998 do not exist",
        ),
        (
            ["--asset", str(token)],
            f"error: nothing to backfill: asset {token} is not listed by coingecko or coinpaprika",
        ),
        (
            ["--source", "coinpaprika", "--asset", str(bitcoin)],
            f"error: nothing to backfill: asset {bitcoin} is not listed by coinpaprika "
            "(listed by coingecko)",
        ),
        (["--top", "3", "--since", "yesterday"], f"error: since: {WHEN}"),
        (["--top", "3", "--until", "tomorrow"], f"error: until: {WHEN}"),
    ]
    for args, line in cases:
        status, lines = await _backfill(env, tmp_path, *args)
        assert (status, lines) == (2, [line]), args
    assert await _history_runs(engine) == []


async def test_the_cli_backfills_from_the_sources_that_list_the_asset(
    engine: AsyncEngine, db_url: str, tmp_path: Path, emulator_factory: EmulatorFactory
) -> None:
    emu = emulator_factory(EmulatorConfig(coins=100, anchor="now"))
    bitcoin, _ = await _seed(engine)
    status, lines = await _backfill(
        _env(db_url, emu.base_url), tmp_path, "--asset", str(bitcoin), "--since", "7d"
    )
    assert status == 0, lines
    skipped = f"coinpaprika_history skipped: nothing to backfill: asset {bitcoin} is not listed"
    assert [line for line in lines if "skipped" in line] == [f"{skipped} by coinpaprika"]
    assert await _history_runs(engine) == [("coingecko_history", "success")]


async def test_a_run_of_assets_the_source_does_not_list_is_refused_not_recorded(
    engine: AsyncEngine, db_url: str
) -> None:
    """Whoever starts the run (not only the CLI and the API, which check first)."""
    bitcoin, token = await _seed(engine)
    settings = make_settings(
        db_url, coingecko_base_url=f"{CLOSED}/api/v3", coinpaprika_base_url=f"{CLOSED}/v1"
    )
    runtime = runtime_for(settings)
    now = datetime.now(UTC)
    for asset_ids, reason in [
        ((999999,), "asset 999999 does not exist"),
        ((token,), f"nothing to backfill: asset {token} is not listed by coingecko"),
    ]:
        spec = BackfillSpec("1d", now - timedelta(days=7), now, asset_ids=asset_ids, now=now)
        async with httpx.AsyncClient(timeout=5) as http:
            (result,) = await run_sources(
                engine,
                runtime.catalog,
                ["coingecko"],
                http=http,
                limiters=runtime.limiters(),
                backfill=spec,
            )
        assert (result.status, result.run_id, result.error) == ("failed", 0, reason)
        assert result.invalid_request
    assert await _history_runs(engine) == []
    assert bitcoin != token


def test_each_source_backfills_the_named_assets_it_lists() -> None:
    both, gecko, mine = frozenset({"coingecko", "coinpaprika"}), frozenset({"coingecko"}), {"csv"}
    listed = {1: both, 2: gecko, 3: frozenset(mine)}
    scope = scope_assets([1, 2, 2], listed, ["coingecko", "coinpaprika"])
    assert (scope.providers, scope.skipped) == (("coingecko", "coinpaprika"), ())
    assert scope.reason("coingecko") is None
    assert scope.reason("coinpaprika") == (
        "asset 2 is not listed by coinpaprika: not backfilled from it"
    )
    scope = scope_assets([2, 3], listed, ["coingecko", "coinpaprika"])
    assert (scope.providers, scope.skipped) == (("coingecko",), ("coinpaprika",))
    assert scope.reason("coinpaprika") == (
        "nothing to backfill: assets 2, 3 are not listed by coinpaprika"
    )
    assert scope.reason("coingecko") == "asset 3 is not listed by coingecko: not backfilled from it"
    with pytest.raises(BackfillError) as info:
        scope_assets([3], listed, ["coinpaprika"], available=["coingecko", "coinpaprika"])
    assert info.value.kind == "not_listed" and info.value.field == "asset_ids"
    assert str(info.value) == "nothing to backfill: asset 3 is not listed by coinpaprika"
    with pytest.raises(BackfillError) as info:
        scope_assets([4, 1, 5], listed, ["coingecko"])
    assert (info.value.kind, info.value.detail) == ("unknown_asset", {"asset_ids": [4, 5]})
    assert str(info.value) == "assets 4, 5 do not exist"
    # The top coins: nothing is named, every chosen source runs.
    assert scope_assets([], {}, ["coingecko"]).providers == ("coingecko",)
