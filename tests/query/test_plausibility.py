"""The market-cap plausibility rule, on the real recorded CoinGecko page of 2022-02-23."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from kasparro.models import MarketRecord
from kasparro.normalize.coingecko import normalize_market
from kasparro.query.plausibility import CapQuote, MarketTotals, implausible_cap
from tests.normalize._samples import CG_MARKETS_250, cg_coin, sample_json


def _quote(record: MarketRecord) -> CapQuote:
    return CapQuote(
        record.price_usd, record.market_cap_usd, record.volume_24h_usd, record.circulating_supply
    )


def _page() -> list[MarketRecord]:
    records = [normalize_market(element) for element in sample_json(CG_MARKETS_250)]
    assert all(isinstance(r, MarketRecord) for r in records)
    return records  # type: ignore[return-value]


def _tico() -> MarketRecord:
    record = normalize_market(cg_coin("ticoex-token"))
    assert isinstance(record, MarketRecord)
    return record


def test_the_recorded_junk_rank_one_is_implausible_against_the_whole_market() -> None:
    page = _page()
    market = MarketTotals.of(_quote(r) for r in page)
    tico = _tico()
    # The recorded figures, exactly: price x supply agrees with the cap, so only the
    # comparison with the rest of the market can tell.
    assert tico.market_cap_rank == 1
    assert tico.price_usd == Decimal("0.00136138")
    assert tico.market_cap_usd == Decimal(3333370870735)
    assert tico.volume_24h_usd == Decimal("5.4")
    assert tico.circulating_supply is not None and tico.price_usd is not None
    assert abs(tico.price_usd * tico.circulating_supply / tico.market_cap_usd - 1) < Decimal(
        "0.001"
    )
    flags = implausible_cap(_quote(tico), market)
    assert [f.code for f in flags] == ["turnover"]
    assert "65.0% of the whole market's" in flags[0].message
    assert "$5.40 traded in 24 h" in flags[0].message


def test_no_real_coin_of_the_recorded_page_is_flagged() -> None:
    page = _page()
    market = MarketTotals.of(_quote(r) for r in page)
    flagged = {r.source_asset_id for r in page if implausible_cap(_quote(r), market)}
    assert flagged == {"ticoex-token"}


def test_the_whole_market_is_judged_without_the_coin_itself() -> None:
    """Ten TICOEX-sized junk caps would make the market's turnover look tiny if each were
    judged against totals including itself; each is judged against the rest."""
    page = _page()
    tico = _tico()
    market = MarketTotals.of([*(_quote(r) for r in page), *[_quote(tico)] * 9])
    assert [f.code for f in implausible_cap(_quote(tico), market)] == ["turnover"]
    bitcoin = next(r for r in page if r.source_asset_id == "bitcoin")
    assert implausible_cap(_quote(bitcoin), market) == []


def test_a_cap_far_from_price_times_supply_is_implausible() -> None:
    page = _page()
    market = MarketTotals.of(_quote(r) for r in page)
    bitcoin = next(r for r in page if r.source_asset_id == "bitcoin")
    assert implausible_cap(_quote(bitcoin), market) == []
    assert bitcoin.market_cap_usd is not None
    for factor, flagged in (("2.5", True), ("1.9", False), ("0.45", True), ("0.55", False)):
        broken = dataclasses.replace(
            bitcoin, market_cap_usd=bitcoin.market_cap_usd * Decimal(factor)
        )
        codes = [f.code for f in implausible_cap(_quote(broken), market)]
        assert ("supply" in codes) is flagged, factor


def test_unknown_figures_are_not_judged() -> None:
    market = MarketTotals(Decimal(10**12), Decimal(10**10))
    no_volume = CapQuote(Decimal(1), Decimal(10**11), None, None)
    assert implausible_cap(no_volume, market) == []
    no_cap = CapQuote(Decimal(1), None, Decimal(0), Decimal(10))
    assert implausible_cap(no_cap, market) == []
    # Untraded but small (under 0.1 % of the market): not a ranking threat, not judged.
    small = CapQuote(Decimal(1), Decimal(10**8), Decimal(0), Decimal(10**8))
    assert implausible_cap(small, market) == []
    big = CapQuote(Decimal(1), Decimal(10**10), Decimal(0), Decimal(10**10))
    assert [f.code for f in implausible_cap(big, market)] == ["turnover"]
