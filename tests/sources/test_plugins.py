"""A third-party source, installed as its own package, runs like a built-in one.

The example plugin (``tests/plugins/example_source``: its own ``pyproject.toml``, discovered
through the ``kasparro.sources`` entry-point group) is pip-installed into a directory of its
own, then: the CLI lists and runs it in a child process, the registry discovers it, and the
ETL, the API (its source name, the data, the dashboard's source list) and the scheduler work
with it in this process. Kasparro's own code is not edited to add it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from importlib.metadata import EntryPoint
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.scheduler import Scheduler
from kasparro.settings import Settings
from kasparro.sources.catalog import SourceSettingsError
from kasparro.sources.registry import Registry
from tests.fixtures.api import make_settings, running_app
from tests.fixtures.etl import count
from tests.fixtures.settings import catalog_for, runtime_for

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "example_source"
KASPARRO = [sys.executable, "-m", "kasparro"]


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install`` of the plugin's folder, as a user would (pip builds it with setuptools
    from the package index), into a directory of its own: other tests do not see it."""
    site = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "--target", str(site), str(PLUGIN),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    return site


@pytest.fixture
def with_plugin(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """This process sees the installed plugin: the registry finds it by its entry point."""
    monkeypatch.syspath_prepend(str(plugin_site))
    registry = Registry.discover()
    yield registry
    for name in [
        m for m in sys.modules if m == "kasparro_example" or m.startswith("kasparro_example.")
    ]:
        del sys.modules[name]


def _cli(args: list[str], site: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "KASPARRO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'plugin.db'}",
    }
    return subprocess.run(
        [*KASPARRO, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_installed_plugin_runs_from_the_cli(plugin_site: Path, tmp_path: Path) -> None:
    listed = _cli(["sources"], plugin_site, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "example" in listed.stdout and "not loaded" not in listed.stderr
    ran = _cli(["etl", "run", "--source", "example"], plugin_site, tmp_path)
    assert ran.returncode == 0, ran.stderr
    row = next(line for line in ran.stdout.splitlines() if line.lstrip().startswith("example "))
    # 6 tickers: 5 loaded, the one with a negative price quarantined; counts reconcile.
    assert row.split()[2:8] == ["partial", "1", "6", "5", "0", "1"], row


def test_without_the_plugin_its_name_is_unknown(tmp_path: Path) -> None:
    proc = _cli(["etl", "run", "--source", "example"], tmp_path, tmp_path)
    assert proc.returncode == 2 and "unknown source" in proc.stderr


def test_a_broken_plugin_is_reported_and_the_rest_still_loads() -> None:
    broken = EntryPoint("broken", "kasparro_no_such_module:PROVIDER", "kasparro.sources")
    clash = EntryPoint("clash", "kasparro.sources.csv_files:CSV", "kasparro.sources")
    registry = Registry.with_plugins([broken, clash])
    assert registry.names() == Registry.discover(plugins=False).names()
    assert len(registry.problems) == 2
    assert "ModuleNotFoundError" in registry.problems[0]
    assert "already taken: csv" in registry.problems[1]


def test_the_plugins_own_settings_are_its_keys_in_kasparro_sources(
    with_plugin: Registry, tmp_path: Path
) -> None:
    tickers = tmp_path / "tickers.json"
    settings = Settings(_env_file=None, sources={"example": {"path": str(tickers)}})  # type: ignore[call-arg]
    assert catalog_for(settings, with_plugin).config("example").path == tickers  # type: ignore[attr-defined]
    typo = Settings(_env_file=None, sources={"example": {"paht": str(tickers)}})  # type: ignore[call-arg]
    with pytest.raises(SourceSettingsError, match=r"example has no setting 'paht' \(its .*path"):
        catalog_for(typo, with_plugin)


async def test_etl_api_and_scheduler_run_the_plugin(
    with_plugin: Registry, engine: AsyncEngine, db_url: str, tmp_path: Path
) -> None:
    assert "example" in with_plugin.names() and "example" in with_plugin.live_markets()
    settings = make_settings(db_url, tmp_path, schedule_enabled_sources=["example"])
    runtime = runtime_for(settings, with_plugin)

    # The scheduler derives the plugin's interval from its own settings and runs it.
    async with httpx.AsyncClient() as http:
        scheduler = Scheduler(
            engine, catalog_for(settings, with_plugin), http=http, limiters=runtime.limiters()
        )
        assert scheduler.intervals == {"example": 300.0}
        (result,) = await scheduler.tick()
    assert (result.status, result.loaded, result.rejected) == ("partial", 5, 1)
    assert result.reconciles
    stored = "SELECT count(*) FROM observations WHERE source = 'example'"
    assert await count(engine, stored) == 5

    async with running_app(settings, engine=engine, registry=with_plugin) as api:
        declared = (await api.get("/api/v1/sources")).json()["data"]
        example = next(p for p in declared["providers"] if p["name"] == "example")
        assert example["label"] == "Example Exchange" and example["color"] == "#f59e0b"
        assert "example" in declared["live_markets"]
        page = (await api.get("/api/v1/data", params={"source": "example", "limit": 10})).json()
        prices = {row["symbol"]: row["price_usd"] for row in page["data"]}
        # Exact end to end: the 1e-10 price is stored and served as written.
        assert prices["SHIB"] == "0.0000000001" and Decimal(prices["BTC"]) == Decimal("64210.5")
        # No display name from the exchange: the record keeps its symbol, never a guess.
        assert {row["name"] for row in page["data"]} == set(prices)
