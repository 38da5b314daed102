"""``fits`` agrees with pyarrow itself on which decimals a decimal128 column holds exactly
(the exporter trusts pyarrow for the common case and ``fits`` for the rest), and the
exporter's columns give every value back exactly, as a decimal or as overflow text."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from kasparro.lake.arrow import _decimal_column, fits
from kasparro.normalize.common import SUPPLY_BOUND, bounded


@given(
    digits=st.integers(min_value=0, max_value=10**45),
    exponent=st.integers(min_value=-45, max_value=35),
    negative=st.booleans(),
    scale=st.sampled_from([0, 7, 19, 21, 28, 38]),
)
def test_fits_is_what_pyarrow_accepts(
    digits: int, exponent: int, negative: bool, scale: int
) -> None:
    value = Decimal((int(negative), tuple(int(c) for c in str(digits)), exponent))
    try:
        stored = pa.array([value], pa.decimal128(38, scale))[0].as_py()
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        stored = None
    if value and len(str(digits)) <= 38 and exponent >= -38:
        # Where pyarrow's own check is reliable, fits() is the same check. (Beyond it,
        # pyarrow writes some values as 0: see the next test.)
        assert fits(value, scale) == (stored is not None)
        if stored is not None:
            assert stored == value
    overflow: list[dict[str, str] | None] = [None]
    column = _decimal_column([value], pa.decimal128(38, scale), "x", overflow)
    back = column[0].as_py()
    if back is None:
        assert overflow[0] is not None and Decimal(overflow[0]["x"]) == value
    else:
        assert back == value and overflow[0] is None


def test_a_long_accepted_value_is_kept_exactly_where_pyarrow_alone_writes_zero() -> None:
    supply = Decimal("0.000000000000000000254386652024348511953233943819165075859006546144")
    assert bounded(supply, "circulating_supply", SUPPLY_BOUND) == supply  # the store takes it
    assert pa.array([supply], pa.decimal128(38, 7))[0].as_py() == 0  # pyarrow 26 alone
    overflow: list[dict[str, str] | None] = [None]
    column = _decimal_column([supply], pa.decimal128(38, 7), "circulating_supply", overflow)
    assert column[0].as_py() is None
    assert overflow[0] is not None
    assert Decimal(overflow[0]["circulating_supply"]) == supply
