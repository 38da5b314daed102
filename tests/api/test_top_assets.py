"""``/api/v1/assets/top``: ranking without implausible caps, and spreads of current quotes only.

The store holds the real recorded CoinGecko page of 2022-02-23 (TICOEX Token at upstream
rank 1 with a $3.3 T cap), loaded through the real write path.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.api.market_schemas import TopAssetsResponse
from kasparro.models import MarketRecord
from kasparro.normalize.coingecko import normalize_market
from tests.fixtures.api import rec, seed_run
from tests.normalize._samples import CG_MARKETS_250, sample_json

RECORDED_AT = datetime(2022, 2, 23, 11, 30, tzinfo=UTC)


def _recorded_page() -> list[MarketRecord]:
    records = [normalize_market(e) for e in sample_json(CG_MARKETS_250)]
    assert all(isinstance(r, MarketRecord) for r in records)
    return records  # type: ignore[return-value]


def _other(source: str, sid: str, hint: str, price: str, at: datetime) -> MarketRecord:
    symbol, name = hint.removeprefix("curated:")[:3], hint.removeprefix("curated:").title()
    record = rec(sid, source=source, symbol=symbol, name=name, price=price, at=at)
    return dataclasses.replace(record, identity_hint=hint)


async def _seed(engine: AsyncEngine) -> dict[str, int]:
    gecko = await seed_run(engine, "coingecko", _recorded_page())
    await seed_run(
        engine,
        "coinpaprika",
        [
            # Two minutes before CoinGecko's quote: current.
            _other("coinpaprika", "btc-bitcoin", "curated:bitcoin", "39000.5", RECORDED_AT),
            # Three and a half hours older than CoinGecko's: not current, not compared.
            _other(
                "coinpaprika",
                "eth-ethereum",
                "curated:ethereum",
                "2500",
                RECORDED_AT - timedelta(hours=3, minutes=30),
            ),
        ],
    )
    # A CSV snapshot two years later (the bundled sample's kind): never mixed into the
    # spread of the market APIs.
    await seed_run(
        engine,
        "csv",
        [_other("csv", "bitcoin", "curated:bitcoin", "57843.91", datetime(2024, 5, 1, tzinfo=UTC))],
    )
    return gecko.asset_ids


async def test_an_implausible_cap_is_not_ranked_but_reported(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    ids = await _seed(engine)
    resp = await api_client.get("/api/v1/assets/top", params={"limit": 10})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    TopAssetsResponse.model_validate(body)
    top = body["data"]
    ranked = [r["source_asset_id"] for r in top["ranked"]]
    assert ranked[:3] == ["bitcoin", "ethereum", "tether"]
    assert len(ranked) == 10 and "ticoex-token" not in ranked
    assert [r["rank"] for r in top["ranked"]] == list(range(1, 11))
    assert top["ranked"][0]["upstream_rank"] == 2  # CoinGecko's own rank counted the junk
    assert top["ranked"][0]["market_cap_usd"] == "738310755630"
    (junk,) = top["anomalies"]
    assert junk["asset"]["id"] == ids["ticoex-token"]
    assert junk["upstream_rank"] == 1
    # Exact figures, as recorded.
    assert junk["price_usd"] == "0.00136138"
    assert junk["market_cap_usd"] == "3333370870735"
    assert junk["volume_24h_usd"] == "5.4"
    assert junk["circulating_supply"] == "2448524105135891"
    assert [f["code"] for f in junk["flags"]] == ["turnover"]
    assert "of the whole market" in junk["flags"][0]["message"]
    assert top["market"]["quotes"] == 250
    assert Decimal(top["market"]["market_cap_usd"]) == sum(
        (r.market_cap_usd for r in _recorded_page() if r.market_cap_usd is not None), Decimal(0)
    )


async def test_the_spread_compares_current_quotes_of_the_shown_sources_only(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    await _seed(engine)
    top = (await api_client.get("/api/v1/assets/top", params={"limit": 3})).json()["data"]
    assert top["sources"] == ["coingecko", "coinpaprika"]
    btc, eth, usdt = top["ranked"]
    # Bitcoin: both market APIs are current; the CSV's 2024 price is not a shown source.
    assert btc["spread"]["compared"] == ["coingecko", "coinpaprika"]
    expected = ((Decimal("39000.5") - 38938) / 38938 * 100).quantize(Decimal("0.0001"))
    assert Decimal(btc["spread"]["pct"]) == expected
    assert set(btc["quotes"]) == {"coingecko", "coinpaprika"}
    assert btc["quotes"]["coinpaprika"]["price_usd"] == "39000.5"
    assert all(q["current"] for q in btc["quotes"].values())
    # Ethereum: CoinPaprika's quote is 3.5 h older than CoinGecko's: shown, not compared.
    assert eth["spread"]["pct"] is None
    assert eth["spread"]["compared"] == ["coingecko"]
    (left_out,) = eth["spread"]["excluded"]
    assert left_out["source"] == "coinpaprika"
    assert left_out["reason"].startswith("not current: observed 3 h")
    assert eth["quotes"]["coinpaprika"]["current"] is False
    # Tether: no CoinPaprika quote at all.
    assert usdt["spread"]["excluded"] == [{"source": "coinpaprika", "reason": "no quote"}]

    # Asked to show the CSV too: its 2024 quote is then the freshest, and the 2022 quotes
    # are not current against it, so nothing is compared (rather than a bogus 48 %).
    with_csv = await api_client.get(
        "/api/v1/assets/top",
        params={"limit": 1, "source": ["coingecko", "coinpaprika", "csv"]},
    )
    btc = with_csv.json()["data"]["ranked"][0]
    assert btc["spread"]["compared"] == ["csv"]
    assert btc["spread"]["pct"] is None
    assert {e["source"] for e in btc["spread"]["excluded"]} == {"coingecko", "coinpaprika"}


async def test_top_assets_of_an_empty_store_and_bad_parameters(
    api_client: httpx.AsyncClient,
) -> None:
    empty = (await api_client.get("/api/v1/assets/top")).json()["data"]
    assert empty["ranked"] == [] and empty["anomalies"] == [] and empty["as_of"] is None
    for params in ({"limit": 0}, {"limit": 101}, {"rank_by": "a b"}, {"sourc": "x"}):
        assert (await api_client.get("/api/v1/assets/top", params=params)).status_code == 422
