"""The file that points other commands at a running demo (``kasparro-demo.env``): sourced by
a shell, it sets the demo's database and emulator URLs exactly, and holds no secret."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kasparro.demo import demo_runtime, env_file_text, schedule_line
from tests.fixtures.settings import runtime_for, settings_for

EMULATOR = "http://127.0.0.1:41463"


def sourced(text: str, tmp_path: Path) -> dict[str, str]:
    """What ``set -a; . ./kasparro-demo.env; set +a`` exports, read back from the shell."""
    (tmp_path / "kasparro-demo.env").write_text(text)
    script = "set -a; . ./kasparro-demo.env; set +a; env -0"
    out = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env={}, capture_output=True, check=True
    ).stdout
    pairs = (item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("KASPARRO_")}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (  # a password is never written; a query with & and a space stays one value
            "postgresql+asyncpg://kasparro:s3cret@db.example:5432/demo?ssl=require&x=a b",
            "postgresql+asyncpg://kasparro@db.example:5432/demo?ssl=require&x=a+b",
        ),
        ("sqlite+aiosqlite:///./kasparro-demo.db", None),  # made absolute
    ],
    ids=["postgres-with-password", "sqlite-relative"],
)
def test_the_env_file_sets_the_demo_urls_and_no_secret(
    tmp_path: Path, url: str, expected: str | None
) -> None:
    runtime = demo_runtime(runtime_for(settings_for()), EMULATOR, None, url)
    text = env_file_text(runtime, EMULATOR)
    assert "s3cret" not in text
    got = sourced(text, tmp_path)
    want = expected or f"sqlite+aiosqlite:///{os.path.abspath('kasparro-demo.db')}"
    assert got.pop("KASPARRO_DATABASE_URL") == want
    assert got == {
        "KASPARRO_COINGECKO_BASE_URL": f"{EMULATOR}/api/v3",
        "KASPARRO_COINPAPRIKA_BASE_URL": f"{EMULATOR}/v1",
        **{
            f"KASPARRO_{v.upper()}_BASE_URL": f"{EMULATOR}/{v}"
            for v in ("binance", "coinbase", "kraken", "okx")
        },
    }
    if expected is not None:
        assert "KASPARRO_DATABASE_PASSWORD" in text  # says how to give it


def test_the_schedule_line_states_each_kind_of_source_and_its_interval() -> None:
    runtime = demo_runtime(runtime_for(settings_for()), EMULATOR, None, "sqlite+aiosqlite:///x.db")
    lines = schedule_line(runtime).splitlines()
    assert lines[0] == "Scheduler: market, venue sources every 60 s"
    assert lines[1].strip() == "reference sources every 3600 s"
    assert "86400 s" in lines[2]
