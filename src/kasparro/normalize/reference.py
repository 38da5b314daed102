"""Reference data (coin lists and contracts) -> ``ReferenceCoin`` / ``ReferenceContract``.

Pure, never raise. An element without a usable id, symbol or name is a ``Rejection``
(quarantined with its reason). Bad contract data inside an otherwise good coin is *kept out
of linking but recorded* in ``ReferenceCoin.issues``: an empty address (CoinGecko lists
native coins as ``{"": ""}``), an address that is not a string, a platform this project has
no chain mapping for. Such data never merges coins, and it never costs the coin its entry.

Endpoints (QUIRKS.md, both OpenAPI specs):
- CoinGecko ``/coins/list?include_platform=true``: ``{id, symbol, name, platforms}``, with
  ``platforms`` ``{platform_id: address}``.
- CoinPaprika ``/coins``: ``{id, name, symbol, rank, is_new, is_active, type}``
  (``type`` ``coin``/``token``; ``rank`` 0 = unranked).
- CoinPaprika ``/contracts/{platform_id}``: ``{address, id, type, active}``, where ``id`` is
  the coin's id and the platform comes from the request.
- A coin's own page, CoinGecko ``/coins/{id}`` (``links.homepage``, ``links.blockchain_site``)
  and CoinPaprika ``/coins/{id}`` (``links.website``, ``links.explorer``): its links only.
"""

from __future__ import annotations

from typing import Any, Final

from kasparro.identity.chains import canonical_chain
from kasparro.identity.detail import detail_from_coingecko, detail_from_coinpaprika
from kasparro.models import (
    Contract,
    ReferenceCoin,
    ReferenceContract,
    ReferenceDetail,
    ReferencePlatform,
    Rejection,
)
from kasparro.normalize.common import (
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_SYMBOL_CHARS,
    InvalidValue,
    optional_text,
    require_text,
    type_name,
)

__all__ = [
    "MAX_ADDRESS_CHARS",
    "SCOPE_COINS",
    "SCOPE_DETAIL",
    "SCOPE_PLATFORMS",
    "contracts_scope",
    "normalize_coingecko_coin",
    "normalize_coinpaprika_coin",
    "normalize_coinpaprika_contract",
    "normalize_coinpaprika_platform",
    "normalize_detail",
]

# Longest real addresses: Stellar "CODE-ISSUER" pairs (~70), Cosmos denoms (~70); anything
# far beyond that is not an address.
MAX_ADDRESS_CHARS: Final = 200
_MAX_PLATFORM_CHARS: Final = 100
_KINDS: Final = frozenset({"coin", "token"})


def _identity(raw: dict[str, Any]) -> tuple[str, str, str]:
    return (
        require_text(raw.get("id"), "id", MAX_ID_CHARS, strip=False),
        require_text(raw.get("symbol"), "symbol", MAX_SYMBOL_CHARS, strip=True),
        require_text(raw.get("name"), "name", MAX_NAME_CHARS, strip=True),
    )


# CoinGecko's own spelling of "no contract" for a native coin: ``"platforms": {"": ""}``.
_NATIVE: Final = ""


def _contract(source: str, platform: Any, address: Any) -> Contract | str:
    """A contract, or the issue that keeps it out (``"<kind>:<platform>"``), or ``_NATIVE``."""
    if type(platform) is not str or not platform.strip():
        return _NATIVE if address in (None, "") else "empty_platform:"
    platform = platform.strip()[:_MAX_PLATFORM_CHARS]
    if address is None or (type(address) is str and not address.strip()):
        return f"empty_address:{platform}"
    if type(address) is not str:
        return f"bad_address:{platform}"
    address = address.strip()
    if len(address) > MAX_ADDRESS_CHARS or any(ch.isspace() for ch in address):
        return f"bad_address:{platform}"
    return Contract(platform=platform, address=address, chain=canonical_chain(source, platform))


def normalize_coingecko_coin(raw: Any) -> ReferenceCoin | Rejection:
    if type(raw) is not dict:
        return Rejection(f"expected an object, got {type_name(raw)}", raw)
    try:
        sid, symbol, name = _identity(raw)
    except InvalidValue as exc:
        return Rejection(exc.reason, raw, optional_text(raw.get("id")))
    platforms = raw.get("platforms")
    contracts: list[Contract] = []
    issues: list[str] = []
    if platforms is not None and type(platforms) is not dict:
        issues.append(f"bad_platforms:{type_name(platforms)}")
    elif platforms:
        for platform, address in platforms.items():
            out = _contract("coingecko", platform, address)
            if isinstance(out, str):
                if out != _NATIVE:
                    issues.append(out)
                continue
            contracts.append(out)
            if out.chain is None:
                issues.append(f"unknown_chain:{out.platform}")
    # With platforms listed and none usable the coin is a native; without (the list was
    # fetched without include_platform, or its platforms were unreadable) nobody knows.
    readable = platforms is None or type(platforms) is dict
    kind = "token" if contracts else ("coin" if platforms is not None and readable else None)
    return ReferenceCoin(
        source="coingecko",
        source_asset_id=sid,
        symbol=symbol,
        name=name,
        kind=kind,
        contracts=tuple(contracts),
        issues=tuple(issues),
    )


def normalize_coinpaprika_coin(raw: Any) -> ReferenceCoin | Rejection:
    if type(raw) is not dict:
        return Rejection(f"expected an object, got {type_name(raw)}", raw)
    try:
        sid, symbol, name = _identity(raw)
        rank = raw.get("rank")
        if rank is not None and (type(rank) is not int or rank < 0):
            raise InvalidValue(f"rank: expected a non-negative integer, got {type_name(rank)}")
    except InvalidValue as exc:
        return Rejection(exc.reason, raw, optional_text(raw.get("id")))
    kind = raw.get("type")
    active = raw.get("is_active")
    return ReferenceCoin(
        source="coinpaprika",
        source_asset_id=sid,
        symbol=symbol,
        name=name,
        kind=kind if kind in _KINDS else None,
        rank=rank or None,  # 0 means unranked
        active=active if type(active) is bool else None,
    )


def normalize_coinpaprika_contract(platform: str, raw: Any) -> ReferenceContract | Rejection:
    """One ``/contracts/{platform}`` entry; ``platform`` is the requested platform id."""
    if type(raw) is not dict:
        return Rejection(f"expected an object, got {type_name(raw)}", raw)
    try:
        sid = require_text(raw.get("id"), "id", MAX_ID_CHARS, strip=False)
    except InvalidValue as exc:
        return Rejection(exc.reason, raw)
    out = _contract("coinpaprika", platform, raw.get("address"))
    if isinstance(out, str):
        empty = out in (_NATIVE, f"empty_address:{platform}")
        return Rejection("address: empty" if empty else "address: not an address", raw, sid)
    kind = raw.get("type")
    active = raw.get("active")
    return ReferenceContract(
        source="coinpaprika",
        source_asset_id=sid,
        contract=out,
        type=kind if type(kind) is str and len(kind) <= 32 else None,
        active=active if type(active) is bool else None,
    )


# Snapshot scopes of reference pages (see load.reference).
SCOPE_COINS: Final = "coins"
SCOPE_PLATFORMS: Final = "platforms"
# Per-coin detail pages (identity.detail): upserted one coin at a time, never a snapshot.
SCOPE_DETAIL: Final = "detail"


def normalize_detail(source: str, sid: str, body: Any) -> ReferenceDetail | Rejection:
    """A coin page's body (``None``: the API has no page for it, a 404) -> its links."""
    if body is not None and not isinstance(body, dict):
        return Rejection(f"coin page: expected an object, got {type_name(body)}", body, sid)
    read = detail_from_coingecko if source == "coingecko" else detail_from_coinpaprika
    found = read(body)
    cap = 20  # a page lists a handful; more is noise, and rows stay small
    homepages = tuple(u.strip()[:500] for u in found.homepages[:cap])
    explorers = tuple(u.strip()[:500] for u in found.explorers[:cap])
    return ReferenceDetail(source, sid, homepages, explorers)


def contracts_scope(platform: str) -> str:
    return f"contracts:{platform}"


def normalize_coinpaprika_platform(raw: Any) -> ReferencePlatform | Rejection:
    """One ``/contracts`` entry: a platform id (a string)."""
    if type(raw) is not str or not raw.strip() or len(raw) > _MAX_PLATFORM_CHARS:
        return Rejection(f"platform: expected a platform id, got {type_name(raw)}", raw)
    platform = raw.strip()
    return ReferencePlatform("coinpaprika", platform, canonical_chain("coinpaprika", platform))
