"""The Makefile's install levels and `make clean`, run by make in a scratch copy (dry runs
for the installs: make prints what it would do, nothing is installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def make(checkout: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "VIRTUAL_ENV")}
    proc = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def pip_installs(dry_run: str) -> list[str]:
    return [line for line in dry_run.splitlines() if "pip install" in line and "-e" in line]


def fake_venv(checkout: Path, *stamps: str) -> None:
    bin_dir = checkout / ".venv" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "python").touch()
    time.sleep(0.01)  # stamps newer than python and pyproject.toml
    for stamp in stamps:
        (checkout / ".venv" / stamp).touch()


@pytest.mark.parametrize("target", ["demo", "run", "serve"])
def test_the_demo_and_run_install_runtime_dependencies_only(checkout: Path, target: str) -> None:
    installs = pip_installs(make(checkout, "-n", target))
    assert installs == [".venv/bin/pip install --quiet -e ."], installs


@pytest.mark.parametrize("target", ["test", "lint"])
def test_test_and_lint_add_the_dev_extras_after_the_demo(checkout: Path, target: str) -> None:
    fake_venv(checkout, ".installed-runtime")  # what `make demo` left
    installs = pip_installs(make(checkout, "-n", target))
    assert installs == ['.venv/bin/pip install --quiet -e ".[dev]"'], installs


def test_the_dev_install_serves_the_demo_too(checkout: Path) -> None:
    fake_venv(checkout, ".installed-runtime", ".installed-dev")
    assert pip_installs(make(checkout, "-n", "demo")) == []
    assert pip_installs(make(checkout, "-n", "test")) == []


def test_clean_removes_the_demo_database_and_keeps_live_data(checkout: Path) -> None:
    fake_venv(checkout, ".installed-runtime")
    names = [
        "kasparro-demo.db",
        "kasparro-demo.db-wal",
        "kasparro-demo.env",
        "kasparro.db",
        "kasparro.db-wal",
    ]
    for name in names:
        (checkout / name).write_text("x")
    (checkout / ".pytest_cache").mkdir()
    make(checkout, "clean")
    assert not (checkout / ".venv").exists() and not (checkout / ".pytest_cache").exists()
    assert not (checkout / "kasparro-demo.db").exists()
    assert not (checkout / "kasparro-demo.db-wal").exists()
    assert not (checkout / "kasparro-demo.env").exists()
    # `make run`'s live database is never deleted by clean.
    assert (checkout / "kasparro.db").read_text() == "x"
    assert (checkout / "kasparro.db-wal").exists()
