"""Per-coin detail: the homepage and block-explorer links a coin's own page lists (pure).

Fetched only for the few pairs names and markets leave undecided (``LinkPlan.detail_wanted``):
CoinGecko ``/coins/{id}`` ``links.homepage`` and ``links.blockchain_site``, CoinPaprika
``/v1/coins/{id}`` ``links.website`` and ``links.explorer`` (both OpenAPI specs). A project's
own site is close to an identity: two listings pointing at one site are one coin; an explorer
link to a token page carries the contract address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = [
    "Detail",
    "detail_from_coingecko",
    "detail_from_coinpaprika",
    "explorer_addresses",
    "homepage_sites",
]

# Hosts shared by many projects: only the first path part names the project there.
_SHARED_HOSTS: Final = frozenset(
    {
        "github.com",
        "gitlab.com",
        "medium.com",
        "t.me",
        "twitter.com",
        "x.com",
        "facebook.com",
        "linktr.ee",
        "sites.google.com",
        "docs.google.com",
        "bitcointalk.org",
        "reddit.com",
        "youtube.com",
        "discord.gg",
        "discord.com",
    }
)
_EVM: Final = re.compile(r"0x[0-9a-f]{40}")
_BASE58: Final = re.compile(r"[1-9a-hj-np-z]{32,44}", re.IGNORECASE)
_TOKEN_PATH: Final = frozenset({"token", "address", "account", "tokens", "asset", "contract"})


@dataclass(frozen=True, slots=True)
class Detail:
    """Links from a coin's own page (``/coins/{id}``)."""

    homepages: tuple[str, ...] = ()
    explorers: tuple[str, ...] = ()


def _split(url: str) -> tuple[str, list[str]] | None:
    text = url.strip()
    if not text:
        return None
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    host = (parts.hostname or "").lower().removeprefix("www.")
    if "." not in host:
        return None
    return host, [p for p in parts.path.split("/") if p]


def homepage_sites(detail: Detail | None) -> frozenset[str]:
    """The sites a coin's homepages name: the host without ``www.``, plus the first path part
    on hosts many projects share (``github.com/bitcoin``)."""
    if detail is None:
        return frozenset()
    out = set()
    for url in detail.homepages:
        split = _split(url)
        if split is None:
            continue
        host, path = split
        if host in _SHARED_HOSTS:
            if not path:
                continue
            host = f"{host}/{path[0].lower()}"
        out.add(host)
    return frozenset(out)


def explorer_addresses(detail: Detail | None) -> frozenset[str]:
    """Token addresses in explorer links (``etherscan.io/token/0x...``), lower-cased."""
    if detail is None:
        return frozenset()
    out = set()
    for url in detail.explorers:
        split = _split(url)
        if split is None:
            continue
        _, path = split
        for before, part in pairwise(path):
            if before.lower() not in _TOKEN_PATH:
                continue
            low = part.lower()
            if _EVM.fullmatch(low) or _BASE58.fullmatch(part):
                out.add(low)
    return frozenset(out)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str) and v.strip())
    return ()


def detail_from_coingecko(body: Any) -> Detail:
    """``/coins/{id}`` body -> Detail (anything unreadable is left out, never raised)."""
    links = body.get("links") if isinstance(body, dict) else None
    if not isinstance(links, dict):
        return Detail()
    return Detail(_strings(links.get("homepage")), _strings(links.get("blockchain_site")))


def detail_from_coinpaprika(body: Any) -> Detail:
    """``/v1/coins/{id}`` body -> Detail (anything unreadable is left out, never raised)."""
    links = body.get("links") if isinstance(body, dict) else None
    if not isinstance(links, dict):
        return Detail()
    return Detail(_strings(links.get("website")), _strings(links.get("explorer")))
