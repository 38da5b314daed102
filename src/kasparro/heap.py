"""Garbage-collector settings for Kasparro's long-lived processes (API, ETL, scheduler)."""

from __future__ import annotations

import gc

# Allocations (net of frees) between young-generation collections; CPython's default is 700.
# Both hot paths allocate in bursts of short-lived objects that die by reference counting:
# an API request in flight holds a few thousand (32 concurrent requests at the default
# collected every few requests and promoted live request objects to the old generations,
# which then filled up and triggered full collections); an ETL batch of 2,000 records holds
# ~100k (Decimals, dicts, records). Measured on benchmark 1's full ETL (99,701 rows): 1,465
# collections taking 1.0 s of the event loop's ~7 s at the default, 20 taking 0.17 s here.
GC_GEN0_THRESHOLD = 20_000


def settle_heap() -> None:
    """Once the process has started (imports done, app or engine built): collect, then move
    every object alive now (modules, the app, routes, pydantic schemas, compiled statements:
    ~150k objects in the API) to the permanent generation with ``gc.freeze()``, and raise
    the young-generation threshold.

    Measured under ``wrk -c32`` on ``/data`` (page cache on): without this, full collections
    traversed that startup heap for 70-120 ms each, several times a second, and made the
    p99 latency 85-160 ms (p50 6 ms); with it no collection took more than 6 ms and p99
    was 11-17 ms.
    Frozen objects are still freed by reference counting; only cycles among them would
    stay, and startup objects live as long as the process anyway.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
