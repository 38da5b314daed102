"""Fuzz the whole API from its own OpenAPI document with schemathesis 4, every check on.

Two kinds of test, on each dialect, against an app whose store was seeded through the real
write path: two pipeline rounds of every source over the emulator, with faults that produce
schema drift and quarantined records, plus a CSV with a bad row. So the fuzzer meets real
rows, ids and cursors, not only empty pages. A bearer token is configured and sent, so the
authenticated endpoints run; their upstreams point at a closed loopback port so a triggered
run fails at once instead of fetching anything, and the trigger rate limit (a documented 429)
stays on.

- One test per operation: the examples, coverage and fuzzing phases (schema examples,
  boundary values and random data, valid and invalid).
- One stateful test: sequences of calls that follow the response links schemathesis infers
  (an asset id from a list into ``/assets/{asset_id}``, a review id into its decision, ...).

Every response must pass every schemathesis check: no 5xx; a documented status code, content
type, headers and body schema; valid data accepted (positive data acceptance) and invalid
data rejected (negative data rejection); missing required headers and unsupported methods
refused; authentication not ignored. The only waivers are rejections of schema-valid input
that JSON Schema cannot express (see ``SEMANTIC_REJECTIONS``).

Deterministic (fixed seed, ``derandomize``) and sized for CI: a few seconds per operation.
The schema is built at import from ``create_app(...).openapi()`` (pure: no I/O, no
lifespan) so that pytest can make one test per operation; the fixture checks that the app
under test generates that same document (the one it serves at ``/openapi.json``).

The same contract from outside, against a served API (``kasparro serve``):
``st run http://127.0.0.1:8000/openapi.json --checks all --seed 4242 -H "Authorization: Bearer
$KASPARRO_API_TOKEN"``. What it reports beyond this test is what ``SEMANTIC_REJECTIONS``
waives here (an opaque cursor the server did not issue, ``since`` after ``until``, ...), plus
413/414 counted as not a rejection (its default list of rejection statuses lacks them).
"""

from __future__ import annotations

import asyncio
import copy
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema_rs
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from pydantic import SecretStr
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.generation.meta import ParameterLocation
from sqlalchemy.engine import make_url

from kasparro.api.app import create_app
from kasparro.api.config import ApiConfig
from kasparro.api.ratelimit import TokenBuckets
from kasparro.emulator import EmulatorConfig, EmulatorServer
from kasparro.emulator.faults import FaultRule
from kasparro.settings import Settings
from kasparro.store.engine import create_engine
from kasparro.store.migrate import upgrade
from tests.fixtures.api import AUTH, TOKEN, make_settings, write_csv
from tests.fixtures.db import DIALECTS, _pg_exec, pg_admin_url, postgres_required
from tests.fixtures.etl import run_etl
from tests.fixtures.settings import runtime_for

pytestmark = pytest.mark.slow

# Nothing listens on the discard port: a triggered upstream run fails at connect, at once.
DEAD_UPSTREAM = "http://127.0.0.1:9"
EXAMPLES_PER_OPERATION = 30
STATEFUL_SCENARIOS = 60

# Operations that must have answered 2xx at least once: proof that the fuzzer got past
# validation into the queries (or started runs), not only into 422s. (Id lookups and
# comparisons need ids that random integers rarely hit; the GET trigger alias may find the
# trigger budget spent when it runs after POST in the same worker.)
# A trigger budget that one fuzzed operation mostly fits in (runs start: 202, or 409 while
# one is still running) and that its last examples exhaust (429). Every request that passes
# authentication spends a token, even one with an invalid body.
TRIGGER_BUDGET = ApiConfig(trigger_rate_per_minute=60, trigger_burst=50, shutdown_timeout_seconds=5)

MUST_SUCCEED = {
    "POST /api/v1/runs",
    "GET /api/v1/data",
    "GET /api/v1/assets",
    "GET /api/v1/runs",
    "GET /api/v1/stats",
    "GET /api/v1/drift",
    "GET /api/v1/quarantine",
    "GET /health",
    "GET /metrics",
}


def _openapi() -> dict[str, Any]:
    placeholder = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url="sqlite+aiosqlite:///never-opened.db",
        api_token=SecretStr(TOKEN),
    )
    return create_app(runtime_for(placeholder)).openapi()


OPENAPI = _openapi()
SEED = 4242
# Every check, schemathesis' defaults, with one addition: 413 and 414 (a body or URL too
# large, documented on every operation concerned, in the error shape) are rejections too;
# the limits lie above the largest request the schema allows, so only invalid requests meet
# them (tests/api/test_limits.py).
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [
                    400,
                    401,
                    403,
                    404,
                    405,
                    406,
                    409,
                    413,
                    414,
                    415,
                    422,
                    428,
                    429,
                ]
            },
        },
    }
)
schema = schemathesis.openapi.from_dict(OPENAPI, config=CONFIG)


def _csv(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "markets.csv", 20)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("coin-bad,BAD,Bad Coin,2024-05-01T12:00:00Z,n/a,,,,,,,\n")


async def _seed(db_url: str, tmp_path: Path) -> None:
    """Two rounds of every source, written by the pipeline itself."""
    faults = [
        # Renamed price/last_updated (drift: missing + unexpected, with a rename suggestion;
        # the records are quarantined), an extra field, and a price sent as a string.
        FaultRule.parse("coingecko:renamed_field:/coins/markets:rows=2"),
        FaultRule.parse("coingecko:extra_field:/coins/markets:rows=1"),
        FaultRule.parse("coinpaprika:price_as_string:/tickers:rows=2"),
    ]
    emu = EmulatorServer(EmulatorConfig(coins=60, faults=faults)).start()
    engine = create_engine(db_url, pool_size=2)
    try:
        settings = make_settings(
            db_url,
            tmp_path,
            coingecko_base_url=emu.coingecko_base_url,
            coinpaprika_base_url=emu.coinpaprika_base_url,
            coingecko_max_coins="all",
            coingecko_requests_per_minute=60_000,
            coinpaprika_requests_per_minute=60_000,
        )
        for _ in range(2):
            results = await run_etl(engine, settings, "coingecko", "coinpaprika", "csv")
            assert all(r.status in ("success", "partial") for r in results.values()), results
            emu.state.tick()
    finally:
        emu.stop()
        await engine.dispose()


@pytest.fixture(scope="module", params=DIALECTS)
def fuzz_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[str]:
    """A migrated database of its own for this module (other tests truncate the shared one)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("fuzz-sqlite") / "kasparro.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    admin = pg_admin_url()
    name = f"kasparro_fuzz_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_pg_exec(admin, f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if postgres_required():
            pytest.fail(f"PostgreSQL unreachable: {exc!r}")
        pytest.skip(f"PostgreSQL unreachable: {exc!r}")
    db_url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    upgrade(db_url)
    try:
        yield db_url
    finally:
        asyncio.run(_pg_exec(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def fuzz_app(fuzz_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    tmp_path = tmp_path_factory.mktemp("fuzz")
    _csv(tmp_path)
    asyncio.run(_seed(fuzz_db, tmp_path))
    settings = make_settings(
        fuzz_db,
        tmp_path,
        coingecko_base_url=f"{DEAD_UPSTREAM}/api/v3",
        coinpaprika_base_url=f"{DEAD_UPSTREAM}/v1",
        http_max_attempts=1,
        http_timeout_seconds=2.0,
        http_backoff_initial_seconds=0.0,
        # No client-side upstream budget either: a run must not wait for a request slot.
        coingecko_requests_per_minute=60_000,
        coinpaprika_requests_per_minute=60_000,
    )
    app = create_app(runtime_for(settings), config=TRIGGER_BUDGET)
    assert app.openapi() == OPENAPI, "the fuzzed schema must be the one this app serves"
    try:
        yield app
    finally:
        # schemathesis started the lifespan in its ASGI event-loop thread on the first call
        # and keeps it until asked: stop it so engines close before the database is dropped.
        from schemathesis.python.asgi import shutdown_lifespans

        shutdown_lifespans()


@pytest.fixture
def trigger_budget(fuzz_app: FastAPI) -> None:
    """Each fuzzed operation starts with the whole trigger budget. Shared by the module's
    app, it made the operations that spend it (runs, backfills, identity decisions)
    depend on which of them the random order ran first: one that came after the others
    saw only 429s and never its 2xx (seen in soak runs)."""
    fuzz_app.state.trigger_buckets = TokenBuckets(
        TRIGGER_BUDGET.trigger_rate_per_minute, TRIGGER_BUDGET.trigger_burst
    )


@pytest.fixture
def statuses() -> Iterator[Counter[tuple[str, int]]]:
    seen: Counter[tuple[str, int]] = Counter()
    yield seen
    # Shown with `pytest -s` or `-rA`: what the fuzzer actually got back.
    print("statuses:", {f"{label} {status}": n for (label, status), n in sorted(seen.items())})
    for label in {label for label, _ in seen} & MUST_SUCCEED:
        ok = sum(n for (lbl, status), n in seen.items() if lbl == label and status < 300)
        assert ok, f"{label}: no 2xx among {dict(seen)}"


def _error_types(response: schemathesis.Response) -> set[str] | None:
    """The ``type`` of every detail of a 422 in the API's error shape (None otherwise)."""
    if response.status_code != 422:
        return None
    error = response.json().get("error") or {}
    details = error.get("details")
    if details is None and str(error.get("message", "")).startswith("too many query parameters"):
        # QuerySpec's own count check (kasparro.api.queryspec) carries no details.
        return {"too_many_parameters"}
    if not isinstance(details, list) or not details:
        return None
    return {str(d.get("type")) if isinstance(d, dict) else "?" for d in details}


# Rejections of schema-valid input that JSON Schema cannot express: an opaque cursor that
# the server did not issue (or issued for other filters), 'since' not before 'until', a
# '-sort' contradicting 'order=asc', a time that leaves years 1..9999 once in UTC, more
# query parameters in all than the API takes (each list within its `maxItems`), a backfill
# date that matches its documented pattern but is not on the calendar (2024-02-30), a
# backfill window that no source's plan serves (plan depth is measured from now), backfill
# asset ids that name no asset or assets that no chosen source lists, an identity decision
# on a coin no source lists or on one coin twice.
SEMANTIC_REJECTIONS = {
    "same_coin",
    "backfill",
    "unknown_asset",
    "not_listed",
    "unknown_coin",
    "cursor",
    "range",
    "conflict",
    "datetime_range",
    "too_many_parameters",
    "datetime_parsing",
}


def _coerce(schema: dict[str, Any], text: str) -> Any:
    """A query value as the JSON value the server reads it as (only strings travel)."""
    types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", ())}
    if "integer" in types and re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    return text


def _item_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    for candidate in (schema, *schema.get("anyOf", ())):
        if candidate.get("type") == "array":
            return candidate
    return None


def _query_valid_on_the_wire(case: schemathesis.Case, response: schemathesis.Response) -> bool:
    """Whether every query parameter, as actually sent, satisfies its schema.

    schemathesis negates a query value by changing its JSON type (``false``, ``0.79``), but
    the wire carries text, and for ``anyOf: [array, null]`` parameters its own filter misses
    that the text is valid (``?source=0.79`` is a fine source name). Such a 2xx is no
    acceptance of invalid data. Formats are validated, so a real violation still counts.
    """
    operation = OPENAPI["paths"].get(case.path, {}).get(case.method.lower())
    if operation is None:
        return False
    declared = {
        p["name"]: p["schema"] for p in operation.get("parameters", ()) if p["in"] == "query"
    }
    sent = parse_qs(urlsplit(response.request.url).query, keep_blank_values=True)
    for name, values in sent.items():
        schema_ = declared.get(name)
        if schema_ is None:
            return False
        array = _item_schema(schema_)
        if array is not None:
            items = array.get("items", {})
            instance: Any = [_coerce(items, v) for v in values]
            schema_ = array
        elif len(values) == 1:
            instance = _coerce(schema_, values[0])
        else:
            return False
        if not jsonschema_rs.validator_for(schema_, validate_formats=True).is_valid(instance):
            return False
    return True


def _only_query_negated(case: schemathesis.Case) -> bool:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative:
        return False
    negated = {loc for loc, info in meta.components.items() if info.mode.is_negative}
    return negated == {ParameterLocation.QUERY}


def _waived(case: schemathesis.Case, response: schemathesis.Response) -> list[Any]:
    """Checks that do not apply to this one response (every other check still runs)."""
    waived: list[Any] = []
    types = _error_types(response)
    if types is not None and types <= SEMANTIC_REJECTIONS:
        waived.append(positive_data_acceptance)
    if (
        response.status_code < 300
        and _only_query_negated(case)
        and _query_valid_on_the_wire(case, response)
    ):
        waived.append(negative_data_rejection)
    return waived


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(
    case: schemathesis.Case,
    fuzz_app: FastAPI,
    statuses: Counter[tuple[str, int]],
    trigger_budget: None,
) -> None:
    # Every request goes to this dialect's app in-process, including those the checks replay
    # (without the token, with other methods) or follow (a 202's Location).
    case.operation.app = case.operation.schema.app = fuzz_app
    response = case.call(headers=AUTH)
    statuses[(f"{case.method} {case.path}", response.status_code)] += 1
    case.validate_response(
        response,
        headers=AUTH,
        excluded_checks=_waived(case, response),
        transport_kwargs={"app": fuzz_app, "headers": AUTH},
    )


STATEFUL = settings(
    max_examples=STATEFUL_SCENARIOS,
    stateful_step_count=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_api_links_hold_statefully(fuzz_app: FastAPI, trigger_budget: None) -> None:
    """Call sequences that feed one response's values into the next request, along the
    links schemathesis infers from the schema: every step passes every check."""
    # A copy: schemathesis writes the links it infers into the document it is given.
    linked = schemathesis.openapi.from_dict(copy.deepcopy(OPENAPI), config=CONFIG)
    linked.app = fuzz_app
    followed: Counter[str] = Counter()

    class Scenarios(linked.as_state_machine()):  # type: ignore[misc]
        def step(self, input: Any) -> Any:
            if input.transition is not None and input.applied_parameters:
                followed[input.transition.id] += 1
            return super().step(input)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": AUTH}

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                headers=AUTH,
                excluded_checks=_waived(case, response),
                transport_kwargs={"app": fuzz_app, **kwargs},
                recorder=self.recorder,
            )

    Scenarios.run(settings=STATEFUL)
    print("links followed:", dict(followed))
    # Proof the scenarios chained real values (asset ids from lists, review ids, ...).
    assert len(followed) >= 5, dict(followed)


# --- what the fuzzer found, pinned as plain regression tests ---------------------------------


async def test_allow_lists_every_method_of_the_path(api_client: httpx.AsyncClient) -> None:
    # Starlette listed only the first matching route's methods: `Allow: GET` on /runs.
    resp = await api_client.request("OPTIONS", "/api/v1/runs")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, POST"
    assert resp.json()["error"]["code"] == "method_not_allowed"
    assert (await api_client.delete("/health")).headers["allow"] == "GET, HEAD"


async def test_undecodable_body_is_the_documented_422(api_client: httpx.AsyncClient) -> None:
    # Invalid UTF-8 made FastAPI answer an undocumented 400.
    resp = await api_client.post(
        "/api/v1/runs",
        content=b'{"source": "\xff"}',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_error" and error["details"][0]["type"] == "json_invalid"


async def test_an_integer_beyond_64_bits_is_echoed_as_text_in_a_422(
    api_client: httpx.AsyncClient,
) -> None:
    # The error renderer (orjson) refused to echo it back: a 500 instead of the 422.
    huge = -597208802353677986063847161593856
    resp = await api_client.post(
        "/api/v1/backfills", json={"asset_ids": [5, huge], "top": 2**64}, headers=AUTH
    )
    assert resp.status_code == 422, resp.text
    inputs = {d["loc"]: d["input"] for d in resp.json()["error"]["details"]}
    assert inputs == {"body.asset_ids.1": str(huge), "body.top": str(2**64)}


async def test_a_full_documented_list_is_accepted(api_client: httpx.AsyncClient) -> None:
    # `maxItems` was 100 while more than 64 parameters in all were refused.
    spec = (await api_client.get("/openapi.json")).json()
    params = spec["paths"]["/api/v1/quarantine"]["get"]["parameters"]
    source = next(p for p in params if p["name"] == "source")
    most = source["schema"]["anyOf"][0]["maxItems"]
    names = source["schema"]["anyOf"][0]["items"]["enum"]
    full = [("source", names[i % len(names)]) for i in range(most)] + [("limit", "10")]
    assert (await api_client.get("/api/v1/quarantine", params=full)).status_code == 200
    over = await api_client.get("/api/v1/quarantine", params=[*full, ("source", names[0])])
    assert over.status_code == 422
    runs = [("status", "success")] * 40 + [("source", names[i % len(names)]) for i in range(40)]
    too_many = await api_client.get("/api/v1/runs", params=runs)
    assert too_many.status_code == 422
    assert too_many.json()["error"]["details"][0]["type"] == "too_many_parameters"
