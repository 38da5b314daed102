"""``GET /metrics``: Prometheus text exposition of API and ETL metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Depends
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.responses import Response

from kasparro.api import params as p

router = APIRouter(tags=["metrics"], dependencies=[Depends(p.strict_query)])


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several worker processes: aggregate their files instead of this process only.
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}
    },
    summary="Prometheus metrics",
    description="HTTP request counts and latency by method and route template "
    "(`kasparro_http_*`), plus ETL metrics (`kasparro_etl_*`, `kasparro_upstream_*`).",
)
async def prometheus_metrics() -> Response:
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)
