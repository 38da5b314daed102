"""A coin's own page: CoinGecko ``/coins/{id}`` and CoinPaprika ``/v1/coins/{id}`` links.

Both APIs list a project's homepage and its block explorers on the coin's page (CoinGecko
``links.homepage`` padded to three entries with ``""`` and ``links.blockchain_site`` padded
to ten; CoinPaprika ``links.website`` and ``links.explorer``, and ``links_extended``: the
shapes of CoinGecko's OpenAPI spec and of the recorded ``/v1/coins/eth-ethereum`` body). A
token's explorer links point at its contract (``etherscan.io/token/0x...``).

**The identity model.** One real coin has one project site, whatever each API calls it: the
site is drawn once per asset (index order, a site taken by an earlier asset is never
reused), so the two listings of one coin show the same site and two different coins never
do. A bridged, pegged or wrapped copy is its own asset with its own site; a dead duplicate
listing is the same project and shows its original's site. What differs between the APIs,
as on real pages: ``www.`` or not, a trailing slash or not, no homepage on one side (CoinGecko
5 %, CoinPaprika 8 %), an old domain on CoinPaprika (3 %: the two pages disagree, as real
ones do after a project moves), explorers only for the contracts each API lists (in its own
spelling). These rates are estimates: no recorded pair of both APIs' pages exists to
measure them.

Pure functions of ``(seed, universe)``; the emulator never reads the ETL's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kasparro.emulator.render import NULL, Record, json_string, render_record
from kasparro.emulator.rng import Stream
from kasparro.emulator.universe import Asset, Universe, slugify

SALT_DETAIL: Final = 15

_TLDS: Final = ("io", "org", "com", "finance", "network", "xyz", "app", "net")
# Explorer URL of a token page per platform (CoinGecko id, CoinPaprika id).
_EXPLORERS: Final[dict[str, str]] = {
    "ethereum": "https://etherscan.io/token/{}",
    "binance-smart-chain": "https://bscscan.com/token/{}",
    "solana": "https://solscan.io/token/{}",
    "polygon-pos": "https://polygonscan.com/token/{}",
    "arbitrum-one": "https://arbiscan.io/token/{}",
    "base": "https://basescan.org/token/{}",
    "avalanche": "https://snowtrace.io/token/{}",
    "optimistic-ethereum": "https://optimistic.etherscan.io/token/{}",
    "tron": "https://tronscan.org/#/token20/{}",
    "fantom": "https://ftmscan.com/token/{}",
    "cronos": "https://cronoscan.com/token/{}",
    "stellar": "https://stellar.expert/explorer/public/asset/{}",
    "eth-ethereum": "https://etherscan.io/token/{}",
    "bnb-binance-coin": "https://bscscan.com/token/{}",
    "sol-solana": "https://solscan.io/token/{}",
    "matic-polygon": "https://polygonscan.com/token/{}",
    "arb-arbitrum": "https://arbiscan.io/token/{}",
    "base-base": "https://basescan.org/token/{}",
    "avax-avalanche": "https://snowtrace.io/token/{}",
    "op-optimism": "https://optimistic.etherscan.io/token/{}",
    "trx-tron": "https://tronscan.org/#/token20/{}",
    "ftm-fantom": "https://ftmscan.com/token/{}",
    "cro-cryptocom-chain": "https://cronoscan.com/token/{}",
    "xlm-stellar": "https://stellar.expert/explorer/public/asset/{}",
}


@dataclass(frozen=True, slots=True)
class Pages:
    """What each API's page of one asset lists."""

    cg_homepage: tuple[str, ...]
    cp_website: tuple[str, ...]
    cg_explorers: tuple[str, ...]
    cp_explorers: tuple[str, ...]


def _label(asset: Asset) -> str:
    """The project's name as a domain label (its first listing's name: ids keep it)."""
    if asset.cg_id:
        base = asset.cg_id
    else:
        sid = asset.cp_id or asset.name
        base = sid.split("-", 1)[1] if "-" in sid else sid
    return slugify(base).replace("-", "")[:40] or "coin"


def assign_sites(universe: Universe) -> dict[int, str]:
    """asset index -> its project's site (host), unique per project."""
    taken: set[str] = set()
    out: dict[int, str] = {}
    for asset in universe.assets:
        if asset.origin == "duplicate" and asset.lookalike_of in out:
            out[asset.index] = out[asset.lookalike_of]  # the same project, listed twice
            continue
        stream = Stream(universe.seed, SALT_DETAIL, asset.index)
        label = _label(asset)
        first = stream.below(len(_TLDS))
        site = ""
        for attempt in range(len(_TLDS) * 3):
            prefix = ("", "get", "the")[attempt // len(_TLDS)]
            site = f"{prefix}{label}.{_TLDS[(first + attempt) % len(_TLDS)]}"
            if site not in taken and _old_domain(site) not in taken:
                break
        else:
            site = f"{label}{asset.index}.io"
        taken.update((site, _old_domain(site)))  # the old domain is the project's too
        out[asset.index] = site
    return out


def _old_domain(site: str) -> str:
    label, tld = site.rsplit(".", 1)
    return f"{label}.{'net' if tld == 'com' else 'com'}"


def _url(site: str, stream: Stream) -> str:
    host = f"www.{site}" if stream.below(2) else site
    return f"https://{host}/" if stream.below(2) else f"https://{host}"


def pages(universe: Universe, asset: Asset, site: str) -> Pages:
    stream = Stream(universe.seed, SALT_DETAIL, asset.index, 1)
    cg_home: tuple[str, ...] = (_url(site, stream),)
    cp_home: tuple[str, ...] = (_url(site, stream),)
    roll = stream.below(1000)
    if roll < 50:
        cg_home = ()
    elif roll < 130:
        cp_home = ()
    elif roll < 160:
        cp_home = (_url(_old_domain(site), stream),)
    ident = asset.identity
    cg_explorers: list[str] = []
    cp_explorers: list[str] = []
    if ident is None or ident.kind == "coin":
        cg_explorers = cp_explorers = [f"https://explorer.{site}/"]
    else:
        cg_explorers = [
            _EXPLORERS[p].format(a) for p, a in ident.cg_platforms if p in _EXPLORERS and a
        ]
        cp_explorers = [
            _EXPLORERS[p].format(a) for p, a, _ in ident.cp_contracts if p in _EXPLORERS and a
        ]
    return Pages(cg_home, cp_home, tuple(cg_explorers), tuple(cp_explorers))


def _strings(values: tuple[str, ...] | list[str], pad: int = 0) -> str:
    padded = [*values, *([""] * max(0, pad - len(values)))]
    return "[" + ",".join(json_string(v) for v in padded) + "]"


def cg_coin_record(asset: Asset, page: Pages, *, rank: int | None, updated: str) -> Record:
    """``/coins/{id}`` as served with ``localization=false&tickers=false&market_data=false
    &community_data=false&developer_data=false`` (the emulator never serves those parts)."""
    ident = asset.identity
    platforms = ident.cg_platforms if ident else ()
    first = next((p for p, a in platforms if p), None)
    cg_id = asset.cg_id or ""
    return {
        "id": json_string(cg_id),
        "symbol": json_string(asset.symbol),
        "name": json_string(asset.name),
        "web_slug": json_string(cg_id),
        "asset_platform_id": json_string(first) if first else NULL,
        "platforms": {p: json_string(a) for p, a in platforms},
        "detail_platforms": {
            p: {"decimal_place": NULL if not p else "18", "contract_address": json_string(a)}
            for p, a in platforms
        },
        "block_time_in_minutes": "0",
        "hashing_algorithm": NULL,
        "categories": "[]",
        "preview_listing": "false",
        "public_notice": NULL,
        "additional_notices": "[]",
        "description": {"en": json_string("")},
        "links": {
            "homepage": _strings(page.cg_homepage, 3),
            "whitepaper": json_string(""),
            "blockchain_site": _strings(page.cg_explorers, 10),
            "official_forum_url": _strings((), 3),
            "chat_url": _strings((), 3),
            "announcement_url": _strings((), 2),
            "twitter_screen_name": json_string(""),
            "facebook_username": json_string(""),
            "bitcointalk_thread_identifier": NULL,
            "telegram_channel_identifier": json_string(""),
            "subreddit_url": NULL,
            "repos_url": {"github": "[]", "bitbucket": "[]"},
        },
        "image": {
            size: json_string(
                f"https://coin-images.coingecko.com/coins/images/{asset.index}/{size}/{cg_id}.png"
            )
            for size in ("thumb", "small", "large")
        },
        "country_origin": json_string(""),
        "genesis_date": NULL,
        "sentiment_votes_up_percentage": NULL,
        "sentiment_votes_down_percentage": NULL,
        "watchlist_portfolio_users": "0",
        "market_cap_rank": str(rank) if rank else NULL,
        "status_updates": "[]",
        "last_updated": json_string(updated),
    }


def cp_links(page: Pages) -> tuple[Record, str]:
    """``links`` and ``links_extended`` of ``/v1/coins/{id}`` (lists absent when empty, as
    on the recorded body)."""
    links: Record = {}
    extended = []
    if page.cp_explorers:
        links["explorer"] = _strings(page.cp_explorers)
        extended += [("explorer", url) for url in page.cp_explorers]
    if page.cp_website:
        links["website"] = _strings(page.cp_website)
        extended += [("website", url) for url in page.cp_website]
    rendered = ",".join(
        render_record({"url": json_string(url), "type": json_string(kind)})
        for kind, url in extended
    )
    return links, f"[{rendered}]"
