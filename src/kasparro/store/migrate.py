"""Programmatic Alembic entry points (no alembic.ini needed: the package carries its scripts).

Migrations may start at the same moment in several processes (``kasparro serve`` and
``kasparro scheduler`` both migrate first, replicas start together). On PostgreSQL they are
serialised by a session-level advisory lock taken before Alembic reads the current revision
(polled: see ``lock_migrations``): the first process migrates, the others wait and then find
the schema current. Two unserialised migrations of a fresh database fail (``duplicate key
... pg_type``). The lock is session-level, not transaction-level, because the online index
migrations commit mid-way (``CREATE INDEX CONCURRENTLY`` in an autocommit block). SQLite
needs nothing more: every migration transaction starts with ``BEGIN IMMEDIATE`` (see
``store.engine``), which takes the single write lock before Alembic reads the revision.
"""

from __future__ import annotations

import time
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from kasparro.store.engine import create_engine, normalize_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# pg_advisory_lock key for "kasparro migrations": any constant no other code uses.
MIGRATION_LOCK_KEY = 0x6B617370_6D696772 & 0x7FFFFFFFFFFFFFFF
LOCK_POLL_SECONDS = 0.25

log = structlog.get_logger(__name__)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` (blocking; call from sync code or a worker thread)."""
    command.upgrade(alembic_config(url), revision)


def lock_migrations(connection: Connection) -> bool:
    """Wait for the migration lock (PostgreSQL); returns whether one was taken. The
    connection is left outside a transaction, as Alembic expects it.

    Polled with ``pg_try_advisory_lock`` between commits rather than waited for with
    ``pg_advisory_lock``: a backend blocked in that call holds a snapshot, and the holder's
    ``CREATE INDEX CONCURRENTLY`` waits for every older snapshot: a deadlock (seen)."""
    if connection.dialect.name != "postgresql":
        return False
    waited = False
    while True:
        stmt = text("SELECT pg_try_advisory_lock(:key)")
        taken = connection.execute(stmt, {"key": MIGRATION_LOCK_KEY}).scalar()
        connection.commit()
        if taken:
            return True
        if not waited:
            log.info("migration_waiting", reason="another process is migrating this database")
            waited = True
        time.sleep(LOCK_POLL_SECONDS)


def unlock_migrations(connection: Connection) -> None:
    # Closing the connection would release it too; a failed migration may leave the
    # connection unusable, in which case that is what happens.
    connection.rollback()
    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    connection.commit()


async def schema_status(url: str) -> str:
    """Connect once and compare the database's revision with the code's: ``"current"``,
    ``"not migrated"``, or which revision it is at. Raises what connecting raises."""
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
    finally:
        await engine.dispose()
    if current == head:
        return "current"
    if current is None:
        return "not migrated"
    return f"at schema revision {current}, not {head}"
