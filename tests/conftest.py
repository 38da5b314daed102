import asyncio
import os

import pytest
from hypothesis import settings

# Tests never inherit a developer's KASPARRO_* settings (a key, a base URL, a schedule) nor
# read the default database by accident; what a test needs it sets itself.
_KEEP = {"KASPARRO_TEST_POSTGRES_URL", "KASPARRO_REQUIRE_POSTGRES", "KASPARRO_REQUIRE_BROWSER"}
for _name in [n for n in os.environ if n.startswith("KASPARRO_") and n not in _KEEP]:
    del os.environ[_name]
os.environ["KASPARRO_DATABASE_URL"] = "sqlite+aiosqlite:///./.pytest-never-used.db"

# No per-example deadline: hypothesis' 200 ms default fails a property when a loaded machine
# (a second suite running, a garbage collection in a worker holding big universes) merely
# pauses the process, which says nothing about the property.
settings.register_profile("kasparro", deadline=None)
settings.load_profile("kasparro")

pytest_plugins = ["tests.fixtures.db", "tests.fixtures.emulator", "tests.fixtures.api"]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """An earlier test that left an event loop marked running on this thread (Playwright's
    sync API does while a browser is open) breaks every asyncio test and fixture after it,
    far from the cause: name the cause instead. Checked before any fixture of the test is
    set up (module-scoped ones call asyncio.run too)."""
    fixtures = getattr(item, "fixturenames", ())
    if asyncio._get_running_loop() is not None and "browser" not in fixtures:
        pytest.fail(
            "an event loop is still running on this thread, left by an earlier test "
            "(a browser fixture wider than its module?)"
        )
