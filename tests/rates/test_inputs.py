"""Which assets a partition evaluates and with which aggregator inputs (rates.inputs.Window):
the assets observed in ``[start, at)`` within the lookback, each with every source's newest
row before ``at`` that is within the lookback. Checked against that definition written out
plainly, on generated observations (the window finds them by a time index instead)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kasparro.rates.inputs import ObservationRow, Window
from tests.fixtures.rates import T0, observations

LOOKBACK = timedelta(minutes=30)

observation = observations(
    assets=6, minutes=(0, 90), prices=st.integers(1, 10**6).map(lambda n: Decimal(n) / 100)
)


def expected(
    rows: list[ObservationRow], start: datetime, at: datetime
) -> dict[int, list[tuple[str, str, datetime]]]:
    newest: dict[tuple[str, str, int], ObservationRow] = {}
    for o in rows:
        if at - LOOKBACK <= o.observed_at < at:
            key = (o.source, o.source_asset_id, o.asset_id)
            if key not in newest or o.observed_at >= newest[key].observed_at:
                newest[key] = o
    observed = {o.asset_id for o in newest.values() if o.observed_at >= start}
    out: dict[int, list[tuple[str, str, datetime]]] = {}
    for (source, market, asset_id), o in sorted(newest.items()):
        if asset_id in observed:
            out.setdefault(asset_id, []).append((source, market, o.observed_at))
    return out


@given(
    rows=st.lists(observation, max_size=40),
    start_min=st.integers(0, 95),
    length=st.sampled_from([1, 5, 45]),  # 45: a partition longer than the lookback
)
def test_a_partition_evaluates_the_assets_observed_in_it(
    rows: list[ObservationRow], start_min: int, length: int
) -> None:
    start = T0 + timedelta(minutes=start_min)
    at = start + timedelta(minutes=length)
    got = Window([], rows).candidates(start, at, LOOKBACK)
    assert sorted(got) == sorted(got.keys())
    simplified = {
        asset_id: sorted((c.source, c.market, c.observed_at) for c in candidates)
        for asset_id, candidates in got.items()
    }
    assert simplified == expected(rows, start, at)
    for candidates in got.values():
        assert all(c.kind == "aggregator" and c.quote_usd == 1 for c in candidates)
