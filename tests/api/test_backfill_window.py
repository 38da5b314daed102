"""A backfill window outside the calendar the store can hold is the client's error (422)."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.api import AUTH


@pytest.mark.parametrize(
    "body",
    [
        {"until": "0296-12-04"},
        {"since": "0001-01-02", "until": "0001-01-03"},
    ],
)
async def test_a_window_out_of_range_is_422_not_503(
    api_client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    resp = await api_client.post("/api/v1/backfills", json={"top": 1, **body}, headers=AUTH)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_error", error
    assert {d["source"] for d in error["details"]} == {"coingecko_history", "coinpaprika_history"}
    assert all("nothing of" in d["message"] for d in error["details"])
