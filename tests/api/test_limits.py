"""Request size limits: 413 for a body too large, 414 for a URL too long, in the error shape.

Over real HTTP (uvicorn with httptools, as ``kasparro serve`` runs it) and raw sockets, so a
declared ``Content-Length`` and a chunked body both arrive as a client would send them.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn

from kasparro.api.app import create_app
from kasparro.api.config import ApiConfig
from tests.fixtures.api import AUTH, TOKEN, make_settings, running_app
from tests.fixtures.settings import runtime_for

LIMIT = ApiConfig().max_body_bytes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[int]:
    """The app under uvicorn in a thread of its own, on a port the OS picked."""
    tmp = tmp_path_factory.mktemp("limits")
    shutil.copy(sqlite_template, tmp / "kasparro.db")
    app = create_app(runtime_for(make_settings(f"sqlite+aiosqlite:///{tmp / 'kasparro.db'}", tmp)))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http="httptools", log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # a hang guard only
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield srv.servers[0].sockets[0].getsockname()[1]
    finally:
        srv.should_exit = True
        thread.join(30)


def _exchange(port: int, head: bytes, body: Iterator[bytes] = iter(())) -> tuple[int, dict, bytes]:
    """Send a raw request (then its body parts, as they come) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        try:
            for part in body:
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the rest: what a limit does
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = sock.recv(65536)
            assert chunk, raw
            raw += chunk
        top, _, rest = raw.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        while len(rest) < int(headers.get("content-length", 0)):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(lines[0].split()[1]), headers, rest


def _post_head(path: str, extra: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: kasparro.test\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nX-Request-ID: limit-test\r\n{extra}\r\n"
    ).encode()


def _assert_enveloped(status: int, headers: dict[str, str], body: bytes, code: str) -> None:
    assert headers["content-type"] == "application/json", (status, body[:200])
    error = json.loads(body)["error"]
    assert error["code"] == code and error["request_id"] == "limit-test"
    assert headers["x-request-id"] == "limit-test"


def test_a_declared_oversized_body_is_refused_unread_with_the_enveloped_413(server: int) -> None:
    for path in ("/api/v1/runs", "/api/v1/backfills", "/api/v1/identity/decisions"):
        head = _post_head(path, f"Content-Length: {LIMIT + 1}\r\n")
        # Nothing of the body is sent: the answer must not wait for it.
        status, headers, body = _exchange(server, head)
        assert status == 413
        _assert_enveloped(status, headers, body, "payload_too_large")
        assert str(LIMIT) in json.loads(body)["error"]["message"]


def test_a_chunked_body_is_refused_once_it_grows_past_the_limit(server: int) -> None:
    # No Content-Length: the limit can only count what arrives. A JSON string that never
    # ends, 16 KiB per chunk, up to twice the limit.
    def chunks() -> Iterator[bytes]:
        yield b"%x\r\n%s\r\n" % (len(b'{"source": "'), b'{"source": "')
        for _ in range(2 * LIMIT // 16384):
            yield b"4000\r\n" + b"a" * 16384 + b"\r\n"
        yield b"0\r\n\r\n"

    head = _post_head("/api/v1/runs", "Transfer-Encoding: chunked\r\n")
    status, headers, body = _exchange(server, head, chunks())
    assert status == 413
    _assert_enveloped(status, headers, body, "payload_too_large")


def test_a_chunked_body_under_the_limit_is_read_as_usual(server: int) -> None:
    payload = b'{"source": "nosuch"}'
    head = _post_head("/api/v1/runs", "Transfer-Encoding: chunked\r\n")
    status, headers, body = _exchange(
        server, head, iter([b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)])
    )
    assert status == 422  # read, parsed and validated: an unknown source
    _assert_enveloped(status, headers, body, "validation_error")


def test_urls_too_long_get_the_enveloped_414_until_the_server_refuses_them(server: int) -> None:
    for target in ("/api/v1/assets/" + "9" * 2000, "/api/v1/data?symbol=" + "B" * 50_000):
        head = f"GET {target} HTTP/1.1\r\nHost: kasparro.test\r\nX-Request-ID: limit-test\r\n\r\n"
        status, headers, body = _exchange(server, head.encode())
        assert status == 414
        _assert_enveloped(status, headers, body, "uri_too_long")
    # Past about 64 KiB of request line uvicorn itself refuses the request, before the app
    # runs: a plain-text 400 (documented in the README).
    head = f"GET /api/v1/data?symbol={'B' * 70_000} HTTP/1.1\r\nHost: kasparro.test\r\n\r\n"
    status, headers, body = _exchange(server, head.encode())
    assert status == 400 and headers["content-type"].startswith("text/plain")


def _largest_bodies() -> dict[str, dict[str, Any]]:
    """The largest bodies each operation's schema allows (every string at its maxLength in
    characters that JSON escapes to 12 bytes, every list at maxItems of the widest value)."""
    astral = "\U0001f60d"  # one character, "\\ud83d\\ude0d" in ASCII-only JSON
    # A recent window: one the free plans serve (an older one is refused with a 422).
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    stamp = "%Y-%m-%dT%H:%M:%S.%f"
    return {
        "/api/v1/backfills": {
            "source": "coinpaprika",
            "asset_ids": [2**53 - 1] * 1000,
            "since": (day - timedelta(days=2)).strftime(stamp),
            "until": (day - timedelta(days=1)).strftime(stamp),
            "interval": "1d",
        },
        "/api/v1/identity/decisions": {
            "coingecko_id": astral * 300,
            "coinpaprika_id": astral * 300,
            "decision": "reject",
            "note": astral * 2000,
        },
        "/api/v1/identity/review/1": {"decision": "reject", "note": astral * 2000},
    }


async def test_the_largest_valid_bodies_fit_under_the_limit(db_url: str, tmp_path: Path) -> None:
    async with running_app(make_settings(db_url, tmp_path)) as client:
        spec = (await client.get("/openapi.json")).json()
        for path, body in _largest_bodies().items():
            raw = json.dumps(body, ensure_ascii=True).encode()
            assert LIMIT > len(raw) > 16 * 1024, path  # the old 16 KiB limit refused these
            resp = await client.post(
                path, content=raw, headers={**AUTH, "Content-Type": "application/json"}
            )
            assert resp.status_code != 413, (path, resp.text)
            # Only refused for what they name: assets, coins (identity) no source lists.
            semantic = "asset" in resp.text or '"unknown_coin"' in resp.text
            assert resp.status_code != 422 or semantic, (path, resp.text)
        # Every operation that takes a body documents the 413.
        with_body = [
            (m, p)
            for p, ops in spec["paths"].items()
            for m, op in ops.items()
            if "requestBody" in op
        ]
        assert len(with_body) == 4
        for method, path in with_body:
            assert "413" in spec["paths"][path][method]["responses"], (method, path)
            schema = spec["paths"][path][method]["responses"]["413"]["content"]["application/json"]
            assert schema["schema"]["$ref"].endswith("/ErrorResponse")


async def test_a_body_too_large_is_413_in_process_too(api_client: httpx.AsyncClient) -> None:
    # Without Content-Length (a generator body) through the ASGI interface directly.
    async def stream() -> Any:
        yield b'{"source": "'
        for _ in range(LIMIT // 8192 + 1):
            yield b"a" * 8192
        yield b'"}'

    resp = await api_client.post(
        "/api/v1/runs", content=stream(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "payload_too_large"
    assert resp.json()["error"]["request_id"] == resp.headers["x-request-id"]


def test_the_longest_valid_query_is_served(server: int) -> None:
    # 50 symbols (the documented maxItems) of 64 characters (maxLength) that UTF-8 takes
    # four bytes for, percent-encoded: ~39 KB of query, which the old 4 KiB limit refused.
    symbol = quote("\U0001f60d" * 64)
    query = "&".join([f"symbol={symbol}"] * 50 + ["limit=1000", "sort=-symbol"])
    head = f"GET /api/v1/data?{query} HTTP/1.1\r\nHost: kasparro.test\r\n\r\n"
    status, _, body = _exchange(server, head.encode())
    assert len(query) > 38_000
    assert status == 200, body[:300]
    assert json.loads(body)["data"] == []
