"""Fault injection: which requests misbehave, and how.

A ``FaultRule`` selects requests by API, route template (``/coins/markets``,
``/tickers/{id}``...), optionally the CoinGecko ``page``, and by occurrence (skip the
first ``skip`` matches, then act on the next ``first`` matches, or on every one when
``first`` is None). Rules are tried in order; every rule whose selector matches a request
counts it, and the first rule that is active for its count wins.

Data mutations only select data routes (CoinGecko ``/coins/markets``, ``/coins/list``;
CoinPaprika ``/tickers``, ``/tickers/{id}``) and change exactly the first ``rows`` records
of the response (``duplicate_rows`` appends copies of them), so tests can count.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any, Literal

from kasparro.emulator.render import Record

Api = Literal["coingecko", "coinpaprika"]
APIS: tuple[Api, ...] = ("coingecko", "coinpaprika")


class FaultKind(StrEnum):
    # Whole-response errors.
    HTTP_429 = "429"  # API rate-limit body + Retry-After: <retry_after>
    HTTP_429_NO_RETRY_AFTER = "429_no_retry_after"
    HTTP_429_HTML = "429_html"  # Cloudflare 1015 HTML page, no Retry-After
    HTTP_500 = "500"
    HTTP_502 = "502"  # Cloudflare HTML
    HTTP_503 = "503"  # Cloudflare HTML
    # Transport-level misbehaviour.
    TIMEOUT = "timeout"  # answer normally after <seconds> (abandoned if the client leaves)
    RESET = "reset"  # headers + half the body, then the connection is closed
    TRUNCATED_JSON = "truncated_json"  # 200 with the first half of the real body
    HTML_200 = "html_200"  # 200 text/html error page
    EMPTY_BODY = "empty_body"  # 200 application/json, zero bytes
    # Data mutations of the first <rows> records.
    PRICE_AS_STRING = "price_as_string"
    NEGATIVE_PRICE = "negative_price"
    NAN_PRICE = "nan_price"  # literal NaN
    INFINITE_PRICE = "infinite_price"  # literal Infinity
    HUGE_PRICE = "huge_price"  # 1e40
    OVERLONG_PRICE = "overlong_price"  # a 5001-digit integer: more than int() parses
    BIGINT_PRICE = "bigint_price"  # a 31-digit integer: beyond 64 bits
    SURROGATE_ID = "surrogate_id"  # the id ends with a lone UTF-16 surrogate escape, \ud800
    NULL_REQUIRED = "null_required"  # id, symbol, last_updated, price nulled in rotation
    DUPLICATE_ROWS = "duplicate_rows"  # the first <rows> records appended again
    MISSING_FIELD = "missing_field"  # price dropped
    RENAMED_FIELD = "renamed_field"  # price -> price_usd_current, last_updated -> updated_at
    EXTRA_FIELD = "extra_field"  # "unexpected_field": {...} added
    LARGE_RESPONSE = "large_response"  # every record padded so the body is >= size_bytes
    # Bad reference data (coin lists with platforms, contract lists).
    DUPLICATE_CONTRACT = "duplicate_contract"  # the address of the next record's contract
    EMPTY_ADDRESS = "empty_address"  # every address of the record becomes ""
    UNKNOWN_CHAIN = "unknown_chain"  # CoinGecko platforms renamed to a chain nobody maps


ERROR_KINDS = frozenset(
    {
        FaultKind.HTTP_429,
        FaultKind.HTTP_429_NO_RETRY_AFTER,
        FaultKind.HTTP_429_HTML,
        FaultKind.HTTP_500,
        FaultKind.HTTP_502,
        FaultKind.HTTP_503,
    }
)
TRANSPORT_KINDS = frozenset(
    {
        FaultKind.TIMEOUT,
        FaultKind.RESET,
        FaultKind.TRUNCATED_JSON,
        FaultKind.HTML_200,
        FaultKind.EMPTY_BODY,
    }
)
MUTATION_KINDS = frozenset(FaultKind) - ERROR_KINDS - TRANSPORT_KINDS

DATA_ROUTES: dict[Api, frozenset[str]] = {
    "coingecko": frozenset({"/coins/markets", "/coins/list"}),
    "coinpaprika": frozenset(
        {"/tickers", "/tickers/{id}", "/coins", "/coins/{id}", "/contracts/{platform}"}
    ),
}

RENAMES = {"price": "price_usd_current", "last_updated": "updated_at"}
EXTRA_FIELD_NAME = "unexpected_field"
EXTRA_FIELD_VALUE = '{"added_by":"kasparro-emulator","n":1}'
NULL_ROTATION = ("id", "symbol", "last_updated", "price")
HUGE_PRICE = {"coingecko": "1.0e+40", "coinpaprika": "1e+40"}
# Over sys.get_int_max_str_digits() (4300): valid JSON that Python's int() and msgspec refuse.
OVERLONG_PRICE = "1" + "0" * 5000
BIGINT_PRICE = "1" + "0" * 30


@dataclass(frozen=True, slots=True)
class FaultRule:
    api: Api
    kind: FaultKind
    route: str | None = None  # API-relative route template; None: every route of the API
    page: int | None = None  # CoinGecko /coins/markets only; no ?page= counts as page 1
    first: int | None = None  # act on this many matches (after skip); None: every time
    skip: int = 0  # let this many matches through first
    rows: int = 3  # mutations: how many leading records are changed
    seconds: float = 5.0  # timeout: delay before the (normal) answer
    retry_after: int = 1  # 429: Retry-After value in seconds
    size_bytes: int = 8 * 1024 * 1024  # large_response: minimum body size
    field: str | None = None  # null_required/missing_field/renamed_field/extra_field target

    def __post_init__(self) -> None:
        if self.api not in APIS:
            raise ValueError(f"unknown api {self.api!r}; expected one of {APIS}")
        object.__setattr__(self, "kind", FaultKind(self.kind))
        if self.route is not None and not self.route.startswith("/"):
            raise ValueError(f"route must start with '/': {self.route!r}")
        if (self.first is not None and self.first < 0) or self.skip < 0 or self.rows < 0:
            raise ValueError("first, skip and rows must be >= 0")

    @property
    def is_mutation(self) -> bool:
        return self.kind in MUTATION_KINDS

    def selects(self, api: str, route: str, page: int | None) -> bool:
        if api != self.api or (self.route is not None and route != self.route):
            return False
        if self.is_mutation and route not in DATA_ROUTES[self.api]:
            return False
        return self.page is None or (route == "/coins/markets" and page == self.page)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = str(self.kind)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultRule:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule keys: {sorted(unknown)}")
        return cls(**dict(data))

    @classmethod
    def parse(cls, spec: str) -> FaultRule:
        """``api:kind[:/route][:key=value,key=value]``, parts after the api in any order.

        ``coingecko:500:/coins/markets:page=3,first=2`` fails the first two requests for
        page 3 with HTTP 500. Numeric values are converted; ``first=none`` means always.
        """
        api, *parts = [p.strip() for p in spec.split(":")]
        options: dict[str, Any] = {"api": api}
        for part in parts:
            if not part:
                continue
            if part.startswith("/"):
                options["route"] = part
            elif "=" in part:
                for pair in part.split(","):
                    key, _, value = pair.partition("=")
                    options[key.strip()] = _option_value(key.strip(), value.strip())
            else:
                options["kind"] = part
        if "kind" not in options:
            raise ValueError(f"fault spec without a kind: {spec!r}")
        return cls.from_dict(options)

    @classmethod
    def coerce(cls, value: FaultRule | Mapping[str, Any] | str) -> FaultRule:
        if isinstance(value, FaultRule):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        return cls.from_dict(value)


def _option_value(key: str, value: str) -> Any:
    if value.lower() in ("none", "null", ""):
        return None
    if key in ("page", "first", "skip", "rows", "retry_after", "size_bytes"):
        return int(value)
    if key == "seconds":
        return float(value)
    return value


class FaultSet:
    """The active rules and their match counters (thread-safe: tests edit, the server reads)."""

    def __init__(self, rules: Iterable[FaultRule | Mapping[str, Any] | str] = ()) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._counts: list[int] = []
        self._fired: list[int] = []
        self.replace(rules)

    def replace(self, rules: Iterable[FaultRule | Mapping[str, Any] | str]) -> None:
        parsed = [FaultRule.coerce(r) for r in rules]
        with self._lock:
            self._rules = parsed
            self._counts = [0] * len(parsed)
            self._fired = [0] * len(parsed)

    def add(self, rule: FaultRule | Mapping[str, Any] | str) -> None:
        parsed = FaultRule.coerce(rule)
        with self._lock:
            self._rules.append(parsed)
            self._counts.append(0)
            self._fired.append(0)

    def clear(self) -> None:
        self.replace(())

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {**rule.to_dict(), "matched": count, "fired": fired}
                for rule, count, fired in zip(self._rules, self._counts, self._fired, strict=True)
            ]

    def match(self, api: str, route: str, page: int | None) -> FaultRule | None:
        with self._lock:
            chosen: FaultRule | None = None
            for i, rule in enumerate(self._rules):
                if not rule.selects(api, route, page):
                    continue
                self._counts[i] += 1
                n = self._counts[i]
                active = n > rule.skip and (rule.first is None or n <= rule.skip + rule.first)
                if active:
                    self._fired[i] += 1
                    chosen = rule
                    break
            return chosen


# --- Mutations ----------------------------------------------------------------------------


def _price_path(api: Api, record: Record) -> tuple[Record, str] | None:
    """The dict holding the price and its key (CoinPaprika nests it in the first quote)."""
    if api == "coingecko":
        return (record, "current_price") if "current_price" in record else None
    quotes = record.get("quotes")
    if not isinstance(quotes, dict) or not quotes:
        return None
    first_quote = next(iter(quotes.values()))
    if not isinstance(first_quote, dict):
        return None
    return (first_quote, "price") if "price" in first_quote else None


def _own_copy(api: Api, record: Record) -> Record:
    """A copy deep enough that mutating it leaves cached records untouched."""
    copy = dict(record)
    quotes = copy.get("quotes")
    if api == "coinpaprika" and isinstance(quotes, dict):
        copy["quotes"] = {k: dict(v) if isinstance(v, dict) else v for k, v in quotes.items()}
    return copy


def _target(api: Api, record: Record, name: str) -> tuple[Record, str] | None:
    if name == "price":
        return _price_path(api, record)
    return (record, name) if name in record else None


def _rename_in_place(container: Record, old: str, new: str) -> None:
    items = [(new if k == old else k, v) for k, v in container.items()]
    container.clear()
    container.update(items)


def mutate(api: Api, rule: FaultRule, records: list[Record]) -> list[Record]:
    """A new list with the rule's mutation applied to the first ``rule.rows`` records."""
    kind = rule.kind
    count = min(rule.rows, len(records))
    out = [_own_copy(api, r) if i < count else r for i, r in enumerate(records)]
    if kind is FaultKind.DUPLICATE_ROWS:
        return out + [_own_copy(api, r) for r in records[:count]]
    if kind is FaultKind.LARGE_RESPONSE:
        return _pad(api, records, rule.size_bytes)
    if kind in REFERENCE_KINDS:
        _mutate_reference(kind, out, count)
        return out
    for i in range(count):
        record = out[i]
        if kind is FaultKind.NULL_REQUIRED:
            name = rule.field or NULL_ROTATION[i % len(NULL_ROTATION)]
            target = _target(api, record, name)
            if target is not None:
                target[0][target[1]] = "null"
        elif kind is FaultKind.MISSING_FIELD:
            target = _target(api, record, rule.field or "price")
            if target is not None:
                del target[0][target[1]]
        elif kind is FaultKind.RENAMED_FIELD:
            renames = {rule.field: f"{rule.field}_renamed"} if rule.field else RENAMES
            for old, new in renames.items():
                target = _target(api, record, old)
                if target is not None:
                    _rename_in_place(target[0], target[1], new)
        elif kind is FaultKind.EXTRA_FIELD:
            record[rule.field or EXTRA_FIELD_NAME] = EXTRA_FIELD_VALUE
        elif kind is FaultKind.SURROGATE_ID:
            text = record.get("id")
            if isinstance(text, str) and text.endswith('"'):
                record["id"] = text[:-1] + '\\ud800"'
        else:
            _mutate_price(api, kind, record)
    return out


REFERENCE_KINDS = frozenset(
    {FaultKind.DUPLICATE_CONTRACT, FaultKind.EMPTY_ADDRESS, FaultKind.UNKNOWN_CHAIN}
)
UNKNOWN_PLATFORM = "emulated-unknown-chain"


def _addresses(record: Record) -> tuple[Record, list[str]] | None:
    """Where a reference record keeps its addresses: CoinGecko ``platforms`` (a nested
    record) or a CoinPaprika contract entry's ``address``."""
    platforms = record.get("platforms")
    if isinstance(platforms, dict):
        platforms = dict(platforms)
        record["platforms"] = platforms
        return platforms, [k for k in platforms if k]
    if "address" in record:
        return record, ["address"]
    return None


def _mutate_reference(kind: FaultKind, records: list[Record], count: int) -> None:
    for i in range(count):
        found = _addresses(records[i])
        if found is None or not found[1]:
            continue
        container, keys = found
        if kind is FaultKind.EMPTY_ADDRESS:
            for key in keys:
                container[key] = '""'
        elif kind is FaultKind.UNKNOWN_CHAIN:
            if container is not records[i]:  # CoinGecko: rename the platforms
                for n, key in enumerate(keys):
                    container[f"{UNKNOWN_PLATFORM}-{n}" if n else UNKNOWN_PLATFORM] = container.pop(
                        key
                    )
        else:  # DUPLICATE_CONTRACT: take an unmutated later record's address on a platform
            for later in records[max(i + 1, count) :]:
                other = _addresses(dict(later))
                if other is None:
                    continue
                shared = [k for k in keys if k in other[1]]
                if shared:
                    container[shared[0]] = other[0][shared[0]]
                    break


def _mutate_price(api: Api, kind: FaultKind, record: Record) -> None:
    target = _price_path(api, record)
    if target is None:
        return
    container, key = target
    text = container[key]
    if not isinstance(text, str) or text == "null":
        return
    if kind is FaultKind.PRICE_AS_STRING:
        container[key] = f'"{text}"'
    elif kind is FaultKind.NEGATIVE_PRICE:
        container[key] = text[1:] if text.startswith("-") else f"-{text}"
    elif kind is FaultKind.NAN_PRICE:
        container[key] = "NaN"
    elif kind is FaultKind.INFINITE_PRICE:
        container[key] = "Infinity"
    elif kind is FaultKind.HUGE_PRICE:
        container[key] = HUGE_PRICE[api]
    elif kind is FaultKind.OVERLONG_PRICE:
        container[key] = OVERLONG_PRICE
    elif kind is FaultKind.BIGINT_PRICE:
        container[key] = BIGINT_PRICE


def _pad(api: Api, records: list[Record], size_bytes: int) -> list[Record]:
    if not records:
        return records
    # Rough per-record share of the target; the real size is checked by tests, not here.
    per_record = max(1, size_bytes // len(records) + 1)
    padding = '"' + ("lorem ipsum " * (per_record // 12 + 1))[:per_record] + '"'
    out = []
    for record in records:
        copy = _own_copy(api, record)
        copy["description"] = padding
        out.append(copy)
    return out


__all__ = [
    "APIS",
    "DATA_ROUTES",
    "ERROR_KINDS",
    "MUTATION_KINDS",
    "TRANSPORT_KINDS",
    "Api",
    "FaultKind",
    "FaultRule",
    "FaultSet",
    "mutate",
]
