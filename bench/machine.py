"""Facts about the machine and the code a benchmark ran on: CPU, memory, versions, the
commit and a fingerprint of src/, and the load average (recorded at start and end)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.paths import ROOT

# --- machine facts ------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return None


def git_commit() -> str | None:
    """HEAD's commit read from the .git files (no git command is run)."""
    git = ROOT / ".git"
    with contextlib.suppress(OSError):
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(" ", 1)[1].strip()
        ref_file = git / ref
        if ref_file.exists():
            return ref_file.read_text().strip()
        packed = git / "packed-refs"
        if packed.exists():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split(" ", 1)[0]
    return None


def tool_version(*argv: str) -> str | None:
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    with contextlib.suppress(Exception):
        out = subprocess.run([exe, *argv[1:]], capture_output=True, timeout=10, check=False)
        text = (out.stdout or out.stderr).decode(errors="replace").strip()
        return text.splitlines()[0] if text else None
    return None


def src_fingerprint() -> str:
    """sha256 over src/kasparro's Python files and migrations (paths and contents): other
    engineers edit the tree while benchmarks run, so results record which code they saw."""

    digest = hashlib.sha256()
    src = ROOT / "src" / "kasparro"
    for path in sorted(src.rglob("*.py")):
        digest.update(str(path.relative_to(src)).encode())
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_facts() -> dict[str, Any]:
    from bench.common import pg_version  # common re-exports this module: import late

    packages = {}
    for name in ("kasparro", "sqlalchemy", "asyncpg", "aiosqlite", "httpx", "uvicorn", "fastapi"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            packages[name] = metadata.version(name)
    return {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory": _mem_total(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "postgresql": pg_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": tool_version("wrk", "--version"),
        "git_commit": git_commit(),
        "git_note": "read from .git files; uncommitted changes are not detected: see "
        "src_fingerprint (sha256 of src/kasparro/**/*.py) at start and end",
        "src_fingerprint_at_start": src_fingerprint(),
        "packages": packages,
        "load_average_at_start": load_average(),
    }
