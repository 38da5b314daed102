"""The ASGI application: CoinGecko under ``/api/v3``, CoinPaprika under ``/v1``, control
routes under ``/_emulator``.

Written against raw ASGI rather than a framework because fault injection needs to do
things frameworks prevent (answer half a body and drop the connection, stall until the
client gives up) and because the hot path is a dict lookup plus one ``send`` of cached bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

from kasparro.emulator import history, render
from kasparro.emulator.config import EmulatorConfig
from kasparro.emulator.faults import (
    ERROR_KINDS,
    Api,
    FaultKind,
    FaultRule,
    mutate,
)
from kasparro.emulator.market import PCP_INTERVALS
from kasparro.emulator.render import Headers, Record
from kasparro.emulator.state import Emulator
from kasparro.emulator.venues import VENUES
from kasparro.emulator.views import CG_ORDERS, MarketsQuery

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Params = dict[str, str]

CG_PREFIX = "/api/v3"
CP_PREFIX = "/v1"
UNMATCHED = "<unmatched>"


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# /simple/supported_vs_currencies (abridged to the stable fiat and crypto codes).
CG_VS_CURRENCIES = _codes(
    "btc eth ltc bch bnb eos xrp xlm link dot yfi usd aed ars aud bdt bhd bmd brl cad chf "
    "clp cny czk dkk eur gbp hkd huf idr ils inr jpy krw kwd lkr mmk mxn myr ngn nok nzd "
    "php pkr pln rub sar sek sgd thb try twd uah vef vnd zar xdr xag xau bits sats"
)
# CoinPaprika's documented `quotes` values.
CP_QUOTES = _codes(
    "BTC ETH USD EUR PLN KRW GBP CAD JPY RUB TRY NZD AUD CHF UAH HKD SGD NGN PHP MXN BRL "
    "THB CLP CNY CZK DKK HUF IDR ILS INR MYR NOK PKR SEK TWD ZAR VND BOB COP PEN ARS ISK"
)
_CP_TICKER = re.compile(r"^/tickers/([^/]+)$")
_CP_HISTORICAL = re.compile(r"^/tickers/([^/]+)/historical$")
_CG_CHART = re.compile(r"^/coins/([^/]+)/market_chart(/range)?$")
_CP_COIN = re.compile(r"^/coins/([^/]+)$")
_CG_COIN = _CP_COIN  # CoinGecko's /coins/{id} (/coins/list and /coins/markets match first)
_CP_CONTRACTS = re.compile(r"^/contracts/([^/]+)$")


@dataclass(slots=True)
class Reply:
    status: int
    headers: Headers
    body: bytes
    # Rebuilds the response records when a data mutation must change them.
    records: Callable[[], list[Record]] | None = None
    single: bool = False  # the body is one object, not an array
    extra_headers: Headers = field(default_factory=list)


@dataclass(slots=True)
class AppState:
    emulator: Emulator


def _json(status: int, headers: Headers, body: bytes) -> Reply:
    return Reply(status, headers, body)


class EmulatorApp:
    """ASGI callable; ``app.state.emulator`` is the in-process control object."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.state = AppState(emulator)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return
        path: str = scope["path"]
        if path.startswith("/_emulator"):
            await self._control(scope, receive, send)
        elif path == CG_PREFIX or path.startswith(CG_PREFIX + "/"):
            await self._api("coingecko", path[len(CG_PREFIX) :], scope, receive, send)
        elif path == CP_PREFIX or path.startswith(CP_PREFIX + "/"):
            await self._api("coinpaprika", path[len(CP_PREFIX) :], scope, receive, send)
        elif (venue := path.split("/", 2)[1]) in VENUES:
            await self._venue(venue, path[len(venue) + 1 :], scope, send)
        else:
            await _send(send, Reply(404, render.CP_ERROR_JSON, b'{"error":"not found"}'))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.emulator.stopping.set()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- upstream APIs ----------------------------------------------------------------

    async def _venue(self, venue: str, rel: str, scope: Scope, send: Send) -> None:
        """An exchange's route (emulator/venues: shapes, weights, rate-limit signals)."""
        emulator = self.emulator
        if emulator.config.latency_seconds:
            await asyncio.sleep(emulator.config.latency_seconds)
        if scope["method"] not in ("GET", "HEAD"):
            await _send(send, Reply(405, render.CP_ERROR_JSON, b'{"error":"method not allowed"}'))
            return
        reply = emulator.venues.handle(venue, rel, _params(scope), emulator.current_tick)
        tick = str(emulator.current_tick).encode()
        headers = [*reply.headers, (b"x-emulator-tick", tick)]
        await _send(send, Reply(reply.status, headers, reply.body))

    async def _api(self, api: Api, rel: str, scope: Scope, receive: Receive, send: Send) -> None:
        emulator = self.emulator
        rel = rel.rstrip("/") or "/"
        params = _params(scope)
        route, handler = self._resolve(api, rel, scope["method"])
        emulator.count_request(api, route)
        if emulator.config.latency_seconds:
            await asyncio.sleep(emulator.config.latency_seconds)

        retry_after = emulator.admit(api)
        if retry_after is not None:
            send_retry = api == "coingecko" or emulator.config.cp_retry_after
            reply = _rate_limited(api, retry_after if send_retry else None)
            emulator.count_response(api, route, "429", nbytes=len(reply.body), rate_limited=True)
            await _send(send, reply)
            return

        page = _int_or_none(params.get("page", "1")) if route == "/coins/markets" else None
        rule = emulator.faults.match(api, route, page)
        if rule is not None and rule.kind in ERROR_KINDS:
            reply = _fault_error(api, rule)
            emulator.count_response(
                api, route, str(reply.status), nbytes=len(reply.body), fault=True
            )
            await _send(send, reply)
            return

        reply = handler(emulator.current_tick, rel, params)
        if rule is None:
            emulator.count_response(api, route, str(reply.status), nbytes=len(reply.body))
            await _send(send, reply)
            return
        await self._faulty(api, route, rule, reply, receive, send)

    async def _faulty(
        self, api: Api, route: str, rule: FaultRule, reply: Reply, receive: Receive, send: Send
    ) -> None:
        emulator = self.emulator
        kind = rule.kind
        if rule.is_mutation and reply.records is not None:
            records = mutate(api, rule, reply.records())
            if reply.single:
                body = render.render_record(records[0]).encode() if records else b"{}"
            else:
                body = render.render_records(records)
            reply = Reply(reply.status, reply.headers, body, extra_headers=reply.extra_headers)
        elif kind is FaultKind.TRUNCATED_JSON:
            half = reply.body[: len(reply.body) // 2]
            reply = Reply(reply.status, reply.headers, half, extra_headers=reply.extra_headers)
        elif kind is FaultKind.HTML_200:
            reply = Reply(200, render.HTML, render.HTML_ERROR_200)
        elif kind is FaultKind.EMPTY_BODY:
            reply = Reply(200, reply.headers, b"", extra_headers=reply.extra_headers)
        elif kind is FaultKind.TIMEOUT:
            if not await _stall(receive, rule.seconds, emulator):
                emulator.count_response(api, route, "abandoned", fault=True)
                return
        elif kind is FaultKind.RESET:
            half = reply.body[: len(reply.body) // 2]
            await send(
                {
                    "type": "http.response.start",
                    "status": reply.status,
                    "headers": [
                        *reply.headers,
                        *reply.extra_headers,
                        (b"content-length", str(len(reply.body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": half, "more_body": True})
            emulator.count_response(api, route, "reset", nbytes=len(half), fault=True)
            # Returning without finishing the body makes the server close the connection.
            return
        emulator.count_response(api, route, str(reply.status), nbytes=len(reply.body), fault=True)
        await _send(send, reply)

    def _resolve(
        self, api: Api, rel: str, method: str
    ) -> tuple[str, Callable[[int, str, Params], Reply]]:
        if method not in ("GET", "HEAD"):
            return UNMATCHED, self._not_found(api)
        if api == "coingecko":
            cg_routes = {
                "/ping": self._cg_ping,
                "/coins/markets": self._cg_markets,
                "/coins/list": self._cg_coins_list,
            }
            handler = cg_routes.get(rel)
            if handler is not None:
                return rel, handler
            chart = _CG_CHART.match(rel)
            if chart:
                route = "/coins/{id}/market_chart" + ("/range" if chart.group(2) else "")
                return route, self._cg_chart
            if _CG_COIN.match(rel):
                return "/coins/{id}", self._cg_coin
            return UNMATCHED, self._not_found(api)
        cp_routes = {
            "/tickers": self._cp_tickers,
            "/global": self._cp_global,
            "/coins": self._cp_coins,
            "/contracts": self._cp_platforms,
        }
        handler = cp_routes.get(rel)
        if handler is not None:
            return rel, handler
        if _CP_TICKER.match(rel):
            return "/tickers/{id}", self._cp_ticker
        if _CP_HISTORICAL.match(rel):
            return "/tickers/{id}/historical", self._cp_historical
        if _CP_COIN.match(rel):
            return "/coins/{id}", self._cp_coin
        if _CP_CONTRACTS.match(rel):
            return "/contracts/{platform}", self._cp_contracts
        return UNMATCHED, self._not_found(api)

    def _not_found(self, api: Api) -> Callable[[int, str, Params], Reply]:
        def handler(tick: int, rel: str, params: Params) -> Reply:
            if api == "coingecko":
                return _json(404, render.CG_ERROR_JSON, render.CG_NOT_FOUND)
            return _json(404, render.CP_ERROR_JSON, render.CP_NOT_FOUND)

        return handler

    # --- CoinGecko handlers -----------------------------------------------------------

    def _cg_ok(self, tick: int, body: bytes, **records: Any) -> Reply:
        return Reply(
            200,
            render.CG_JSON,
            body,
            extra_headers=[(b"x-emulator-tick", str(tick).encode())],
            **records,
        )

    def _cg_ping(self, tick: int, rel: str, params: Params) -> Reply:
        return self._cg_ok(tick, render.CG_PING)

    def _cg_coins_list(self, tick: int, rel: str, params: Params) -> Reply:
        views = self.emulator.views
        if params.get("status", "active") == "inactive":
            return self._cg_ok(tick, b"[]")  # the universe has no delisted coins
        platforms = params.get("include_platform", "false").lower() == "true"
        return self._cg_ok(
            tick,
            views.cg_coins_list_body(platforms),
            records=lambda: views.cg_coins_list_records(platforms),
        )

    def _cg_markets(self, tick: int, rel: str, params: Params) -> Reply:
        query_or_error = self._markets_query(params)
        if isinstance(query_or_error, Reply):
            return query_or_error
        query = query_or_error
        views = self.emulator.views
        body, total = views.cg_markets_body(tick, query)
        reply = self._cg_ok(tick, body, records=lambda: views.cg_markets_records(tick, query))
        reply.extra_headers += [
            (b"per-page", str(query.per_page).encode()),
            (b"total", str(total).encode()),
        ]
        return reply

    def _cg_chart(self, tick: int, rel: str, params: Params) -> Reply:
        """``/coins/{id}/market_chart/range?vs_currency&from&to`` and
        ``/coins/{id}/market_chart?vs_currency&days[&interval=daily|hourly]``."""
        match = _CG_CHART.match(rel)
        asset = self.emulator.universe.by_cg_id.get(match.group(1)) if match else None
        if not params.get("vs_currency"):
            return _json(422, render.CG_ERROR_JSON, render.CG_MISSING_VS_CURRENCY)
        if asset is None:
            return _json(404, render.CG_ERROR_JSON, render.CG_COIN_NOT_FOUND)
        now_ms = self.emulator.now_ms(tick)
        if match and match.group(2):
            start, end = _int_or_none(params.get("from", "")), _int_or_none(params.get("to", ""))
            if start is None or end is None:
                return _json(422, render.CG_ERROR_JSON, render.cg_error("invalid from/to"))
            from_ms, to_ms = start * 1000, end * 1000
            step = history.coingecko_step(from_ms, to_ms, now_ms)
        else:
            days = params.get("days", "")
            count = 100_000 if days == "max" else _int_or_none(days)
            if count is None or count < 1:
                return _json(422, render.CG_ERROR_JSON, render.cg_error("invalid days"))
            from_ms, to_ms = now_ms - count * history.DAY_MS, now_ms
            step = history.coingecko_step(from_ms, to_ms, now_ms)
            if params.get("interval") == "daily":
                step = history.DAY_MS
            elif params.get("interval") == "hourly":
                step = history.HOUR_MS
        try:
            history.coingecko_plan_check(from_ms, now_ms, self.emulator.config.cg_plan)
        except history.PlanError as exc:
            return _json(401, render.CG_ERROR_JSON, render.cg_plan_error(str(exc), now_ms))
        body = self.emulator.views.cg_chart_body(asset, from_ms, to_ms, step, now_ms)
        return self._cg_ok(tick, body)

    def _cg_coin(self, tick: int, rel: str, params: Params) -> Reply:
        """``/coins/{id}``: the coin's page (identity, platforms, links; never market data,
        tickers, community or developer data, whatever the flags ask)."""
        match = _CG_COIN.match(rel)
        asset = self.emulator.universe.by_cg_id.get(match.group(1)) if match else None
        if asset is None:
            return _json(404, render.CG_ERROR_JSON, render.CG_COIN_NOT_FOUND)
        record = self.emulator.views.cg_coin_record(asset)
        return self._cg_ok(
            tick, render.render_record(record).encode(), records=lambda: [record], single=True
        )

    def _markets_query(self, params: Params) -> MarketsQuery | Reply:
        def invalid(message: str) -> Reply:
            return _json(422, render.CG_ERROR_JSON, render.cg_error(message))

        vs_currency = params.get("vs_currency")
        if not vs_currency:
            return _json(422, render.CG_ERROR_JSON, render.CG_MISSING_VS_CURRENCY)
        # Non-USD currencies are accepted but carry the USD numbers (documented limitation).
        if vs_currency.lower() not in CG_VS_CURRENCIES:
            return invalid("invalid vs_currency")
        per_page = _int_or_none(params.get("per_page", "100"))
        if per_page is None or not 1 <= per_page <= 250:
            return invalid("invalid per_page (valid values: 1...250)")
        page = _int_or_none(params.get("page", "1"))
        if page is None or page < 1:
            return invalid("invalid page")
        order = params.get("order") or "market_cap_desc"
        if order not in CG_ORDERS:
            return invalid("invalid order")
        ids: tuple[str, ...] | None = None
        if "ids" in params:
            raw = params["ids"].split(",")
            if self.emulator.config.cg_trim_ids:
                raw = [part.strip() for part in raw]
            ids = tuple(sorted({part for part in raw if part}))
        pcp: tuple[str, ...] = ()
        if params.get("price_change_percentage"):
            asked = {p.strip() for p in params["price_change_percentage"].split(",")}
            # The recorded page lists them in string order: 14d, 1h, 1y, 200d, 24h, 30d, 7d.
            pcp = tuple(sorted(asked & set(PCP_INTERVALS)))
        return MarketsQuery(order=order, per_page=per_page, page=page, ids=ids, pcp=pcp)

    # --- CoinPaprika handlers ---------------------------------------------------------

    def _cp_ok(self, tick: int, body: bytes, **records: Any) -> Reply:
        modified = render.http_date(self.emulator.now_ms(tick) // 1000)
        return Reply(
            200,
            render.CP_JSON,
            body,
            extra_headers=[
                (b"last-modified", modified.encode()),
                (b"x-emulator-tick", str(tick).encode()),
            ],
            **records,
        )

    def _quotes(self, params: Params) -> tuple[str, ...] | Reply:
        raw = params.get("quotes") or "USD"
        quotes = tuple(dict.fromkeys(q.strip().upper() for q in raw.split(",") if q.strip()))
        if len(quotes) > 3:
            return _json(400, render.CP_ERROR_JSON, render.CP_TOO_MANY_QUOTES)
        if not quotes or any(q not in CP_QUOTES for q in quotes):
            return _json(400, render.CP_ERROR_JSON, render.CP_INVALID_PARAMS)
        return quotes

    def _cp_tickers(self, tick: int, rel: str, params: Params) -> Reply:
        quotes = self._quotes(params)
        if isinstance(quotes, Reply):
            return quotes
        views = self.emulator.views
        return self._cp_ok(
            tick,
            views.cp_tickers_body(tick, quotes),
            records=lambda: views.cp_tickers_records(tick, quotes),
        )

    def _cp_ticker(self, tick: int, rel: str, params: Params) -> Reply:
        match = _CP_TICKER.match(rel)
        asset = self.emulator.universe.by_cp_id.get(match.group(1)) if match else None
        if asset is None:
            return _json(404, render.CP_ERROR_JSON, render.CP_NOT_FOUND_ID)
        quotes = self._quotes(params)
        if isinstance(quotes, Reply):
            return quotes
        views = self.emulator.views
        return self._cp_ok(
            tick,
            views.cp_ticker_body(tick, asset, quotes),
            records=lambda: [views.cp_record(asset, tick, quotes)],
            single=True,
        )

    def _cp_coins(self, tick: int, rel: str, params: Params) -> Reply:
        views = self.emulator.views
        return self._cp_ok(tick, views.cp_coins_body(), records=views.cp_coins_records)

    def _cp_coin(self, tick: int, rel: str, params: Params) -> Reply:
        match = _CP_COIN.match(rel)
        asset = self.emulator.universe.by_cp_id.get(match.group(1)) if match else None
        if asset is None:
            return _json(404, render.CP_ERROR_JSON, render.CP_NOT_FOUND_ID)
        record = self.emulator.views.cp_coin_record(asset)
        return self._cp_ok(
            tick, render.render_record(record).encode(), records=lambda: [record], single=True
        )

    def _cp_platforms(self, tick: int, rel: str, params: Params) -> Reply:
        return self._cp_ok(tick, self.emulator.views.cp_platforms_body())

    def _cp_contracts(self, tick: int, rel: str, params: Params) -> Reply:
        match = _CP_CONTRACTS.match(rel)
        platform = match.group(1) if match else ""
        views = self.emulator.views
        body = views.cp_contracts_body(platform)
        if body is None:
            return _json(404, render.CP_ERROR_JSON, render.CP_NOT_FOUND_ID)
        return self._cp_ok(tick, body, records=lambda: views.cp_contracts_records(platform) or [])

    def _cp_historical(self, tick: int, rel: str, params: Params) -> Reply:
        match = _CP_HISTORICAL.match(rel)
        asset = self.emulator.universe.by_cp_id.get(match.group(1)) if match else None
        if asset is None:
            return _json(404, render.CP_ERROR_JSON, render.CP_NOT_FOUND_ID)
        now_ms = self.emulator.now_ms(tick)
        start = _cp_time(params.get("start"))
        end = _cp_time(params.get("end")) if params.get("end") else now_ms
        interval = history.CP_INTERVALS.get(params.get("interval") or "5m")
        limit = _int_or_none(params.get("limit") or "1000")
        quote = (params.get("quote") or "usd").lower()
        if start is None or end is None or interval is None or quote not in ("usd", "btc"):
            return _json(400, render.CP_ERROR_JSON, render.CP_INVALID_PARAMS)
        if limit is None or not 1 <= limit <= 5000:
            return _json(400, render.CP_ERROR_JSON, render.CP_INVALID_PARAMS)
        try:
            history.coinpaprika_plan_check(interval, start, now_ms, self.emulator.config.cp_plan)
        except history.PlanError as exc:
            return _json(402, render.CP_ERROR_JSON, orjson.dumps({"error": str(exc)}))
        body = self.emulator.views.cp_history_body(asset, start, end, interval, limit, now_ms)
        return self._cp_ok(tick, body)

    def _cp_global(self, tick: int, rel: str, params: Params) -> Reply:
        return self._cp_ok(tick, self.emulator.views.cp_global_body(tick))

    # --- control routes ---------------------------------------------------------------

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        emulator = self.emulator
        method: str = scope["method"]
        action = scope["path"][len("/_emulator") :].strip("/")
        params = _params(scope)
        try:
            payload = await _read_json(receive)
            result: Any
            if action == "health" and method == "GET":
                tick = emulator.current_tick
                now = render.iso_millis(emulator.now_ms(tick))
                result = {"status": "ok", "tick": tick, "now": now}
            elif action == "stats" and method == "GET":
                result = emulator.stats()
            elif action == "stats" and method == "DELETE":
                emulator.reset_stats()
                result = emulator.stats()
            elif action == "tick" and method == "GET":
                tick = emulator.current_tick
                result = {"tick": tick, "now": render.iso_millis(emulator.now_ms(tick))}
            elif action == "tick" and method == "POST":
                n = int(params.get("n") or (payload or {}).get("n", 1))
                result = {"tick": emulator.tick(n)}
            elif action == "faults" and method == "GET":
                result = {"faults": emulator.faults.describe()}
            elif action == "faults" and method in ("PUT", "POST"):
                rules = payload if isinstance(payload, list) else (payload or {}).get("faults", [])
                if method == "PUT":
                    emulator.set_faults(rules)
                else:
                    for rule in rules:
                        emulator.add_fault(rule)
                result = {"faults": emulator.faults.describe()}
            elif action == "faults" and method == "DELETE":
                emulator.clear_faults()
                result = {"faults": []}
            elif action == "reset" and method == "POST":
                options = payload if isinstance(payload, dict) else {}
                emulator.reset(
                    stats=bool(options.get("stats", True)),
                    faults=bool(options.get("faults", True)),
                    rate_limits=bool(options.get("rate_limits", True)),
                )
                result = emulator.stats()
            elif action == "venue-days" and method == "GET":
                result = {"bad_days": emulator.venues.bad_days.describe()}
            elif action == "venue-days" and method == "PUT":
                days = payload if isinstance(payload, list) else (payload or {}).get("bad_days", [])
                emulator.venues.bad_days.replace(days)
                result = {"bad_days": emulator.venues.bad_days.describe()}
            elif action == "venue-truth" and method == "GET":
                result = emulator.venues.model.truth()
            elif action == "config" and method == "GET":
                result = emulator.config.describe()
            elif action == "quirks" and method == "GET":
                result = emulator.quirks()
            else:
                await _send(send, Reply(404, _CONTROL_JSON, b'{"error":"unknown control route"}'))
                return
        except (ValueError, TypeError, KeyError, orjson.JSONDecodeError) as exc:
            body = orjson.dumps({"error": str(exc)})
            await _send(send, Reply(400, _CONTROL_JSON, body))
            return
        await _send(send, Reply(200, _CONTROL_JSON, orjson.dumps(result)))


_CONTROL_JSON: Headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


def create_app(config: EmulatorConfig | None = None) -> EmulatorApp:
    """A ready ASGI app (the universe is built here, not at startup)."""
    return EmulatorApp(Emulator(config or EmulatorConfig()))


# --- helpers ------------------------------------------------------------------------------


def _params(scope: Scope) -> Params:
    raw: bytes = scope.get("query_string", b"")
    if not raw:
        return {}
    parsed = parse_qs(raw.decode("latin-1"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items()}


def _cp_time(text: str | None) -> int | None:
    """CoinPaprika's ``start``/``end``: RFC 3339, ``yyyy-mm-dd`` or unix seconds (ms out)."""
    if not text:
        return None
    if text.isdigit():
        return int(text) * 1000
    try:
        value = render.parse_iso(text if "T" in text else f"{text}T00:00:00Z")
    except ValueError:
        return None
    return value


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


async def _read_json(receive: Receive) -> Any:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    return orjson.loads(body) if body.strip() else None


async def _send(send: Send, reply: Reply) -> None:
    headers = [
        *reply.headers,
        *reply.extra_headers,
        (b"content-length", str(len(reply.body)).encode()),
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


def _rate_limited(api: Api, retry_after: int | None) -> Reply:
    """The API's own 429; ``retry_after`` None sends no Retry-After header."""
    retry = [] if retry_after is None else [(b"retry-after", str(retry_after).encode())]
    if api == "coingecko":
        return Reply(429, render.CG_429_JSON + retry, render.CG_RATE_LIMITED)
    return Reply(429, render.CP_ERROR_JSON + retry, render.CP_RATE_LIMITED)


def _fault_error(api: Api, rule: FaultRule) -> Reply:
    kind = rule.kind
    if kind is FaultKind.HTTP_429:
        return _rate_limited(api, rule.retry_after)
    if kind is FaultKind.HTTP_429_NO_RETRY_AFTER:
        return _rate_limited(api, None)
    if kind is FaultKind.HTTP_429_HTML:
        return Reply(429, render.HTML, render.HTML_RATE_LIMITED)
    if kind is FaultKind.HTTP_500:
        if api == "coingecko":
            return Reply(500, render.CG_500_JSON, render.CG_INTERNAL_ERROR)
        return Reply(500, render.CP_ERROR_JSON, render.CP_INTERNAL_ERROR)
    if kind is FaultKind.HTTP_502:
        return Reply(502, render.HTML, render.HTML_BAD_GATEWAY)
    return Reply(503, render.HTML, render.HTML_SERVICE_UNAVAILABLE)


async def _stall(receive: Receive, seconds: float, emulator: Emulator) -> bool:
    """Wait ``seconds``; False as soon as the client disconnects or the server stops."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    pending: asyncio.Future[Message] = asyncio.ensure_future(receive())
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return True
            done, _ = await asyncio.wait({pending}, timeout=min(remaining, 0.05))
            if done:
                if pending.result()["type"] == "http.disconnect":
                    return False
                pending = asyncio.ensure_future(receive())
            if emulator.stopping.is_set():
                return False
    finally:
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pending
