"""History points (price charts) -> ``MarketRecord`` (pure; never raises).

CoinGecko ``/coins/{id}/market_chart/range``: ``{"prices": [[ms, price]], "market_caps":
[[ms, cap]], "total_volumes": [[ms, volume]]}``, three arrays joined on the timestamp.
CoinPaprika ``/tickers/{id}/historical``: ``[{timestamp, price, volume_24h, market_cap}]``.

A point becomes an observation of the coin at its own timestamp, with the price, market cap
and 24 h volume it carries (no supply, rank or 24 h change: the charts do not have them).
Numbers come from :func:`~kasparro.normalize.common.loads_exact` (exact Decimals). A point
without a usable timestamp or price is a rejection, like any record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kasparro.models import MarketRecord, Normalized, Rejection
from kasparro.normalize.common import (
    MARKET_BOUND,
    PRICE_BOUND,
    InvalidValue,
    optional_number,
    parse_timestamp,
    required_number,
    type_name,
)

__all__ = ["coingecko_points", "normalize_point"]

_EARLIEST_MS = 1_230_768_000_000  # 2009-01-01: the genesis block
_LATEST_MS = 4_102_444_800_000  # 2100-01-01


def coingecko_points(body: Any) -> list[dict[str, Any]]:
    """A market chart's points, one dict per timestamp (``t`` in ms, ``price``,
    ``market_cap``, ``volume``), in the order of ``prices``. Market caps and volumes are
    joined on their timestamp (CoinGecko sends the same timestamps in the three arrays; a
    missing one is None). Raises ValueError for a body that is not a chart at all."""
    if type(body) is not dict or type(body.get("prices")) is not list:
        raise ValueError("expected a market chart object with a prices array")
    caps = _by_time(body.get("market_caps"))
    volumes = _by_time(body.get("total_volumes"))
    points = []
    for pair in body["prices"]:
        if type(pair) is list and len(pair) == 2:
            t, price = pair
            points.append(
                {"t": t, "price": price, "market_cap": caps.get(t), "volume": volumes.get(t)}
            )
        else:
            points.append({"t": None, "price": None, "raw": pair})
    return points


def _by_time(series: Any) -> dict[Any, Any]:
    if type(series) is not list:
        return {}
    return {
        pair[0]: pair[1]
        for pair in series
        if type(pair) is list and len(pair) == 2 and type(pair[0]) is int
    }


def _time_ms(value: Any) -> datetime:
    if type(value) is not int:
        raise InvalidValue(f"timestamp: expected an integer (ms), got {type_name(value)}")
    if not _EARLIEST_MS <= value <= _LATEST_MS:
        raise InvalidValue("timestamp: out of range")
    return datetime.fromtimestamp(value / 1000, UTC)


def normalize_point(
    source: str, source_asset_id: str, symbol: str, name: str, point: Any
) -> Normalized:
    """One chart point of ``source_asset_id`` (CoinGecko shape from ``coingecko_points``,
    or a CoinPaprika historical tick)."""
    if type(point) is not dict:
        return Rejection(f"expected an object, got {type_name(point)}", point, source_asset_id)
    try:
        if "timestamp" in point:  # CoinPaprika
            observed_at = parse_timestamp(point.get("timestamp"), "timestamp")
            cap, volume = point.get("market_cap"), point.get("volume_24h")
        else:
            observed_at = _time_ms(point.get("t"))
            cap, volume = point.get("market_cap"), point.get("volume")
        return MarketRecord(
            source=source,
            source_asset_id=source_asset_id,
            symbol=symbol,
            name=name,
            observed_at=observed_at,
            price_usd=required_number(point.get("price"), "price_usd", PRICE_BOUND),
            market_cap_usd=optional_number(cap, "market_cap_usd", MARKET_BOUND),
            volume_24h_usd=optional_number(volume, "volume_24h_usd", MARKET_BOUND),
        )
    except InvalidValue as exc:
        return Rejection(exc.reason, point, source_asset_id)
