"""Prometheus metrics for the ETL and the API.

Metric objects live in the default registry of the process. With `kasparro up` (API and
scheduler in one process) `/metrics` shows both. A standalone `kasparro scheduler` process has
no HTTP endpoint, so its ETL counters are not scraped: run `kasparro up`, or rely on the
database-backed figures of `/api/v1/stats`, which cover runs from every process.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS = Counter(
    "kasparro_etl_runs_total", "ETL runs finished, by source and status", ["source", "status"]
)
RECORDS = Counter(
    "kasparro_etl_records_total",
    "Records processed, by source and outcome (loaded/unchanged/rejected)",
    ["source", "outcome"],
)
LAST_SUCCESS = Gauge(
    "kasparro_etl_last_success_timestamp_seconds",
    "Unix time of the last successful (or partial) run",
    ["source"],
)
RUN_DURATION = Histogram(
    "kasparro_etl_run_duration_seconds",
    "ETL run duration",
    ["source"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
RUNS_IN_PROGRESS = Gauge("kasparro_etl_runs_in_progress", "Runs executing now", ["source"])
UPSTREAM_REQUESTS = Counter(
    "kasparro_upstream_requests_total",
    "Upstream HTTP requests, by API and status (or 'error')",
    ["api", "status"],
)
UPSTREAM_RATE_LIMITED = Counter(
    "kasparro_upstream_rate_limited_total", "Upstream 429 responses", ["api"]
)
HTTP_REQUESTS = Counter(
    "kasparro_http_requests_total", "API requests", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "kasparro_http_request_duration_seconds",
    "API request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
