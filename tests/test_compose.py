"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none here): the
compose file parsed, its order of start and restart policies checked, every command it runs
parsed by the real CLI, and the image's install shown to carry every file the package needs.
What only a Docker engine can show (the build, the containers starting) is not tested; the
README says so."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kasparro.cli import app

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "kasparro"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_migrations_run_once_before_api_and_scheduler(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"postgres", "migrate", "api", "scheduler"}
    migrate = services["migrate"]
    assert migrate["command"] == ["kasparro", "migrate"]
    assert migrate["restart"] == "no"  # a one-shot job
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "scheduler"):
        service = services[name]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        # They do not migrate again: only the one-shot service does.
        assert "migrate" not in service["command"][1:2]
        assert "--no-migrate" in service["command"], name
        assert service["restart"] in ("unless-stopped", "always", "on-failure"), name
    assert services["postgres"]["restart"] in ("unless-stopped", "always")


def test_scheduler_healthcheck_checks_the_scheduler(compose: dict[str, Any]) -> None:
    check = compose["services"]["scheduler"]["healthcheck"]
    assert not check.get("disable")
    assert check["test"] == ["CMD", "kasparro", "check-scheduler"]
    # Docker's timeout must leave room for the command's own database timeout (10 s).
    assert _seconds(check["timeout"]) > 10


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)s", value)
    assert match, value
    return float(match.group(1))


def _commands(compose: dict[str, Any]) -> list[list[str]]:
    found = []
    for service in compose["services"].values():
        if "build" not in service:
            continue
        found.append(service["command"])
        test = service.get("healthcheck", {}).get("test")
        if test and test[0] == "CMD":
            found.append(test[1:])
    return found


def test_every_command_compose_runs_is_one_the_cli_accepts(compose: dict[str, Any]) -> None:
    """Parsed by the real command line, nothing run: with ``--help`` appended, click parses
    every option first (an unknown one is a usage error, exit 2) and then only prints the
    help. A renamed option or command fails here, not in a container."""
    commands = _commands(compose)
    assert len(commands) == 4  # migrate, api, scheduler and the scheduler's healthcheck
    for argv in commands:
        assert argv[0] == "kasparro", argv
        result = CliRunner().invoke(app, [*argv[1:], "--help"], prog_name="kasparro")
        assert result.exit_code == 0, (argv, result.output)
        assert "Usage: kasparro " + argv[1] in " ".join(result.output.split()), result.output
    rejected = CliRunner().invoke(app, ["serve", "--no-such-option", "--help"])
    assert rejected.exit_code == 2  # the check above can fail


def test_no_secret_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if re.search(r"PASSWORD|TOKEN|SECRET|API_KEY", str(key)) and value is not None:
                    # Only references to .env variables, never a value.
                    assert re.fullmatch(r"\$\{[A-Z_]+(:[?-][^}]*)?\}", str(value)), (path, key)
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
        elif isinstance(node, str):
            # No credentials inside a URL either: user@host only, never user:password@host.
            assert not re.search(r"://[^/@\s]*:[^/@\s]*@", node), (path, node)

    walk(compose, "")
    env = compose["x-kasparro"]["environment"]
    assert "@postgres:5432/" in env["KASPARRO_DATABASE_URL"]
    assert env["KASPARRO_DATABASE_PASSWORD"].startswith("${POSTGRES_PASSWORD")


def test_the_image_installs_what_the_package_needs() -> None:
    """The Dockerfile installs the package non-editable (``pip install .``): a file under
    src/kasparro is in the image only if it is a module of a found package or matches
    ``[tool.setuptools.package-data]``. Every file of the source tree must be."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY src ./src" in dockerfile and "COPY pyproject.toml README.md ./" in dockerfile
    # Non-editable, with the lake extra: production exports before retention drops.
    assert re.search(r'pip install [^\n]*--prefix=/install "\.\[lake\]"\s*$', dockerfile, re.M)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["kasparro"]
    missing = []
    for path in PACKAGE.rglob("*"):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        if path.name == "README.md":  # for people browsing the source; no code reads it
            continue
        rel = path.relative_to(PACKAGE)
        in_package = all(
            (PACKAGE / Path(*rel.parts[:i]) / "__init__.py").is_file()
            for i in range(len(rel.parts))
        )
        if path.suffix == ".py" and in_package:
            continue
        if not any(_glob_match(rel, pattern) for pattern in patterns):
            missing.append(rel.as_posix())
    assert not missing, f"not installed by `pip install .` (add to package-data): {missing}"


def _glob_match(rel: Path, pattern: str) -> bool:
    """setuptools' package-data globs: ``*`` never crosses a directory."""
    parts = pattern.split("/")
    return len(parts) == len(rel.parts) and all(
        fnmatch(name, part) for name, part in zip(rel.parts, parts, strict=True)
    )
