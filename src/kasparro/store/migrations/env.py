"""Alembic environment: runs migrations through the project's async engine."""

from __future__ import annotations

import asyncio
import contextlib

from alembic import context
from sqlalchemy.engine import Connection

from kasparro.store.engine import create_engine
from kasparro.store.migrate import lock_migrations, unlock_migrations
from kasparro.store.partitions import include_object_for
from kasparro.store.schema import metadata

config = context.config
target_metadata = metadata


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,  # SQLite cannot ALTER most things
        compare_type=True,
        include_object=include_object_for(connection.dialect.name),
        # Alembic commits after each migration on SQLite (it assumes no transactional DDL,
        # which SQLite has): the write lock would be released between migrations and a
        # process that planned its steps meanwhile would run one again ("table ... already
        # exists", seen with concurrent `kasparro migrate`). One transaction holds it.
        transactional_ddl=True if sqlite else None,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_locked(connection: Connection) -> None:
    # Serialised across processes (see kasparro.store.migrate).
    locked = lock_migrations(connection)
    try:
        _run(connection)
        connection.commit()
    finally:
        if locked:
            # A failed unlock must not hide the migration's own error; closing the
            # connection releases the lock anyway.
            with contextlib.suppress(Exception):
                unlock_migrations(connection)


async def _run_async(url: str) -> None:
    engine = create_engine(url, pool_size=0)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run_locked)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    asyncio.run(_run_async(config.get_main_option("sqlalchemy.url") or ""))


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
