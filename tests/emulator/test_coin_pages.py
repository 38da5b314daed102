"""The emulated coin pages: CoinGecko ``/coins/{id}`` and CoinPaprika ``/v1/coins/{id}`` links,
in the real shapes, one site per real coin, counted by the rate limiter."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from kasparro.emulator import EmulatorConfig
from tests.emulator.util import asgi_client
from tests.normalize._samples import SAMPLES

_CP_COIN = SAMPLES / "coinpaprika" / "coins-id__eth-ethereum__2022-11-15.json"
# CoinGecko's /coins/{id} top-level keys (its OpenAPI spec, demo-api.json, CoinsID schema),
# less the parts the emulator never serves (market_data, tickers, community/developer data).
_CG_KEYS = {
    "id", "symbol", "name", "web_slug", "asset_platform_id", "platforms", "detail_platforms",
    "block_time_in_minutes", "hashing_algorithm", "categories", "preview_listing",
    "public_notice", "additional_notices", "description", "links", "image", "country_origin",
    "genesis_date", "sentiment_votes_up_percentage", "sentiment_votes_down_percentage",
    "watchlist_portfolio_users", "market_cap_rank", "status_updates", "last_updated",
}  # fmt: skip
_CG_LINKS = {
    "homepage", "whitepaper", "blockchain_site", "official_forum_url", "chat_url",
    "announcement_url", "twitter_screen_name", "facebook_username",
    "bitcointalk_thread_identifier", "telegram_channel_identifier", "subreddit_url", "repos_url",
}  # fmt: skip


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")


async def test_coin_pages_have_the_documented_and_recorded_shapes() -> None:
    recorded = json.loads(_CP_COIN.read_text())
    async with asgi_client() as (client, _):
        usdc = await client.get("/api/v3/coins/usd-coin", params={"market_data": "false"})
        cp_usdc = (await client.get("/v1/coins/usdc-usd-coin")).json()
        missing = await client.get("/api/v3/coins/no-such-coin")
    assert usdc.status_code == 200
    body = usdc.json()
    assert set(body) == _CG_KEYS
    assert set(body["links"]) == _CG_LINKS
    assert len(body["links"]["homepage"]) == 3  # padded with "" as CoinGecko does
    assert len(body["links"]["blockchain_site"]) == 10
    usdc_token = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
    assert f"https://etherscan.io/token/{usdc_token}" in body["links"]["blockchain_site"]
    assert body["platforms"] == {"ethereum": usdc_token}
    assert {"links", "links_extended", "whitepaper"} <= set(recorded) & set(cp_usdc)
    assert set(cp_usdc["links"]) <= set(recorded["links"])
    assert {e["type"] for e in cp_usdc["links_extended"]} <= {"explorer", "website"}
    assert cp_usdc["links"]["explorer"] == [f"https://etherscan.io/token/{usdc_token}"]
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "Could not find coin with the given id"},
    )


async def test_one_coin_one_site_and_lookalikes_their_own() -> None:
    async with asgi_client(EmulatorConfig(coins=3000)) as (_, app):
        views = app.emulator.views
        universe = app.emulator.universe
        pages = {a.index: views.pages(a) for a in universe.assets}
    by_index = {a.index: a for a in universe.assets}
    owner: dict[str, int] = {}
    agree = disagree = 0
    for index, page in pages.items():
        asset = by_index[index]
        hosts = {_host(u) for u in (*page.cg_homepage, *page.cp_website)}
        if page.cg_homepage and page.cp_website:
            same = _host(page.cg_homepage[0]) == _host(page.cp_website[0])
            agree += same
            disagree += not same
        project = asset.lookalike_of if asset.origin == "duplicate" else index
        for host in hosts:
            # No two projects show one site (an old domain is still the project's own).
            assert owner.setdefault(host, project) == project, (host, asset.name)
        if asset.origin == "lookalike":
            original = pages[asset.lookalike_of]
            assert not hosts & {_host(u) for u in (*original.cg_homepage, *original.cp_website)}
    assert agree > 0.9 * (agree + disagree)
    assert disagree > 0  # an old domain on one side, as on real pages


async def test_coin_pages_are_counted_and_rate_limited() -> None:
    config = EmulatorConfig(cg_rate_limit_per_minute=2, cp_rate_limit_per_minute=2)
    async with asgi_client(config) as (client, app):
        cg = [(await client.get("/api/v3/coins/bitcoin")).status_code for _ in range(3)]
        cp = [(await client.get("/v1/coins/btc-bitcoin")).status_code for _ in range(3)]
        stats = app.emulator.stats()
    assert cg == cp == [200, 200, 429]
    assert stats["coingecko"]["routes"]["/coins/{id}"]["statuses"] == {"200": 2, "429": 1}
    assert stats["coinpaprika"]["routes"]["/coins/{id}"]["statuses"] == {"200": 2, "429": 1}
    assert list(stats["coingecko"]["routes"]) == ["/coins/{id}"]
