"""A venue's settings (``KASPARRO_<VENUE>_*``): one class, with per-venue defaults.

Each venue provider gets its own subclass (:func:`venue_settings`) so its defaults (the
public URL, the request budget derived from the venue's published limits, the ccxt options)
are its own while the fields and their meaning are shared.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, create_model

from kasparro.sources.config import HttpSourceSettings


class VenueSettings(HttpSourceSettings):
    """What every venue can be told (the defaults are each venue's, see its provider)."""

    base_url: Annotated[str, Field(description="the venue's REST base URL")]
    exchange: Annotated[
        str, Field(description="the ccxt exchange id that reads the venue's formats")
    ]
    schedule_seconds: Annotated[
        float, Field(gt=0, description="how often the scheduler fetches its tickers (1 request)")
    ] = 120.0
    markets_schedule_seconds: Annotated[
        float, Field(gt=0, description="how often the scheduler checks its market list")
    ] = 3600.0
    markets_refresh_seconds: Annotated[
        float,
        Field(
            ge=0, description="the market list is fetched again once older than this (0: every run)"
        ),
    ] = 86400.0
    ccxt_options: Annotated[
        dict[str, Any],
        Field(description="ccxt exchange options (JSON), e.g. which market types to load"),
    ] = {}
    retry_statuses: Annotated[
        list[int], Field(description="HTTP statuses retried after Retry-After, besides 5xx")
    ] = [429]
    id_fields: Annotated[
        tuple[str, str] | None,
        Field(
            description="fields of the venue's market record that spell base and quote "
            "(when ccxt's ids are already unified)"
        ),
    ] = None


_RETRY = "HTTP statuses retried after Retry-After, besides 5xx"
_ID_FIELDS = "fields of the venue's market record that spell base and quote"


def venue_settings(
    label: str,
    *,
    exchange: str,
    public_url: str,
    requests_per_minute: float,
    budget: str,
    options: dict[str, Any] | None = None,
    retry_statuses: tuple[int, ...] = (429,),
    id_fields: tuple[str, str] | None = None,
) -> type[VenueSettings]:
    """``<Label>Settings``: :class:`VenueSettings` with this venue's defaults; ``budget``
    says how ``requests_per_minute`` follows from the venue's published limits."""
    fields: dict[str, Any] = {
        "base_url": (str, Field(default=public_url, description="the venue's REST base URL")),
        "exchange": (str, Field(default=exchange, description="the ccxt exchange id")),
        "requests_per_minute": (
            float,
            Field(default=requests_per_minute, gt=0, description=budget),
        ),
        "ccxt_options": (
            dict[str, Any],
            Field(default=dict(options or {}), description="ccxt exchange options (JSON)"),
        ),
        "retry_statuses": (
            list[int],
            Field(default=list(retry_statuses), description=_RETRY),
        ),
        "id_fields": (
            tuple[str, str] | None,
            Field(default=id_fields, description=_ID_FIELDS),
        ),
    }
    model: type[VenueSettings] = create_model(
        f"{label.replace(' ', '')}Settings", __base__=VenueSettings, **fields
    )
    return model
