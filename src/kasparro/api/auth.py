"""Bearer-token check for endpoints that start work (fails closed).

No token configured means triggering is disabled outright (403), never open. Tokens are
compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hmac

from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kasparro.api.errors import TriggerDisabled, Unauthorized
from kasparro.settings import Settings

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="KasparroToken",
    description="`Authorization: Bearer <KASPARRO_API_TOKEN>`; required to trigger runs.",
)

DISABLED_MESSAGE = "KASPARRO_API_TOKEN is not set; triggering runs is disabled"


def configured_token(settings: Settings) -> bytes | None:
    """The expected token as bytes, or None when unset or blank (blank must not mean open)."""
    if settings.api_token is None:
        return None
    value = settings.api_token.get_secret_value()
    return value.encode("utf-8") if value.strip() else None


def check_token(expected: bytes | None, credentials: HTTPAuthorizationCredentials | None) -> None:
    if expected is None:
        raise TriggerDisabled(DISABLED_MESSAGE)
    if credentials is None or not credentials.credentials:
        raise Unauthorized(
            "missing bearer token: send 'Authorization: Bearer <KASPARRO_API_TOKEN>'",
            headers={"WWW-Authenticate": 'Bearer realm="kasparro"'},
        )
    if not hmac.compare_digest(credentials.credentials.encode("utf-8"), expected):
        raise Unauthorized(
            "invalid bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="kasparro", error="invalid_token"'},
        )
