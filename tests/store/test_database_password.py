"""A database password holding ``@``, ``/``, ``:`` and ``%`` works through the environment
docker-compose.yml gives the containers (the URL without the password, plus
``KASPARRO_DATABASE_PASSWORD``), against a real PostgreSQL that checks passwords.

The shared test server trusts every local connection (it would accept any password), so
this runs a throwaway cluster whose TCP connections need scram-sha-256 passwords."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import yaml
from sqlalchemy.engine import make_url

from kasparro.settings import Settings
from tests.resilience.test_database_outage import PG_BINDIR, ThrowawayCluster

ROOT = Path(__file__).resolve().parents[2]
USER = "kasparro_app"
PASSWORD = "p@ss/w:rd%40?#x"  # "%40" must stay literal, not become "@"


@pytest.fixture(scope="module")
def password_cluster() -> Iterator[ThrowawayCluster]:
    if PG_BINDIR is None:
        pytest.skip("PostgreSQL server binaries not found: no throwaway cluster")
    cluster = ThrowawayCluster(PG_BINDIR)
    try:
        cluster.create()

        async def setup() -> None:
            conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres")
            try:
                await conn.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
                await conn.execute(f"CREATE DATABASE kasparro OWNER {USER}")
            finally:
                await conn.close()

        asyncio.run(setup())
        # From now on TCP logins need the password (the superuser keeps the unix socket).
        (cluster.data / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
        cluster._run("pg_ctl", "-D", str(cluster.data), "reload")
        yield cluster
    finally:
        cluster.destroy()


def test_settings_put_the_password_into_the_url_escaped() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"postgresql+asyncpg://{USER}@db.internal:5432/kasparro",
        database_password=PASSWORD,
    )
    url = make_url(settings.database_url)
    assert (url.username, url.password, url.host, url.port, url.database) == (
        USER,
        PASSWORD,
        "db.internal",
        5432,
        "kasparro",
    )
    assert PASSWORD not in settings.database_url  # escaped in the URL text
    blank = Settings(_env_file=None, database_password="")  # type: ignore[call-arg]
    assert blank.database_password is None  # `KASPARRO_DATABASE_PASSWORD=` in .env: unset


def compose_environment(port: int, password: str) -> dict[str, str]:
    """The database settings docker-compose.yml gives the containers, interpolated as
    compose does from .env, with the service host ``postgres`` pointed at the cluster."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"]["migrate"]["environment"]
    dotenv = {"POSTGRES_USER": USER, "POSTGRES_PASSWORD": password, "POSTGRES_DB": "kasparro"}

    def interpolate(value: str) -> str:
        def one(m: re.Match[str]) -> str:
            name, op, default = m.group(1), m.group(2), m.group(3) or ""
            if name in dotenv:
                return dotenv[name]
            assert op == ":-", f"{name} unset"
            return default

        return re.sub(r"\$\{([A-Z_]+)(?:(:[-?])([^}]*))?\}", one, value)

    out = {k: interpolate(str(v)) for k, v in env.items() if k.startswith("KASPARRO_DATABASE")}
    out["KASPARRO_DATABASE_URL"] = out["KASPARRO_DATABASE_URL"].replace(
        "@postgres:5432/", f"@127.0.0.1:{port}/"
    )
    return out


def kasparro(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KASPARRO_DATABASE")}
    return subprocess.run(
        [sys.executable, "-m", "kasparro", *args],
        env={**full, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_password_with_url_characters_works_the_way_compose_passes_it(
    password_cluster: ThrowawayCluster, tmp_path: Path
) -> None:
    env = compose_environment(password_cluster.port, PASSWORD)
    assert PASSWORD not in env["KASPARRO_DATABASE_URL"]  # the URL carries no password
    migrated = kasparro(["migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert PASSWORD not in migrated.stdout + migrated.stderr  # never printed
    shown = kasparro(["identity", "show"], env, tmp_path)
    assert shown.returncode == 0, shown.stderr

    # The server really checks it: a wrong password is refused, in one line naming the host.
    wrong = kasparro(["migrate"], compose_environment(password_cluster.port, "nope"), tmp_path)
    assert wrong.returncode == 2
    lines = (wrong.stdout + wrong.stderr).strip().splitlines()
    assert len(lines) <= 2, lines
    assert "password authentication failed" in lines[0]
    assert f"127.0.0.1:{password_cluster.port}" in lines[0]


def test_the_same_password_written_into_the_url_breaks_it(
    password_cluster: ThrowawayCluster, tmp_path: Path
) -> None:
    """Why compose passes it separately: the old compose file wrote it into the URL."""
    url = f"postgresql+asyncpg://{USER}:{PASSWORD}@127.0.0.1:{password_cluster.port}/kasparro"
    proc = kasparro(["migrate"], {"KASPARRO_DATABASE_URL": url}, tmp_path)
    assert proc.returncode != 0
