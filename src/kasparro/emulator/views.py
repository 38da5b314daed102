"""What each endpoint returns at a tick, with the response bodies cached per tick.

Bodies are pure functions of ``(universe, tick, query)``, so they are cached by that key
and the cache is simply dropped when a new tick is first served. Records (dicts of JSON
fragments) are only rebuilt when fault injection needs to mutate them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from kasparro.emulator import detail
from kasparro.emulator.gcpause import gc_paused
from kasparro.emulator.history import History
from kasparro.emulator.market import (
    UNIT,
    cg_base,
    cg_record,
    cg_text,
    cp_base,
    cp_numbers,
    cp_record,
    cp_text,
)
from kasparro.emulator.numbers import (
    Num,
    as_float,
    as_int,
    compare,
    format_coinpaprika,
    percent_change,
    quantize,
    scale,
)
from kasparro.emulator.render import (
    NULL,
    Record,
    iso_seconds,
    json_string,
    render_record,
    render_records,
)
from kasparro.emulator.rng import hash_ints
from kasparro.emulator.seed import CP_GLOBAL, seed_numbers
from kasparro.emulator.truth import Market
from kasparro.emulator.universe import BASE_TIME_MS, SALT_TICK, Asset, Universe

CG_ORDERS = (
    "market_cap_desc",
    "market_cap_asc",
    "volume_desc",
    "volume_asc",
    "id_asc",
    "id_desc",
)


@dataclass(frozen=True, slots=True)
class MarketsQuery:
    """A normalised ``/coins/markets`` request (every field is part of the cache key)."""

    order: str = "market_cap_desc"
    per_page: int = 100
    page: int = 1
    ids: tuple[str, ...] | None = None
    pcp: tuple[str, ...] = ()


class _BodyCache:
    """Byte-bounded LRU of response bodies for one tick."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._items: OrderedDict[Any, bytes] = OrderedDict()
        self._size = 0
        self._tick: int | None = None
        self._lock = threading.Lock()

    def get(self, tick: int, key: Any, build: Callable[[], bytes]) -> bytes:
        with self._lock:
            if tick == self._tick:
                body = self._items.get(key)
                if body is not None:
                    self._items.move_to_end(key)
                    return body
        with gc_paused():
            body = build()
        with self._lock:
            if tick != self._tick:
                self._items.clear()
                self._size = 0
                self._tick = tick
            if len(body) <= self._max and key not in self._items:
                self._items[key] = body
                self._size += len(body)
                while self._size > self._max:
                    _, dropped = self._items.popitem(last=False)
                    self._size -= len(dropped)
        return body


class MarketViews:
    def __init__(
        self,
        universe: Universe,
        *,
        tick_step_seconds: int = 300,
        cp_tickers_cap: int | None = None,
        cp_omit_circulating_supply: bool = False,
        cache_max_bytes: int = 256 * 1024 * 1024,
        shift_seconds: int = 0,
    ) -> None:
        self.universe = universe
        self.seed = universe.seed
        self.step_ms = tick_step_seconds * 1000
        # Output clock = the universe's clock + shift (EmulatorConfig.anchor).
        self.shift_s = shift_seconds
        self.cp_tickers_cap = cp_tickers_cap
        self.cp_omit_circulating = cp_omit_circulating_supply
        self._bodies = _BodyCache(cache_max_bytes)
        self._lock = threading.Lock()
        self._orders: dict[tuple[int, str], list[Asset]] = {}
        self._coins_list: dict[bool, bytes] = {}
        # Reference bodies never change with the tick (identities are fixed).
        self._reference: dict[str, bytes] = {}
        self._platforms: dict[str, list[tuple[Asset, str, str]]] | None = None
        self._sites: dict[int, str] | None = None
        self.market = Market(universe, self.step_ms)
        self.history = History(self.market, shift_seconds * 1000)

    # --- ticks ------------------------------------------------------------------------

    def factors(self, tick: int) -> list[tuple[int, int]]:
        """Per-asset CoinGecko (price, volume) factors ``k`` at ``tick`` (``(UNIT + k) /
        UNIT`` of tick 0), indexed by ``Asset.index``."""
        return self.market.cg_factors(tick)

    def _offset(self, asset: Asset, tick: int) -> int:
        """How far CoinGecko's ``last_updated`` is from its recorded value, ms."""
        return (0 if asset.stale else tick * self.step_ms) + self.shift_s * 1000

    # --- CoinGecko ----------------------------------------------------------------------

    def cg_order(self, tick: int, order: str) -> list[Asset]:
        key = (tick, order)
        with self._lock:
            cached = self._orders.get(key)
        if cached is not None:
            return cached
        assets = self.universe.coingecko
        if order in ("market_cap_desc", "market_cap_asc"):
            factors = self.factors(tick)

            def cap_key(asset: Asset) -> tuple[int, int, int]:
                cap = asset.market_cap
                if cap is None:
                    return (2, 0, asset.index)
                if cap == 0:
                    return (1, 0, asset.index)
                k = factors[asset.index][0]
                now = scale((cap, 0), UNIT + k, UNIT)[0] if k else cap
                return (0, -now, asset.index)

            result = sorted(assets, key=cap_key)
        elif order in ("volume_desc", "volume_asc"):
            factors = self.factors(tick)

            def volume_key(asset: Asset) -> tuple[int, int]:
                kv = factors[asset.index][1]
                volume = scale((asset.volume, 0), UNIT + kv, UNIT)[0] if kv else asset.volume
                return (-volume, asset.index)

            result = sorted(assets, key=volume_key)
        else:
            result = sorted(assets, key=lambda a: (a.cg_id or "", a.index))
        if (order.endswith("_asc") and not order.startswith("id")) or order == "id_desc":
            result.reverse()
        with self._lock:
            if len(self._orders) > 16:
                self._orders = {k: v for k, v in self._orders.items() if k[0] == tick}
            self._orders[key] = result
        return result

    def cg_selection(self, tick: int, query: MarketsQuery) -> tuple[list[Asset], int]:
        """The assets on the requested page and how many match in total."""
        ordered = self.cg_order(tick, query.order)
        if query.ids is not None:
            wanted = set(query.ids)
            ordered = [a for a in ordered if a.cg_id in wanted]
        start = (query.page - 1) * query.per_page
        return ordered[start : start + query.per_page], len(ordered)

    def cg_record(self, asset: Asset, tick: int, pcp: tuple[str, ...] = ()) -> Record:
        k, kv = self.factors(tick)[asset.index]
        return cg_record(cg_base(asset, self.seed), k, kv, self._offset(asset, tick), pcp)

    def cg_text(self, asset: Asset, tick: int, pcp: tuple[str, ...] = ()) -> str:
        k, kv = self.factors(tick)[asset.index]
        return cg_text(cg_base(asset, self.seed), k, kv, self._offset(asset, tick), pcp)

    def cg_markets_records(self, tick: int, query: MarketsQuery) -> list[Record]:
        page, _ = self.cg_selection(tick, query)
        return [self.cg_record(asset, tick, query.pcp) for asset in page]

    def cg_markets_body(self, tick: int, query: MarketsQuery) -> tuple[bytes, int]:
        page, total = self.cg_selection(tick, query)
        body = self._bodies.get(
            tick,
            ("cg_markets", query),
            lambda: _array(self.cg_text(a, tick, query.pcp) for a in page),
        )
        return body, total

    def cg_coins_list_records(self, include_platform: bool = False) -> list[Record]:
        records: list[Record] = []
        for a in sorted(self.universe.coingecko, key=_coins_list_key):
            record: Record = {
                "id": json_string(a.cg_id or ""),
                "symbol": json_string(a.symbol),
                "name": json_string(a.name),
            }
            if include_platform:
                platforms = a.identity.cg_platforms if a.identity else ()
                record["platforms"] = {
                    platform: json_string(address) for platform, address in platforms
                }
            records.append(record)
        return records

    def cg_coins_list_body(self, include_platform: bool = False) -> bytes:
        # Tick-independent: the identities never change.
        body = self._coins_list.get(include_platform)
        if body is None:
            body = render_records(self.cg_coins_list_records(include_platform))
            self._coins_list[include_platform] = body
        return body

    # --- history ----------------------------------------------------------------------

    def cg_chart_body(
        self, asset: Asset, from_ms: int, to_ms: int, step_ms: int, now_ms: int
    ) -> bytes:
        """``{"prices": [[ms, price]...], "market_caps": [...], "total_volumes": [...]}``;
        a range reaching *now* ends with a point at *now* (CoinGecko's last point is the
        current price, not 00:00)."""
        points = self.history.points(asset, "coingecko", from_ms, to_ms, step_ms, now_ms)
        end = self.history.end_ms(asset, now_ms)
        if step_ms >= 3_600_000 and to_ms >= end >= from_ms and (not points or points[-1][0] < end):
            points.append(self._now_point(asset, end, now_ms))
        return orjson.dumps(
            {
                "prices": [[t, p] for t, p, _, _ in points],
                "market_caps": [[t, c] for t, _, c, _ in points],
                "total_volumes": [[t, v] for t, _, _, v in points],
            }
        )

    def _now_point(self, asset: Asset, end_ms: int, now_ms: int) -> tuple[int, float, float, float]:
        """The chart's last point is the coin's current market data (what /coins/markets
        says at this tick), for a live coin; a dead one ends where it stopped."""
        t, price, cap, volume = self.history.point_at(asset, "coingecko", end_ms)
        if asset.stale or end_ms != now_ms:
            return t, price, cap, volume
        base = cg_base(asset, self.seed)
        tick = (now_ms - self.shift_s * 1000 - BASE_TIME_MS) // self.step_ms
        k, _ = self.factors(tick)[asset.index]
        scale_by = 1.0 + k / UNIT
        return (
            t,
            as_float(base.price) * scale_by,
            as_float(base.market_cap) * scale_by,
            volume,
        )

    def cp_history_body(
        self, asset: Asset, start_ms: int, end_ms: int, step_ms: int, limit: int, now_ms: int
    ) -> bytes:
        points = self.history.points(asset, "coinpaprika", start_ms, end_ms, step_ms, now_ms)
        points = points[:limit]
        return orjson.dumps(
            [
                {
                    "timestamp": iso_seconds(t // 1000),
                    "price": p,
                    "volume_24h": int(v),
                    "market_cap": int(c),
                }
                for t, p, c, v in points
            ]
        )

    # --- CoinPaprika reference data -------------------------------------------------------

    def cp_coins_records(self) -> list[Record]:
        """``/v1/coins``: every coin, by rank (what the free plan caps is tickers, not this)."""
        return [
            {
                "id": json_string(a.cp_id or ""),
                "name": json_string(a.cp_name),
                "symbol": json_string(a.cp_symbol),
                "rank": str(a.cp_rank),
                "is_new": "false",
                "is_active": "false" if a.stale else "true",
                "type": json_string(a.kind),
            }
            for a in self.universe.coinpaprika
        ]

    def cp_coins_body(self) -> bytes:
        body = self._reference.get("coins")
        if body is None:
            body = self._reference.setdefault("coins", render_records(self.cp_coins_records()))
        return body

    def cp_contracts_by_platform(self) -> dict[str, list[tuple[Asset, str, str]]]:
        with self._lock:
            if self._platforms is None:
                platforms: dict[str, list[tuple[Asset, str, str]]] = {}
                for asset in self.universe.coinpaprika:
                    for platform, address, kind in (
                        asset.identity.cp_contracts if asset.identity else ()
                    ):
                        platforms.setdefault(platform, []).append((asset, address, kind))
                self._platforms = platforms
            return self._platforms

    def cp_platforms_body(self) -> bytes:
        return orjson.dumps(sorted(self.cp_contracts_by_platform()))

    def cp_contracts_records(self, platform: str) -> list[Record] | None:
        listed = self.cp_contracts_by_platform().get(platform)
        if listed is None:
            return None
        return [
            {
                "address": json_string(address),
                "id": json_string(asset.cp_id or ""),
                "type": json_string(kind),
                "active": "false" if asset.stale else "true",
            }
            for asset, address, kind in listed
        ]

    def cp_contracts_body(self, platform: str) -> bytes | None:
        key = f"contracts:{platform}"
        body = self._reference.get(key)
        if body is None:
            records = self.cp_contracts_records(platform)
            if records is None:
                return None
            body = self._reference.setdefault(key, render_records(records))
        return body

    def pages(self, asset: Asset) -> detail.Pages:
        """Both APIs' coin-page links of ``asset`` (emulator/detail.py)."""
        with self._lock:
            if self._sites is None:
                self._sites = detail.assign_sites(self.universe)
            site = self._sites[asset.index]
        return detail.pages(self.universe, asset, site)

    def cg_coin_record(self, asset: Asset) -> Record:
        """``/coins/{id}``: identity, platforms and links (no market data)."""
        updated = iso_seconds(BASE_TIME_MS // 1000 - 105 + self.shift_s)
        return detail.cg_coin_record(asset, self.pages(asset), rank=asset.rank, updated=updated)

    def cp_coin_record(self, asset: Asset) -> Record:
        """``/v1/coins/{id}`` (``coin_extended``): identity and contracts, no market data."""
        contracts = asset.identity.cp_contracts if asset.identity else ()
        first = contracts[0] if contracts else None
        links, extended = detail.cp_links(self.pages(asset))
        return {
            "id": json_string(asset.cp_id or ""),
            "name": json_string(asset.cp_name),
            "symbol": json_string(asset.cp_symbol),
            "parent": NULL,
            "rank": str(asset.cp_rank),
            "is_new": "false",
            "is_active": "false" if asset.stale else "true",
            "type": json_string(asset.kind),
            "contract": json_string(first[1]) if first else NULL,
            "platform": json_string(first[0]) if first else NULL,
            "contracts": "["
            + ",".join(
                render_record(
                    {
                        "contract": json_string(address),
                        "platform": json_string(platform),
                        "type": json_string(kind),
                    }
                )
                for platform, address, kind in contracts
            )
            + "]",
            "logo": json_string(f"https://static.coinpaprika.com/coin/{asset.cp_id}/logo.png"),
            "tags": "[]",
            "team": "[]",
            "description": json_string(""),
            "message": json_string(""),
            "open_source": "true" if asset.kind == "coin" else "false",
            "hardware_wallet": "false",
            "started_at": NULL,
            "development_status": NULL,
            "proof_type": NULL,
            "org_structure": NULL,
            "hash_algorithm": NULL,
            "links": links,
            "links_extended": extended,
            "whitepaper": {"link": NULL, "thumbnail": NULL},
            "first_data_at": json_string("2018-01-01T00:00:00Z"),
            "last_data_at": json_string(iso_seconds(BASE_TIME_MS // 1000 - 105 + self.shift_s)),
        }

    # --- CoinPaprika --------------------------------------------------------------------

    def cp_listed(self) -> list[Asset]:
        listed = self.universe.coinpaprika
        cap = self.cp_tickers_cap
        return listed if cap is None else listed[:cap]

    def cp_record(self, asset: Asset, tick: int, quotes: tuple[str, ...] = ("USD",)) -> Record:
        view = self.market.cp_factors(tick)[asset.index]
        base = cp_base(asset, self.seed)
        offset_s = view.offset_s + self.shift_s
        return cp_record(base, view, offset_s, quotes, self.cp_omit_circulating)

    def cp_text(self, asset: Asset, tick: int, quotes: tuple[str, ...] = ("USD",)) -> str:
        view = self.market.cp_factors(tick)[asset.index]
        base = cp_base(asset, self.seed)
        offset_s = view.offset_s + self.shift_s
        return cp_text(base, view, offset_s, quotes, self.cp_omit_circulating)

    def cp_tickers_records(self, tick: int, quotes: tuple[str, ...]) -> list[Record]:
        return [self.cp_record(a, tick, quotes) for a in self.cp_listed()]

    def cp_tickers_body(self, tick: int, quotes: tuple[str, ...]) -> bytes:
        return self._bodies.get(
            tick,
            ("cp_tickers", quotes),
            lambda: _array(self.cp_text(a, tick, quotes) for a in self.cp_listed()),
        )

    def cp_ticker_body(self, tick: int, asset: Asset, quotes: tuple[str, ...]) -> bytes:
        return self._bodies.get(
            tick,
            ("cp_ticker", asset.index, quotes),
            lambda: self.cp_text(asset, tick, quotes).encode(),
        )

    def cp_global_body(self, tick: int) -> bytes:
        return self._bodies.get(tick, ("cp_global",), lambda: self._cp_global(tick))

    def _cp_global(self, tick: int) -> bytes:
        recorded: dict[str, Any] = seed_numbers(CP_GLOBAL)
        views = self.market.cp_factors(tick)
        cap_total, volume_total = 0, 0
        btc_cap: Num = (0, 0)
        for asset in self.universe.coinpaprika:
            _, volume, cap = cp_numbers(cp_base(asset, self.seed), views[asset.index])
            cap_total += as_int(cap)[0]
            volume_total += as_int(volume)[0]
            if asset.cp_id == "btc-bitcoin":
                btc_cap = cap
        h = hash_ints(self.seed, SALT_TICK, -1, tick)
        volume_ath: Num = recorded["volume_24h_ath_value"]
        to_ath = percent_change(volume_ath, (volume_total, 0), 2) if volume_total else None
        record: Record = {
            "market_cap_usd": str(cap_total),
            "volume_24h_usd": str(volume_total),
            "bitcoin_dominance_percentage": format_coinpaprika(_share(btc_cap, cap_total)),
            "cryptocurrencies_number": str(len(self.universe.coinpaprika)),
            "market_cap_ath_value": format_coinpaprika(recorded["market_cap_ath_value"]),
            "market_cap_ath_date": json_string(recorded["market_cap_ath_date"]),
            "volume_24h_ath_value": format_coinpaprika(volume_ath),
            "volume_24h_ath_date": json_string(recorded["volume_24h_ath_date"]),
            "volume_24h_percent_from_ath": format_coinpaprika(
                percent_change((volume_total, 0), volume_ath, 2) or (0, 0)
            ),
            # CoinPaprika caps this at 9999.99 (the recorded value).
            "volume_24h_percent_to_ath": format_coinpaprika(
                _TO_ATH_CAP if to_ath is None or compare(to_ath, _TO_ATH_CAP) > 0 else to_ath
            ),
            "market_cap_change_24h": format_coinpaprika(
                quantize((recorded["market_cap_change_24h"][0] + h % 201 - 100, -2), -2)
            ),
            "volume_24h_change_24h": format_coinpaprika(
                quantize((recorded["volume_24h_change_24h"][0] + (h >> 16) % 201 - 100, -2), -2)
            ),
            "last_updated": str(
                BASE_TIME_MS // 1000 - 60 + tick * self.step_ms // 1000 + self.shift_s
            ),
        }
        return render_record(record).encode()


_TO_ATH_CAP: Num = (999_999, -2)


def _share(part: Num, total: int) -> Num:
    """``part / total * 100`` rounded to two decimals (0 when there is no total)."""
    if total == 0:
        return (0, 0)
    mantissa, exponent = part
    numerator = mantissa * 10_000 * (10**exponent if exponent > 0 else 1)
    denominator = total * (10**-exponent if exponent < 0 else 1)
    quotient, remainder = divmod(numerator, denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return (quotient, -2)


def _array(texts: Iterable[str]) -> bytes:
    return ("[" + ",".join(texts) + "]").encode()


def _coins_list_key(asset: Asset) -> tuple[str, str]:
    # The recorded list is sorted by id ignoring punctuation ("01coin" before "0-5x-...").
    cg_id = asset.cg_id or ""
    return ("".join(ch for ch in cg_id.lower() if ch.isalnum()), cg_id)
