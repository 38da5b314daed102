"""Opaque, integrity-checked pagination cursors.

A cursor is ``base64url(mac || json)`` where the JSON holds the format version, the query
scope it was issued for (sort, order and a digest of the filters), the last row's sort value
and id. The MAC is a keyed BLAKE2b over the JSON: not a secret-based signature (anyone may
page anywhere through filters anyway) but a guard that turns an edited, truncated or
corrupted cursor into a clear 422 instead of a silently different page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from kasparro.query.keyset import Kind

VERSION = 1
MAX_CURSOR_CHARS = 1024
# What a cursor looks like, as documented: unpadded base64url of at least the MAC and the
# shortest payload (8 + 21 bytes: 39 characters; 16 is a safe floor).
MIN_CURSOR_CHARS = 16
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
_MAC_KEY = b"kasparro-cursor-v1"
_MAC_BYTES = 8
_MAX_STR = 400


class InvalidCursor(ValueError):
    """The cursor is malformed, was tampered with, or belongs to another query."""


@dataclass(frozen=True, slots=True)
class Position:
    """The last row of a page: its sort value (typed by the sort key's kind) and id."""

    value: Any
    id: int


def scope_digest(*parts: object) -> str:
    """A short digest of everything that defines a result set (sort and filters)."""
    return hashlib.blake2b(orjson.dumps(parts, default=str), digest_size=6).hexdigest()


def _mac(body: bytes) -> bytes:
    return hashlib.blake2b(body, key=_MAC_KEY, digest_size=_MAC_BYTES).digest()


def _encode_value(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, int | float | str):
        return value
    raise TypeError(f"unsupported cursor value {type(value).__name__}")


def encode(scope: str, position: Position) -> str:
    body = orjson.dumps([VERSION, scope, _encode_value(position.value), position.id])
    return base64.urlsafe_b64encode(_mac(body) + body).rstrip(b"=").decode("ascii")


def decode(token: str, *, scope: str, kind: Kind, nullable: bool) -> Position:
    if not token or len(token) > MAX_CURSOR_CHARS:
        raise InvalidCursor("cursor is empty or too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursor("cursor is not valid base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
        # Unpadded base64 ignores a few trailing bits: insist on the canonical spelling so
        # that every edit of the token is detected.
        raise InvalidCursor("cursor is not in canonical form (modified)")
    mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, _mac(body)):
        raise InvalidCursor("cursor failed its integrity check (modified or truncated)")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidCursor("cursor payload is not valid JSON") from None
    if not isinstance(payload, list) or len(payload) != 4 or payload[0] != VERSION:
        raise InvalidCursor("unsupported cursor format")
    _, cursor_scope, value, last_id = payload
    if cursor_scope != scope:
        raise InvalidCursor(
            "cursor was issued for a different query (sort, order or filters changed); "
            "restart from the first page"
        )
    if not isinstance(last_id, int) or isinstance(last_id, bool) or last_id < 0:
        raise InvalidCursor("cursor id is invalid")
    return Position(_decode_value(value, kind, nullable), last_id)


def _decode_value(value: Any, kind: Kind, nullable: bool) -> Any:
    if value is None:
        if not nullable:
            raise InvalidCursor("cursor value may not be null for this sort")
        return None
    if kind == "datetime":
        if not isinstance(value, str):
            raise InvalidCursor("cursor timestamp is invalid")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidCursor("cursor timestamp is invalid") from None
        if parsed.tzinfo is None:
            raise InvalidCursor("cursor timestamp must carry a UTC offset")
        return parsed
    if kind == "decimal":
        try:
            number = Decimal(value) if isinstance(value, str) else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise InvalidCursor("cursor decimal is invalid")
        return number
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidCursor("cursor number is invalid")
        return float(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidCursor("cursor integer is invalid")
        return value
    if not isinstance(value, str) or len(value) > _MAX_STR:
        raise InvalidCursor("cursor text is invalid")
    return value
