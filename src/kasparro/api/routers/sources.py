"""``GET /api/v1/sources``: the registered providers and their sources, as declared."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kasparro.api import params as p
from kasparro.api.deps import State
from kasparro.api.render import envelope
from kasparro.api.schemas import error_responses
from kasparro.api.source_schemas import SourcesResponse

router = APIRouter(prefix="/api/v1", tags=["stats"], dependencies=[Depends(p.strict_query)])


@router.get(
    "/sources",
    response_model=SourcesResponse,
    responses=error_responses(422),
    summary="The registered sources",
    description="Every provider (built in, or a plugin of the `kasparro.sources` entry-point "
    "group), how the dashboard shows it, and its sources: kind (market, reference), the "
    "interval the scheduler runs it at (its provider's settings), and whether it serves "
    "history backfills. `live_markets`: the market sources compared by spreads and shown "
    "by default. `problems`: plugins that could not be loaded.",
)
async def list_sources(request: Request, state: State) -> Response:
    catalog = state.runtime.catalog
    registry = catalog.registry
    providers: list[dict[str, Any]] = []
    for provider in registry.providers:
        config = catalog.config(provider.name)
        providers.append(
            {
                "name": provider.name,
                "label": provider.label,
                "description": provider.description,
                "color": provider.color,
                "live": provider.live,
                "backfill": provider.history is not None,
                "requests_per_minute": catalog.budgets().get(provider.name),
                "sources": [
                    {
                        "name": spec.name,
                        "kind": spec.kind.value,
                        "description": spec.description,
                        "schedule_s": (
                            float(getattr(config, spec.schedule)) if spec.schedule else None
                        ),
                    }
                    for spec in provider.sources
                ],
            }
        )
    return envelope(
        request,
        {
            "providers": providers,
            "live_markets": registry.live_markets(),
            "problems": list(registry.problems),
        },
    )
