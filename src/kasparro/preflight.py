"""Checks a command makes before its work, so that a user's mistake is answered in one or two
lines saying what to change, never with a traceback.

A bad setting, a database that cannot be reached or a busy port is not a bug of Kasparro:
the check raises ``UserError`` (the CLI prints it and exits 2) naming the setting, host or
port. Everything here is called from entry points only.
"""

from __future__ import annotations

import asyncio
import difflib
import errno
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from pydantic_settings import SettingsError

from kasparro.settings import Settings, undecodable_setting

if TYPE_CHECKING:
    from kasparro.runtime import Runtime

# SQLAlchemy is imported where a database is checked: a mistyped setting or a busy port is
# reported without loading it.

DATABASE_SETTING = "KASPARRO_DATABASE_URL"
CONNECT_TIMEOUT_S = 10.0
# Values of these settings are never echoed back (they are, or may contain, secrets).
_SECRET_FIELDS = ("token", "key", "password", "database_url")


class UserError(Exception):
    """A mistake the user can fix; ``str()`` is one or two lines: what is wrong, what to do."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise settings_error([("KASPARRO_", exc)]) from None
    except SettingsError as exc:  # a value pydantic-settings could not even decode
        raise settings_error([], [undecodable_setting(exc, "KASPARRO_")]) from None


_SETTINGS_HINT = "hint: fix it in the environment or in ./.env (see Configuration in README.md)"


def load_runtime() -> Runtime:
    """The composition root for a command: core settings, then every provider's
    (``KASPARRO_<PROVIDER>_*``), each mistake named in one or two lines."""
    from kasparro.runtime import Runtime
    from kasparro.sources.catalog import SourceSettingsError

    errors: list[tuple[str, ValidationError]] = []
    problems: list[str] = []
    # Either way, still check the providers': name every mistake at once.
    try:
        settings = Settings()
    except ValidationError as exc:
        errors.append(("KASPARRO_", exc))
        settings = Settings.model_construct()
    except SettingsError as exc:  # a value pydantic-settings could not even decode
        problems.append(undecodable_setting(exc, "KASPARRO_"))
        settings = Settings.model_construct()
    try:
        runtime = Runtime.build(settings)
    except SourceSettingsError as exc:
        errors += exc.errors
        problems += exc.problems
    if errors or problems:
        raise settings_error(errors, problems)
    for line in unknown_variables(runtime.catalog.variables(), _given_variables()):
        print(line, file=sys.stderr)
    return runtime


# ``KASPARRO_`` variables of the project's own tooling (the test suite's, the benchmarks'),
# not settings of Kasparro.
_TOOLING_PREFIXES = (
    "KASPARRO_TEST_",
    "KASPARRO_REQUIRE_",
    "KASPARRO_BENCH_",
    "KASPARRO_SCREENSHOTS",
)


def _given_variables() -> dict[str, str]:
    """The ``KASPARRO_*`` names set, each with where: the environment or ``./.env``."""
    given = {name: "the environment" for name in os.environ}
    if Path(".env").is_file():
        from dotenv import dotenv_values

        given |= {name: "./.env" for name in dotenv_values(".env") if name not in given}
    return given


def unknown_variables(known: set[str], given: Mapping[str, str]) -> list[str]:
    """A warning per ``KASPARRO_*`` variable that is no setting (a typo is otherwise silently
    ignored, and the setting it meant keeps its default), with the setting it is closest to.
    A warning, not an error: a variable of another Kasparro version or plugin is harmless."""
    out = []
    for name, where in sorted(given.items()):
        upper = name.upper()  # settings are read case-insensitively
        if not upper.startswith("KASPARRO_") or upper in known:
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.8)
        if upper.startswith(_TOOLING_PREFIXES) and not close:
            continue
        hint = f"did you mean {close[0]}?" if close else "`kasparro settings` lists them"
        out.append(f"warning: {name} (in {where}) is not a setting and is ignored; {hint}")
    return out


def settings_error(
    errors: Sequence[tuple[str, ValidationError]], problems: Sequence[str] = ()
) -> UserError:
    """One line naming every invalid setting: (variable prefix, validation error) pairs of
    the core settings and of providers' (``KASPARRO_COINGECKO_``...), and ``problems``
    found before validation, each already naming its variable."""
    by_field: dict[str, tuple[object, list[str]]] = {}
    for prefix, exc in errors:
        for e in exc.errors():
            field = f"{prefix}{str(e['loc'][0]).upper()}" if e["loc"] else "?"
            msg = str(e["msg"]).removeprefix("Value error, ")
            value, msgs = by_field.setdefault(field, (e.get("input"), []))
            if msg not in msgs:
                msgs.append(msg)
    parts = []
    for field, (value, msgs) in by_field.items():
        if field == "?":  # a check across settings: its message names them
            parts.extend(msgs)
            continue
        name = field
        shown = "" if any(s in field.lower() for s in _SECRET_FIELDS) else f"={_short(value)}"
        parts.append(f"{name}{shown}: {' or '.join(msgs)}")
    parts += problems
    noun = "setting" if len(parts) == 1 else "settings"
    return UserError(f"error: invalid {noun} {'; '.join(parts)}\n{_SETTINGS_HINT}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0][:200] if lines else type(orig).__name__


# --- the database ---------------------------------------------------------------------------


def describe_database(url: str) -> str:
    """Where the database is, for messages: host, port and name, or the SQLite file."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        return f"the SQLite file {Path(u.database or '').resolve()}"
    return f'database "{u.database}" at {u.host}:{u.port or 5432}'


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return url if u.password is None else u.render_as_string(hide_password=True)


def check_database(url: str, *, setting: str = DATABASE_SETTING, need_schema: bool = False) -> None:
    """Connect once (and, with ``need_schema``, check the schema is migrated) so that an
    unreachable or unusable database is reported as one line before any work starts."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
    except ArgumentError:
        raise UserError(
            f"error: {setting} is not a database URL: {url!r}\n"
            "hint: use sqlite+aiosqlite:///./file.db or postgresql+asyncpg://user@host:5432/db"
        ) from None
    if u.get_backend_name() not in ("sqlite", "postgresql"):
        raise UserError(
            f"error: {setting}={_safe(url)}: unsupported database {u.get_backend_name()!r}\n"
            "hint: use sqlite+aiosqlite:///./file.db or postgresql+asyncpg://user@host:5432/db"
        )
    if u.get_backend_name() == "sqlite":
        _check_sqlite_file(url, u.database, setting, need_schema=need_schema)
    from kasparro.store.migrate import schema_status

    try:
        status = asyncio.run(asyncio.wait_for(schema_status(url), CONNECT_TIMEOUT_S))
    except TimeoutError:
        raise unreachable(url, f"no answer within {CONNECT_TIMEOUT_S:g} s", setting) from None
    except (OSError, ValueError, ImportError) as exc:
        raise unreachable(url, connection_reason(exc), setting) from None
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        raise unreachable(url, connection_reason(exc), setting) from None
    if need_schema and status != "current":
        raise UserError(
            f"error: {describe_database(url)} is {status} ({setting})\n"
            "hint: run `kasparro migrate` first"
        )


def _check_sqlite_file(url: str, database: str | None, setting: str, *, need_schema: bool) -> None:
    """The file's directory, checked here: the driver's own failure to open a file arrives
    from its worker thread, sometimes after the event loop closed (a thread traceback)."""
    if not database or database == ":memory:":
        raise UserError(
            f"error: {setting}={_safe(url)}: an in-memory SQLite database would vanish with "
            "the process\nhint: use a file, e.g. sqlite+aiosqlite:///./kasparro.db"
        )
    path = Path(database).resolve()
    if need_schema and not path.is_file():
        raise UserError(
            f"error: no database at {path} ({setting})\n"
            "hint: run `kasparro migrate` first, or point the setting at your database"
        )
    if not path.parent.is_dir():
        raise unreachable(url, f"the directory {path.parent} does not exist", setting)
    if not path.exists() and not os.access(path.parent, os.W_OK):
        raise unreachable(url, f"no permission to create a file in {path.parent}", setting)


def _is_database_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    return isinstance(exc, DBAPIError | InterfaceError | OperationalError)


def connection_reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, ImportError):
        return f"its driver is not installed ({exc})"
    return _first_line(exc)


def unreachable(url: str, reason: str, setting: str = DATABASE_SETTING) -> UserError:
    from sqlalchemy.engine import make_url

    server = "" if make_url(url).get_backend_name() == "sqlite" else " and that the server is up"
    return UserError(
        f"error: cannot use {describe_database(url)}: {reason}\n"
        f"hint: check {setting} (now {_safe(url)}){server}"
    )


def database_failure(exc: BaseException) -> UserError | None:
    """A database that went away in the middle of a command (after its checks passed): one
    line instead of a traceback. ``None`` for anything else, whose traceback stays (a
    statement the database rejected is a bug to report, not a user's mistake)."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    if isinstance(exc, OperationalError | InterfaceError | ConnectionError | socket.gaierror):
        return UserError(
            f"error: database error: {_first_line(exc)}\n"
            f"hint: check {DATABASE_SETTING} and that the database is up"
        )
    return None


# --- the listening port ---------------------------------------------------------------------


def bind_port(
    host: str, port: int, *, option: str = "--port", env: str | None = "KASPARRO_API_PORT"
) -> socket.socket:
    """Bind ``host:port`` as uvicorn would (same family choice, SO_REUSEADDR), without
    listening yet: the port is held from now on, and a busy one fails before any work."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        raise port_error(host, port, exc, option, env) from None
    return sock


def listen(
    sock: socket.socket,
    host: str,
    port: int,
    *,
    option: str = "--port",
    env: str | None = "KASPARRO_API_PORT",
) -> None:
    """Start listening. Another process may have bound the same port with SO_REUSEADDR and
    listened first since ``bind_port`` (the demo holds the port through its ETL): that race
    is the same one-line error, not uvicorn's traceback."""
    try:
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise port_error(host, port, exc, option, env) from None


def port_error(
    host: str, port: int, exc: BaseException, option: str, env_name: str | None
) -> UserError:
    env = f" or {env_name}=N" if env_name else ""
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return UserError(
            f"error: port {port} on {host} is already in use: choose another with {option} N{env}"
        )
    if isinstance(exc, OSError) and exc.errno == errno.EACCES:
        return UserError(
            f"error: no permission to listen on port {port} of {host}: "
            f"choose a port above 1023 with {option} N{env}"
        )
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return UserError(
        f"error: cannot listen on {host}:{port}: {reason}\n"
        f"hint: check --host (KASPARRO_API_HOST) and {option}"
    )
