import os

# Tests never read a developer's .env or the default demo database by accident.
os.environ.setdefault("KASPARRO_DATABASE_URL", "sqlite+aiosqlite:///./.pytest-never-used.db")

pytest_plugins = ["tests.fixtures.db", "tests.fixtures.emulator", "tests.fixtures.api"]
