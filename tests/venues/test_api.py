"""The venues in the API's registry-driven surfaces: listed as sources of kind ``venue``,
triggerable, and never offered as observation sources (their prices are not USD)."""

from __future__ import annotations

import httpx


async def test_sources_lists_the_venues_with_their_kind(api_client: httpx.AsyncClient) -> None:
    r = await api_client.get("/api/v1/sources")
    assert r.status_code == 200, r.text
    body = r.json()["data"]
    providers = {p["name"]: p for p in body["providers"]}
    for venue in ("binance", "coinbase", "kraken", "okx"):
        kinds = {s["name"]: s["kind"] for s in providers[venue]["sources"]}
        assert kinds == {venue: "venue", f"{venue}_markets": "reference"}
    assert "binance" not in body["live_markets"]
    bad = await api_client.get("/api/v1/data", params={"source": "binance"})
    assert bad.status_code == 422  # venue quotes are not USD observations


async def test_the_openapi_schema_documents_the_venue_kind(api_client: httpx.AsyncClient) -> None:
    schema = (await api_client.get("/openapi.json")).json()
    kinds = [
        prop["enum"]
        for component in schema["components"]["schemas"].values()
        for name, prop in component.get("properties", {}).items()
        if name == "kind" and "enum" in prop
    ]
    assert any("venue" in enum for enum in kinds)
