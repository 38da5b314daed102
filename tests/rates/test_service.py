"""A bucket computed a few thousand assets at a time (rates.service.asset_values, as the ETL
stores it) gives the same assets and values as the whole bucket at once: an asset's value
depends on its own candidates and state only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from kasparro.rates.inputs import ObservationRow, Window
from kasparro.rates.method import CURRENT
from kasparro.rates.service import asset_values, bucket_partitions, bucket_values
from tests.fixtures.rates import T0, observations

# Dense enough that assets often get values, some inputs out of the 2 % band.
observation = observations(assets=4, minutes=(50, 62), prices=st.integers(90, 110).map(Decimal))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(observation, min_size=20, max_size=60),
    interval=st.sampled_from(["1m", "1h"]),
    step=st.integers(1, 5),
    out_before=st.dictionaries(
        st.integers(1, 4), st.frozensets(st.sampled_from(["coingecko|a", "csv|b"]))
    ),
)
def test_a_bucket_in_steps_of_assets_is_the_bucket_at_once(
    rows: list[ObservationRow],
    interval: str,
    step: int,
    out_before: dict[int, frozenset[str]],
) -> None:
    window = Window([], rows)
    bucket = T0 if interval == "1h" else T0 + timedelta(minutes=55)
    symbols = {a: f"C{a}" for a in range(1, 7)}
    whole_assets, whole = bucket_values(
        window, interval, bucket, dict(out_before), symbols, CURRENT
    )

    views = bucket_partitions(window, interval, bucket, CURRENT)
    assets = sorted(set().union(*(view.observed for _, view in views)))
    stepped_assets: list[int] = []
    stepped = {}
    for i in range(0, len(assets), step):
        evaluated, values = asset_values(
            views, assets[i : i + step], dict(out_before), symbols, CURRENT
        )
        stepped_assets += evaluated
        stepped.update(values)
    assert stepped_assets == whole_assets
    assert stepped == whole
    # No asset is evaluated without a row in the bucket or its lookback.
    observed = {o.asset_id for o in rows if bucket - CURRENT.lookback <= o.observed_at}
    assert set(whole_assets) <= observed
