"""The quarantine keeps every rejected record as JSON text, whatever JSON allowed in it."""

from __future__ import annotations

import json
from decimal import Decimal

from kasparro.load.quarantine import raw_text


def test_raw_text_is_compact_sorted_json() -> None:
    assert raw_text({"z": 1, "a": [Decimal("0.10"), None, "x"]}) == '{"a":["0.10",null,"x"],"z":1}'


def test_integers_beyond_64_bits_and_lone_surrogates_are_kept_exactly() -> None:
    # orjson refuses both; a record carrying them is exactly what gets rejected, and losing
    # it failed the whole batch before.
    record = {"id": "btc\ud800", "price": 10**30, "rank": 1}
    text = raw_text(record)
    assert text == '{"id":"btc\\ud800","price":1000000000000000000000000000000,"rank":1}'
    assert json.loads(text) == record
    text.encode("utf-8")  # storable as it is
