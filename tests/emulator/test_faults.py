"""Fault injection over real HTTP: every kind does what it says, on exactly the selected
requests and rows."""

from __future__ import annotations

import json
import math
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from kasparro.emulator import EmulatorConfig, EmulatorServer, FaultKind, FaultRule
from kasparro.emulator.faults import MUTATION_KINDS, REFERENCE_KINDS, UNKNOWN_PLATFORM
from kasparro.emulator.seed import seed_json
from tests.emulator.util import decimal_json
from tests.fixtures.emulator import EmulatorHandle

MARKETS: dict[str, str | int] = {"vs_currency": "usd", "per_page": 20}


@pytest.fixture(scope="module")
def _shared_server() -> Any:
    with EmulatorServer(EmulatorConfig(coins=300)) as server:
        yield server


@pytest.fixture
def shared(_shared_server: EmulatorServer) -> EmulatorServer:
    """One small server for the many stateless fault cases (reset before each test)."""
    _shared_server.state.reset()
    return _shared_server


def _cg(emulator: EmulatorHandle, **params: Any) -> httpx.Response:
    return httpx.get(f"{emulator.coingecko_base_url}/coins/markets", params={**MARKETS, **params})


def test_rule_parsing_and_validation() -> None:
    rule = FaultRule.parse("coingecko:500:/coins/markets:page=3,first=2")
    assert rule == FaultRule("coingecko", FaultKind.HTTP_500, "/coins/markets", page=3, first=2)
    assert FaultRule.coerce(rule.to_dict()) == rule
    assert FaultRule.parse("coinpaprika:timeout:seconds=1.5").seconds == 1.5
    with pytest.raises(ValueError, match="unknown api"):
        FaultRule.parse("binance:500")
    with pytest.raises(ValueError):
        FaultRule.parse("coingecko:melt")
    with pytest.raises(ValueError, match="unknown fault rule keys"):
        FaultRule.from_dict({"api": "coingecko", "kind": "500", "pages": 2})


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "retry_after"),
    [
        ("429", 429, "application/json", "7"),
        ("429_no_retry_after", 429, "application/json", None),
        ("429_html", 429, "text/html; charset=UTF-8", None),
        ("500", 500, "application/json; charset=UTF-8", None),
        ("502", 502, "text/html; charset=UTF-8", None),
        ("503", 503, "text/html; charset=UTF-8", None),
    ],
)
def test_error_kinds(
    shared: EmulatorHandle, kind: str, status: int, content_type: str, retry_after: str | None
) -> None:
    emulator = shared
    emulator.state.set_faults([FaultRule("coingecko", FaultKind(kind), retry_after=7)])
    response = _cg(emulator)
    assert response.status_code == status
    assert response.headers["content-type"] == content_type
    assert response.headers.get("retry-after") == retry_after
    if kind == "500":
        assert response.json() == seed_json("coingecko_error_500.json")
    if kind.startswith("429") and kind != "429_html":
        assert response.json() == seed_json("coingecko_error_429_rate_limit.json")
    if "html" in content_type:
        assert response.text.lstrip().lower().startswith("<!doctype html>")
    stats = emulator.state.stats()["coingecko"]
    assert stats["faults_injected"] == 1
    assert stats["rate_limited"] == 0
    assert stats["status_429"] == (1 if status == 429 else 0)


def test_coinpaprika_error_bodies(emulator: EmulatorHandle) -> None:
    emulator.state.set_faults(["coinpaprika:429:/tickers", "coinpaprika:500:/global"])
    limited = httpx.get(f"{emulator.coinpaprika_base_url}/tickers")
    broken = httpx.get(f"{emulator.coinpaprika_base_url}/global")
    assert limited.json() == seed_json("coinpaprika_error_429.json")
    assert limited.headers["retry-after"] == "1"
    assert broken.status_code == 500 and set(broken.json()) == {"error"}


def test_occurrence_and_page_selection(emulator: EmulatorHandle) -> None:
    emulator.state.set_faults(["coingecko:503:/coins/markets:page=3,skip=1,first=2"])
    page_2 = [_cg(emulator, page=2).status_code for _ in range(3)]
    page_3 = [_cg(emulator, page=3).status_code for _ in range(5)]
    assert page_2 == [200, 200, 200]
    assert page_3 == [200, 503, 503, 200, 200]
    described = emulator.state.faults.describe()[0]
    assert (described["matched"], described["fired"]) == (5, 2)


def test_first_matching_active_rule_wins_and_clear(shared: EmulatorHandle) -> None:
    emulator = shared
    emulator.state.set_faults(["coingecko:500:first=1", "coingecko:502"])
    assert [_cg(emulator).status_code for _ in range(3)] == [500, 502, 502]
    emulator.state.clear_faults()
    assert _cg(emulator).status_code == 200


def test_timeout_stalls_until_the_client_gives_up(emulator: EmulatorHandle) -> None:
    emulator.state.set_faults(
        ["coingecko:timeout:seconds=30,first=1", "coingecko:timeout:seconds=0.3"]
    )
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        _cg_with_timeout(emulator, 0.3)
    assert time.monotonic() - started < 5
    started = time.monotonic()
    slow = _cg_with_timeout(emulator, 5)
    assert slow.status_code == 200 and time.monotonic() - started >= 0.3
    deadline = time.monotonic() + 2
    while emulator.state.stats()["coingecko"]["statuses"].get("abandoned") != 1:
        assert time.monotonic() < deadline, emulator.state.stats()
        time.sleep(0.02)


def _cg_with_timeout(emulator: EmulatorHandle, timeout: float) -> httpx.Response:
    return httpx.get(
        f"{emulator.coingecko_base_url}/coins/markets", params=MARKETS, timeout=timeout
    )


def test_reset_drops_the_connection_mid_body(emulator: EmulatorHandle) -> None:
    emulator.state.set_faults(["coinpaprika:reset:/tickers:first=1"])
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{emulator.coinpaprika_base_url}/tickers")
    assert httpx.get(f"{emulator.coinpaprika_base_url}/tickers").status_code == 200
    assert emulator.state.stats()["coinpaprika"]["statuses"] == {"200": 1, "reset": 1}


def test_truncated_html_and_empty_bodies(shared: EmulatorHandle) -> None:
    emulator = shared
    whole = _cg(emulator).content
    emulator.state.set_faults(
        ["coingecko:truncated_json:first=1", "coingecko:html_200:first=1", "coingecko:empty_body"]
    )
    truncated, html, empty = _cg(emulator), _cg(emulator), _cg(emulator)
    assert truncated.status_code == 200 and truncated.content == whole[: len(whole) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated.content)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert empty.status_code == 200 and empty.content == b""
    assert empty.headers["content-type"].startswith("application/json")


def _int_or_text(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


def _price(api: str, row: dict[str, Any]) -> Any:
    return row["current_price"] if api == "coingecko" else row["quotes"]["USD"]["price"]


def _fetch(emulator: EmulatorHandle, api: str) -> httpx.Response:
    if api == "coingecko":
        return _cg(emulator)
    return httpx.get(f"{emulator.coinpaprika_base_url}/tickers")


@pytest.mark.parametrize("api", ["coingecko", "coinpaprika"])
@pytest.mark.parametrize(
    "kind", sorted(MUTATION_KINDS - REFERENCE_KINDS - {FaultKind.LARGE_RESPONSE}, key=str)
)
def test_data_mutations_change_exactly_the_first_rows(
    shared: EmulatorHandle, api: str, kind: FaultKind
) -> None:
    emulator = shared
    clean = decimal_json(_fetch(emulator, api).content)
    emulator.state.set_faults([FaultRule(api, kind, rows=4)])  # type: ignore[arg-type]
    response = _fetch(emulator, api)
    assert response.status_code == 200
    text = response.text
    # An overlong integer stays text (int() refuses over 4300 digits).
    rows = json.loads(text, parse_float=Decimal, parse_int=_int_or_text, parse_constant=lambda c: c)
    k = 4
    if kind is FaultKind.DUPLICATE_ROWS:
        assert rows == clean + clean[:k]
        return
    assert len(rows) == len(clean)
    assert rows[k:] == clean[k:]
    changed, untouched = rows[:k], clean[:k]
    if kind is FaultKind.PRICE_AS_STRING:
        assert [_price(api, r) for r in changed] == [str(_price(api, r)) for r in untouched]
    elif kind is FaultKind.NEGATIVE_PRICE:
        assert [_price(api, r) for r in changed] == [-_price(api, r) for r in untouched]
    elif kind is FaultKind.NAN_PRICE:
        assert [_price(api, r) for r in changed] == ["NaN"] * k
        assert math.isnan(_price(api, json.loads(text)[0]))
    elif kind is FaultKind.INFINITE_PRICE:
        assert [_price(api, r) for r in changed] == ["Infinity"] * k
    elif kind is FaultKind.HUGE_PRICE:
        assert [_price(api, r) for r in changed] == [Decimal("1e40")] * k
    elif kind is FaultKind.BIGINT_PRICE:
        assert [_price(api, r) for r in changed] == [10**30] * k
    elif kind is FaultKind.SURROGATE_ID:
        assert [r["id"] for r in changed] == [r["id"] + "\ud800" for r in untouched]
        assert all(r["id"] == u["id"] for r, u in zip(rows[k:], clean[k:], strict=True))
    elif kind is FaultKind.OVERLONG_PRICE:
        assert [_price(api, r) for r in changed] == ["1" + "0" * 5000] * k
        with pytest.raises(ValueError, match="integer string conversion"):
            json.loads(text)
    elif kind is FaultKind.NULL_REQUIRED:
        assert changed[0]["id"] is None and changed[1]["symbol"] is None
        assert changed[2]["last_updated"] is None and _price(api, changed[3]) is None
        nulls = sum(v is None for r in changed for v in _flat(r)) - sum(
            v is None for r in untouched for v in _flat(r)
        )
        assert nulls == k
    elif kind is FaultKind.MISSING_FIELD:
        container = [r if api == "coingecko" else r["quotes"]["USD"] for r in changed]
        key = "current_price" if api == "coingecko" else "price"
        assert all(key not in c for c in container)
    elif kind is FaultKind.RENAMED_FIELD:
        assert all("updated_at" in r and "last_updated" not in r for r in changed)
        container = [r if api == "coingecko" else r["quotes"]["USD"] for r in changed]
        assert all("price_usd_current" in c for c in container)
    elif kind is FaultKind.EXTRA_FIELD:
        assert all(
            r["unexpected_field"] == {"added_by": "kasparro-emulator", "n": 1} for r in changed
        )
        assert [
            {k2: v for k2, v in r.items() if k2 != "unexpected_field"} for r in changed
        ] == untouched
    else:  # pragma: no cover - a new kind needs a case here
        pytest.fail(f"untested mutation {kind}")


def _flat(record: dict[str, Any]) -> list[Any]:
    values: list[Any] = []
    for value in record.values():
        values.extend(_flat(value) if isinstance(value, dict) else [value])
    return values


def test_large_response(shared: EmulatorHandle) -> None:
    emulator = shared
    emulator.state.set_faults(
        [FaultRule("coingecko", FaultKind.LARGE_RESPONSE, size_bytes=3_000_000)]
    )
    response = _cg(emulator)
    rows = response.json()
    assert len(response.content) >= 3_000_000
    assert len(rows) == 20 and all("description" in r for r in rows)


def test_mutations_only_select_data_routes(shared: EmulatorHandle) -> None:
    emulator = shared
    emulator.state.set_faults(["coingecko:nan_price:first=1"])
    assert httpx.get(f"{emulator.coingecko_base_url}/ping").status_code == 200
    assert "NaN" in _cg(emulator).text  # the ping did not use up the single occurrence


def test_faults_over_the_control_api(emulator: EmulatorHandle) -> None:
    control = emulator.control_url
    response = httpx.put(
        f"{control}/faults",
        json=["coingecko:500:first=1", {"api": "coinpaprika", "kind": "503", "route": "/global"}],
    )
    assert response.status_code == 200 and len(response.json()["faults"]) == 2
    assert _cg(emulator).status_code == 500
    assert httpx.get(f"{emulator.coinpaprika_base_url}/global").status_code == 503
    described = httpx.get(f"{control}/faults").json()["faults"]
    assert [f["fired"] for f in described] == [1, 1]
    assert httpx.put(f"{control}/faults", json=["nope:500"]).status_code == 400
    assert httpx.delete(f"{control}/faults").json() == {"faults": []}
    assert _cg(emulator).status_code == 200


def test_faults_from_config(emulator_factory: Any) -> None:
    server = emulator_factory(faults=["coingecko:502:/coins/markets:page=2"])
    assert _cg(server, page=1).status_code == 200
    assert _cg(server, page=2).status_code == 502


def _platforms(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    url = f"{emulator.coingecko_base_url}/coins/list"
    return httpx.get(url, params={"include_platform": "true"}).json()


def _tokens(rows: list[dict[str, Any]]) -> list[int]:
    """Positions of coins that list at least one real contract address."""
    return [i for i, r in enumerate(rows) if any(k and v for k, v in r["platforms"].items())]


@pytest.mark.parametrize("kind", sorted(REFERENCE_KINDS, key=str))
def test_reference_mutations_break_exactly_the_first_rows_contracts(
    shared: EmulatorHandle, kind: FaultKind
) -> None:
    clean = _platforms(shared)
    shared.state.set_faults([FaultRule("coingecko", kind, route="/coins/list", rows=40)])
    rows = _platforms(shared)
    assert len(rows) == len(clean) and rows[40:] == clean[40:]
    tokens = [i for i in _tokens(clean) if i < 40]
    assert tokens, "the first rows hold tokens"
    for i in range(40):
        before, after = clean[i]["platforms"], rows[i]["platforms"]
        if i not in tokens:
            assert after == before
        elif kind is FaultKind.EMPTY_ADDRESS:
            assert set(after) == set(before) and all(v == "" for k, v in after.items() if k)
        elif kind is FaultKind.UNKNOWN_CHAIN:
            assert all(k.startswith(UNKNOWN_PLATFORM) for k in after if k)
            assert sorted(after.values()) == sorted(before.values())
    if kind is FaultKind.DUPLICATE_CONTRACT:
        # At least one token now lists an address that a later coin lists on that platform.
        listed = [(p, a) for r in rows for p, a in r["platforms"].items() if a]
        assert len(listed) > len(set(listed))


def test_coinpaprika_contract_faults_apply_to_the_contract_lists(shared: EmulatorHandle) -> None:
    url = f"{shared.coinpaprika_base_url}/contracts/eth-ethereum"
    clean = httpx.get(url).json()
    shared.state.set_faults(["coinpaprika:empty_address:/contracts/{platform}:rows=2"])
    rows = httpx.get(url).json()
    assert [r["address"] for r in rows[:2]] == ["", ""]
    assert rows[2:] == clean[2:]
