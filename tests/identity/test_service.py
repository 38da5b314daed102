"""A human's decision (IdentityService.decide) on both stores: only on coins Kasparro knows.

A coin is known when a source identity links lists it: in its coin list (reference data) or
with market data. Anything else (a typo, a source that does not exist) was stored as a
sticky decision that never applied, and counted by ``identity show``.
"""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.identity import repository
from kasparro.identity.model import CoinRef
from kasparro.identity.service import IdentityService, UnknownCoins
from kasparro.runs.repository import utcnow
from tests.fixtures.api import rec, seed_reference, seed_run
from tests.fixtures.etl import rows
from tests.fixtures.settings import builtin_registry

BITCOIN: CoinRef = ("coingecko", "bitcoin")  # in CoinGecko's coin list only
BTC: CoinRef = ("coinpaprika", "btc-bitcoin")  # in CoinPaprika's market data only
NOT_LISTED = "not in {}'s coin list or market data"
NOT_A_SOURCE = "{} is not one of identity's sources: coingecko, coinpaprika, csv"


@pytest.fixture
async def service(engine: AsyncEngine) -> IdentityService:
    await seed_reference(engine, "coingecko", ["bitcoin"])
    await seed_run(engine, "coinpaprika", [rec("btc-bitcoin", source="coinpaprika")])
    return IdentityService.for_registry(engine, builtin_registry())


async def _decisions(engine: AsyncEngine) -> list[tuple[str, ...]]:
    return await rows(
        engine, "SELECT a_source, a_id, b_source, b_id, status FROM identity_review ORDER BY id"
    )


@pytest.mark.parametrize("accept", [True, False], ids=["link", "unlink"])
async def test_a_decision_on_known_coins_is_stored(
    service: IdentityService, engine: AsyncEngine, accept: bool
) -> None:
    result = await service.decide(BTC, BITCOIN, accept=accept, decided_by="test", note="checked")
    assert (result.a, result.b, result.accepted) == (BITCOIN, BTC, accept)
    status = "accepted" if accept else "rejected"
    assert await _decisions(engine) == [(*BITCOIN, *BTC, status)]


@pytest.mark.parametrize("accept", [True, False], ids=["link", "unlink"])
@pytest.mark.parametrize(
    ("coin", "reason"),
    [
        (("coingecko", "doesnotexist"), NOT_LISTED.format("coingecko")),
        # Ids are per source: CoinPaprika's id is not a CoinGecko coin.
        (("coingecko", "btc-bitcoin"), NOT_LISTED.format("coingecko")),
        (("coingecko", "Bitcoin"), NOT_LISTED.format("coingecko")),
        (("csv", "bitcoin"), NOT_LISTED.format("csv")),
        (("nosuch", "x"), NOT_A_SOURCE.format("nosuch")),
        # A registered source whose coins identity does not link (an exchange's markets).
        (("binance", "BTC"), NOT_A_SOURCE.format("binance")),
    ],
)
async def test_a_decision_on_an_unknown_coin_is_refused_and_stores_nothing(
    service: IdentityService, engine: AsyncEngine, coin: CoinRef, reason: str, accept: bool
) -> None:
    for a, b in ((coin, BTC), (BITCOIN, coin)):
        with pytest.raises(UnknownCoins) as refused:
            await service.decide(a, b, accept=accept, decided_by="test", note=None)
        assert refused.value.coins == (coin,)
        assert str(refused.value) == f"unknown coin {coin[0]}:{coin[1]} ({reason})"
    assert await _decisions(engine) == []
    assert await rows(engine, "SELECT id FROM identity_relinks") == []  # nor relinked


async def test_both_unknown_coins_are_named(service: IdentityService, engine: AsyncEngine) -> None:
    with pytest.raises(UnknownCoins) as refused:
        await service.decide(
            ("nosuch", "x"), ("coinpaprika", "nope"), accept=True, decided_by="test", note=None
        )
    assert refused.value.coins == (("nosuch", "x"), ("coinpaprika", "nope"))
    assert str(refused.value) == (
        f"unknown coin nosuch:x ({NOT_A_SOURCE.format('nosuch')}); "
        f"unknown coin coinpaprika:nope ({NOT_LISTED.format('coinpaprika')})"
    )
    assert await _decisions(engine) == []


async def test_a_stored_item_stays_decidable_when_a_coin_left_its_list(
    service: IdentityService, engine: AsyncEngine
) -> None:
    # An item the linker proposed (or an earlier decision stored) whose coin is no longer
    # listed: accepting or rejecting it by its id changes a stored verdict, it adds none.
    gone: CoinRef = ("coingecko", "delisted")
    async with engine.begin() as conn:
        review_id = await repository.decide(
            conn, gone, BTC, accept=True, decided_by="test", note=None, now=utcnow()
        )
    result = await service.decide_review(review_id, accept=False, decided_by="test", note=None)
    assert result is not None and result.review_id == review_id
    assert await _decisions(engine) == [(*gone, *BTC, "rejected")]
