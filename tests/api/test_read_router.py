"""Which database a read tries first: the read settings and ``ReadRouter.order``.

The routing against a real standby is in ``test_read_replicas.py``; these pin the order
itself (failover, spread, resting replicas, the two fallbacks) and the settings' checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kasparro.api.cache import PageCache
from kasparro.api.reads import ReadRouter, ReadTarget
from kasparro.query.fastread import open_reader
from kasparro.runtime import ReadDatabase
from kasparro.settings import Settings
from kasparro.store.engine import create_engine
from tests.test_cli import run_cli

PG = "postgresql+asyncpg://kasparro@db.example:5432/kasparro"


def target(name: str, tmp_path: Path, *, replica: bool = True) -> ReadTarget:
    # Nothing connects until a read: these SQLite handles are never used.
    path = tmp_path / f"{name.replace(' ', '-')}.db"
    db = ReadDatabase(
        name, name, create_engine(f"sqlite+aiosqlite:///{path}"), open_reader(f"sqlite:///{path}")
    )
    return ReadTarget(db, PageCache(), replica=replica)


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def names(targets: list[ReadTarget]) -> list[str]:
    return [t.name for t in targets]


def test_failover_tries_replicas_in_order_then_the_primary(tmp_path: Path) -> None:
    clock = Clock()
    primary, r1, r2 = (target(n, tmp_path, replica=n != "primary") for n in ("primary", "r1", "r2"))
    router = ReadRouter(primary, [r1, r2], retry_seconds=5, clock=clock)
    assert names(router.order()) == ["r1", "r2", "primary"]
    assert names(router.order()) == ["r1", "r2", "primary"]  # always the first that answers
    router._failed(r1, ConnectionRefusedError("down"))
    assert names(router.order()) == ["r2", "primary"]  # resting for retry_seconds
    clock.now += 5
    assert names(router.order()) == ["r1", "r2", "primary"]  # tried again


def test_spread_takes_turns_and_fail_never_reaches_the_primary(tmp_path: Path) -> None:
    clock = Clock()
    primary, r1, r2 = (target(n, tmp_path, replica=n != "primary") for n in ("primary", "r1", "r2"))
    spread = ReadRouter(primary, [r1, r2], policy="spread", clock=clock)
    firsts = [spread.order()[0].name for _ in range(4)]
    assert firsts == ["r1", "r2", "r1", "r2"]
    strict = ReadRouter(primary, [r1, r2], fallback="fail", clock=clock)
    strict._failed(r1, ConnectionRefusedError("down"))
    # A resting replica is still tried, after the others, rather than the primary.
    assert names(strict.order()) == ["r2", "r1"]
    alone = ReadRouter(primary, [], fallback="fail", clock=clock)
    assert names(alone.order()) == ["primary"]  # no replicas: the primary serves reads


def test_read_urls_are_split_and_get_the_database_password() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=PG,
        read_database_url=f"{PG.replace('db.example', 'r1')}, {PG.replace('db.example', 'r2')}",
        database_password="s3cret",
    )
    assert [u.split("@")[1].split(":")[0] for u in settings.read_urls] == ["r1", "r2"]
    assert all(":s3cret@" in u for u in settings.read_urls)


@pytest.mark.parametrize(
    ("primary", "replica", "message"),
    [
        ("sqlite+aiosqlite:///./k.db", PG, "read replicas need PostgreSQL"),
        (PG, "sqlite+aiosqlite:///./r.db", "must be a PostgreSQL URL"),
    ],
)
def test_read_replicas_need_postgresql(primary: str, replica: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, database_url=primary, read_database_url=replica)  # type: ignore[call-arg]


def test_sqlite_with_a_read_replica_is_one_line_from_the_cli(tmp_path: Path) -> None:
    proc = run_cli(["serve", "--port", "0"], tmp_path, KASPARRO_READ_DATABASE_URL=PG)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert 1 <= len(lines) <= 2, lines
    assert "KASPARRO_READ_DATABASE_URL: read replicas need PostgreSQL" in lines[0]
