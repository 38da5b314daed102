"""FastAPI dependencies, as ``Annotated`` aliases for route signatures."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from kasparro.api.auth import bearer_scheme, check_token
from kasparro.api.errors import RateLimited, ServiceUnavailable
from kasparro.api.ratelimit import TokenBuckets, retry_after_header
from kasparro.api.state import AppState


async def get_state(request: Request) -> AppState:
    # async on purpose: FastAPI runs a plain ``def`` dependency in its worker thread pool,
    # a thread hop per request (measured: ~10% of the history endpoint's CPU).
    state = getattr(request.app.state, "kasparro", None)
    if state is None:  # only possible when the app is served without its lifespan
        raise ServiceUnavailable("the API is starting or stopping")
    return state


State = Annotated[AppState, Depends(get_state)]


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    check_token(request.app.state.api_token, credentials)


Authorized = Annotated[None, Depends(require_token)]


def trigger_budget(request: Request, _auth: Authorized) -> None:
    """Rate limit *authenticated* triggers per client (after auth, so strangers cannot
    spend a legitimate caller's budget from a shared address)."""
    buckets: TokenBuckets = request.app.state.trigger_buckets
    client = request.client.host if request.client else "unknown"
    wait = buckets.take(client)
    if wait is not None:
        raise RateLimited(
            f"too many run triggers from {client}; retry in {retry_after_header(wait)} s",
            headers={"Retry-After": retry_after_header(wait)},
            details={"retry_after_seconds": round(wait, 3)},
        )


TriggerAllowed = Annotated[None, Depends(trigger_budget)]
