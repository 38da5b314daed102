"""Building candidates for the linker's tests."""

from __future__ import annotations

from decimal import Decimal

from kasparro.identity import Candidate, Detail

CG = "coingecko"
CP = "coinpaprika"


def coin(
    source: str,
    id: str,
    symbol: str,
    name: str,
    *,
    contracts: tuple[tuple[str, str], ...] = (),
    cap: int | None = None,
    rank: int | None = None,
    active: bool | None = True,
    traded: bool = True,
    homepage: str | None = None,
    explorer: str | None = None,
) -> Candidate:
    detail = None
    if homepage is not None or explorer is not None:
        detail = Detail((homepage,) if homepage else (), (explorer,) if explorer else ())
    return Candidate(
        source,
        id,
        symbol,
        name,
        frozenset(contracts),
        None if cap is None else Decimal(cap),
        rank,
        active,
        traded,
        detail,
    )


def cg(id: str, symbol: str, name: str, **kw: object) -> Candidate:
    return coin(CG, id, symbol, name, **kw)  # type: ignore[arg-type]


def cp(id: str, symbol: str, name: str, **kw: object) -> Candidate:
    return coin(CP, id, symbol.upper(), name, **kw)  # type: ignore[arg-type]
