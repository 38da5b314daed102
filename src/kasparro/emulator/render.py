"""JSON text rendering, timestamps, and the upstreams' fixed bodies and headers.

Records are built as ordered dicts of *JSON fragments* (already-rendered value text, or a
nested dict of fragments). That keeps number spelling exact (see ``numbers.py``), lets fault
injection rename/drop/replace single fields, and joins to bytes cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Union

import orjson

# A record: field -> rendered JSON value text, or a nested record.
Fragment = Union[str, "Record"]
Record = dict[str, Fragment]

NULL = "null"

_KEYS: dict[str, str] = {}


def json_string(value: str) -> str:
    """A JSON string as both upstreams spell it: raw UTF-8, with ``& < >`` escaped.

    CoinGecko (Rails) and CoinPaprika (Go) both HTML-escape those three characters;
    the recorded ``/coins/list`` shows ``\\u0026``.
    """
    text = orjson.dumps(value).decode()
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return text


def _key(key: str) -> str:
    rendered = _KEYS.get(key)
    if rendered is None:
        rendered = _KEYS.setdefault(key, json_string(key))
    return rendered


def render_record(record: Mapping[str, Fragment]) -> str:
    return (
        "{"
        + ",".join(
            f"{_key(k)}:{v if v.__class__ is str else render_record(v)}"  # type: ignore[arg-type]
            for k, v in record.items()
        )
        + "}"
    )


def render_records(records: Iterable[Mapping[str, Fragment]]) -> bytes:
    return ("[" + ",".join(render_record(r) for r in records) + "]").encode()


_DAYS: dict[int, str] = {}


def _clock(epoch_s: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC); strftime costs microseconds, so dates are cached."""
    day, rest = divmod(epoch_s, 86_400)
    date = _DAYS.get(day)
    if date is None:
        date = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")
        if len(_DAYS) < 50_000:
            _DAYS[day] = date
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{date}T{hour:02d}:{minute:02d}:{second:02d}"


def iso_millis(epoch_ms: int) -> str:
    """CoinGecko timestamp: ``2022-02-23T11:23:11.426Z``."""
    seconds, millis = divmod(epoch_ms, 1000)
    return f"{_clock(seconds)}.{millis:03d}Z"


def iso_seconds(epoch_s: int) -> str:
    """CoinPaprika timestamp: ``2022-04-19T15:43:22Z`` (no milliseconds)."""
    return f"{_clock(epoch_s)}Z"


def http_date(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def parse_iso(text: str) -> int:
    """Epoch milliseconds of an upstream timestamp (with or without milliseconds)."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


# --- Fixed bodies (tests compare them with the recorded samples in seed/) ---------------

CG_PING = b'{"gecko_says":"(V3) To the Moon!"}'
CG_MISSING_VS_CURRENCY = b'{"error":"Missing parameter vs_currency"}'
CG_RATE_LIMITED = (
    b'{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit. Please visit '
    b"https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate "
    b'limits."}}'
)
CG_INTERNAL_ERROR = b'{"status":500,"error":"Internal Server Error"}'
# Not recorded: CoinGecko's {"error": ...} shape with the message it is known to use.
CG_NOT_FOUND = (
    b'{"error":"Incorrect path. Please check https://www.coingecko.com/api/documentation"}'
)
# /coins/{id} for an unknown or inactive id (coingecko/errors/404__coins-id__...).
CG_COIN_NOT_FOUND = b'{"error":"Could not find coin with the given id"}'
CP_NOT_FOUND_ID = b'{"error":"id not found"}'
CP_RATE_LIMITED = b'{"error":"you have reached maximum request limit"}'
# Documented in CoinPaprika's OpenAPI spec (400 examples of /tickers).
CP_INVALID_PARAMS = b'{"error":"Invalid parameters"}'
CP_TOO_MANY_QUOTES = b'{"error":"Max number of quotes is 3"}'
# Not recorded: CoinPaprika's documented {"error": ...} shape.
CP_NOT_FOUND = b'{"error":"not found"}'
CP_INTERNAL_ERROR = b'{"error":"internal server error"}'


def cg_error(message: str) -> bytes:
    return b'{"error":' + json_string(message).encode() + b"}"


def cg_plan_error(message: str, now_ms: int) -> bytes:
    """CoinGecko's 401 for history beyond the plan, as users have quoted it since 2024
    (e.g. Electron-Cash/Electron-Cash#2825, SixPM-Software/waxtax#8): error code 10012."""
    stamp = iso_millis(now_ms)[:-1] + "+00:00"
    return (
        b'{"error":{"status":{"timestamp":"' + stamp.encode() + b'","error_code":10012,'
        b'"error_message":' + json_string(message).encode() + b"}}}"
    )


def cloudflare_page(status: int, title: str, detail: str) -> bytes:
    """A Cloudflare-style HTML error page, as served in front of both APIs."""
    return (
        '<!DOCTYPE html>\n<html lang="en-US">\n<head>\n<meta charset="UTF-8" />\n'
        f"<title>{title} | api.coingecko.com | Cloudflare</title>\n</head>\n<body>\n"
        f'<div id="cf-error-details"><h1><span class="cf-error-type">Error</span> '
        f'<span class="cf-error-code">{status}</span></h1>\n'
        f'<h2 class="cf-subheadline">{detail}</h2>\n'
        '<p>Cloudflare Ray ID: <strong class="font-semibold">7c0ffee000000000</strong></p>\n'
        "</div>\n</body>\n</html>\n"
    ).encode()


HTML_BAD_GATEWAY = cloudflare_page(502, "Bad gateway", "Bad gateway")
HTML_SERVICE_UNAVAILABLE = cloudflare_page(
    503, "Service unavailable", "The server is temporarily unable to service your request."
)
HTML_RATE_LIMITED = cloudflare_page(1015, "Access denied", "You are being rate limited")
HTML_ERROR_200 = (
    b"<!DOCTYPE html>\n<html>\n<head><title>Just a moment...</title></head>\n<body>\n"
    b"<h1>Checking your browser before accessing the API.</h1>\n"
    b"<p>This process is automatic. Your browser will redirect to your requested content "
    b"shortly.</p>\n"
    b"</body>\n</html>\n"
)

# --- Headers (lower-case bytes pairs, as ASGI wants them) ----------------------------------

Headers = list[tuple[bytes, bytes]]

CG_JSON: Headers = [
    (b"content-type", b"application/json; charset=utf-8"),
    (b"cache-control", b"max-age=30, public, must-revalidate, s-maxage=30"),
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"POST, PUT, DELETE, GET, OPTIONS"),
    (b"access-control-expose-headers", b"link, per-page, total"),
    (b"vary", b"Accept-Encoding, Origin"),
    (b"server", b"cloudflare"),
]
CG_ERROR_JSON: Headers = [
    (b"content-type", b"application/json; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"vary", b"Accept-Encoding, Origin"),
    (b"server", b"cloudflare"),
]
CG_500_JSON: Headers = [
    (b"content-type", b"application/json; charset=UTF-8"),
    (b"vary", b"Origin, Accept-Encoding"),
    (b"server", b"cloudflare"),
]
CG_429_JSON: Headers = [(b"content-type", b"application/json"), (b"server", b"cloudflare")]
CP_JSON: Headers = [
    (b"content-type", b"application/json; charset=UTF-8"),
    (
        b"cache-control",
        b"public, max-age=60, s-maxage=60, stale-while-revalidate=10, stale-if-error=600",
    ),
    (b"access-control-allow-origin", b"*"),
    (b"vary", b"Accept-Encoding, Origin"),
    (b"server", b"cloudflare"),
]
CP_ERROR_JSON: Headers = [
    (b"content-type", b"application/json; charset=UTF-8"),
    (b"server", b"cloudflare"),
]
HTML: Headers = [(b"content-type", b"text/html; charset=UTF-8"), (b"server", b"cloudflare")]
