"""Database URLs (pure): the async drivers picked, a password put in escaped."""

from __future__ import annotations

from sqlalchemy.engine import make_url


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` and ``sqlite://`` URLs and pick the async drivers."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+asyncpg")
    elif u.drivername == "sqlite":
        u = u.set(drivername="sqlite+aiosqlite")
    return u.render_as_string(hide_password=False)


def with_password(url: str, password: str) -> str:
    """``url`` with its password replaced by ``password`` (any characters: it is escaped in
    the URL, so a password holding ``@``, ``/``, ``:`` or ``%`` survives the round trip).
    Deployments can then keep the password out of the URL (docker-compose.yml does)."""
    return make_url(url).set(password=password).render_as_string(hide_password=False)
