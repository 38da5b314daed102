"""Upstream fault matrix: every fault the emulator can inject, against a loaded store.

Each case loads a clean baseline, ticks the emulator (so the faulty run has new data to load),
injects the fault, runs again and checks: the run's final status and reason, the quarantined
rows and their reasons, drift events, that the counters reconcile (fetched = loaded +
unchanged + rejected, in the result and in the runs row), that every baseline observation is
still there with identical values, and that what was loaded equals a fault-free run's data
(minus the rows the fault made invalid, which are quarantined, never guessed).

CoinGecko faults hit page 2 of 3, so a persistent one shows that page 1 stays committed and
that the next clean run resumes at page 2. Every case runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.emulator import EmulatorConfig, EmulatorServer
from kasparro.runs.result import RunResult
from kasparro.settings import Settings
from tests.fixtures.emulator import EmulatorFactory
from tests.resilience.conftest import ReferenceStore
from tests.resilience.helpers import (
    ObsKey,
    assert_latest_consistent,
    assert_preserved,
    assert_reconciles,
    assert_run_row_matches,
    checkpoint,
    drift_rows,
    emu_settings,
    observation_values,
    quarantine_rows,
    run_logged,
)

COINS = 300  # CoinGecko lists 297 of them: pages of 100, 100 and 97
PAGES = 3
FAULTY_PAGE = 2
ROUTE = {"coingecko": "/coins/markets", "coinpaprika": "/tickers"}
PRICE_FIELD = {"coingecko": "current_price", "coinpaprika": "quotes.USD.price"}

# Whole-response and transport faults, with the text the run's reason must contain.
ERROR_FAULTS = {
    "429": "HTTP 429",
    "429_no_retry_after": "HTTP 429",
    "429_html": "HTTP 429",
    "500": "HTTP 500",
    "502": "HTTP 502",
    "503": "HTTP 503",
    "timeout": "timeout (ReadTimeout)",
    "reset": "connection error (RemoteProtocolError",
    "truncated_json": "unusable body (invalid JSON",
    "html_200": "unusable body (invalid JSON",
    "empty_body": "unusable body (empty body)",
}

# Data faults on the first 3 records: the quarantine reason of each mutated record.
REJECTING_FAULTS = {
    "price_as_string": ["price_usd: expected a number, got str"] * 3,
    "negative_price": ["price_usd: negative"] * 3,
    "nan_price": ["price_usd: not finite"] * 3,
    "infinite_price": ["price_usd: not finite"] * 3,
    "huge_price": ["price_usd: exceeds bound 1e9"] * 3,
    "overlong_price": ["price_usd: too many digits"] * 3,
    "bigint_price": ["price_usd: exceeds bound 1e9"] * 3,
    "surrogate_id": ["id: contains control characters"] * 3,
    "null_required": [
        "missing required field: id",
        "missing required field: symbol",
        "missing required field: last_updated",
    ],
    "missing_field": ["missing required field: price_usd"] * 3,
    # price and last_updated renamed: the first field the normalizer misses names the reason.
    "renamed_field": ["missing required field: last_updated"] * 3,
}
HARMLESS_FAULTS = ["duplicate_rows", "extra_field", "large_response"]


def expected_drift(kind: str, api: str) -> set[tuple[str, str]]:
    price = PRICE_FIELD[api]
    renamed = price.rpartition(".")[0] + ("." if "." in price else "") + "price_usd_current"
    return {
        "price_as_string": {(price, "type_changed")},
        "null_required": {("id", "type_changed"), ("symbol", "type_changed")}
        # CoinGecko documents last_updated as nullable; CoinPaprika does not.
        | ({("last_updated", "type_changed")} if api == "coinpaprika" else set()),
        "missing_field": {(price, "missing")},
        "renamed_field": {
            (price, "missing"),
            ("last_updated", "missing"),
            (renamed, "unexpected"),
            ("updated_at", "unexpected"),
        },
        "extra_field": {("unexpected_field", "unexpected")},
        "large_response": {("description", "unexpected")},
    }.get(kind, set())


TIMEOUT_STALL_SECONDS = 30  # abandoned by the emulator when the client gives up


def fault_spec(api: str, kind: str, **options: Any) -> str:
    opts: dict[str, Any] = {"page": FAULTY_PAGE} if api == "coingecko" else {}
    if kind == "timeout":
        opts["seconds"] = TIMEOUT_STALL_SECONDS
    opts.update(options)
    tail = ",".join(f"{k}={'none' if v is None else v}" for k, v in opts.items())
    return f"{api}:{kind}:{ROUTE[api]}" + (f":{tail}" if tail else "")


def settings_for(db_url: str, emu: EmulatorServer, kind: str, attempts: int = 3) -> Settings:
    return emu_settings(
        db_url,
        emu,
        http_max_attempts=attempts,
        http_backoff_initial_seconds=0.01,
        http_backoff_max_seconds=0.05,
        # The timeout fault stalls 30 s and an attempt gives up after 2 s: a stalled answer
        # always times out, and a healthy one (a page of ~125 kB, on a loaded machine)
        # never does.
        http_timeout_seconds=2.0 if kind == "timeout" else 5.0,
    )


async def load_baseline(
    engine: AsyncEngine, settings: Settings, emu: EmulatorServer, api: str
) -> dict[ObsKey, Any]:
    base = (await run_logged(engine, settings, api))[api]
    assert base.status == "success", base.error
    assert base.rejected == 0
    assert await drift_rows(engine, api) == {}
    before = await observation_values(engine)
    assert len(before) == base.loaded > 250
    emu.state.tick()
    emu.state.reset_stats()
    return before


# (api, tick) -> reference values. Every case uses the same universe (coins, seed), so a
# fault-free run at a given tick loads the same data whichever emulator instance serves it.
_REFERENCE: dict[tuple[str, int], dict[ObsKey, Any]] = {}


async def reference_tick_values(
    reference_store: ReferenceStore, settings: Settings, emu: EmulatorServer, api: str
) -> dict[ObsKey, Any]:
    """What a fault-free run at the emulator's current tick loads (into an empty store)."""
    key = (api, emu.state.current_tick)
    if key not in _REFERENCE:
        twin = EmulatorServer(EmulatorConfig(coins=COINS)).start()
        try:
            twin.state.tick(emu.state.current_tick)
            ref = await reference_store()
            twin_settings = settings_for("sqlite+aiosqlite://", twin, "reference")
            res = (await run_logged(ref, twin_settings, api))[api]
            assert res.status == "success", res.error
            _REFERENCE[key] = await observation_values(ref)
        finally:
            twin.stop()
    return dict(_REFERENCE[key])


async def first_ids(emu: EmulatorServer, api: str, n: int = 3) -> list[str]:
    """Ids of the first ``n`` records of the faulty response, as served without the fault."""
    if api == "coingecko":
        url = emu.coingecko_base_url + ROUTE[api]
        params: dict[str, Any] = {
            "vs_currency": "usd",
            "order": "market_cap_desc",
            "per_page": 100,
            "page": FAULTY_PAGE,
            "sparkline": "false",
        }
    else:
        url, params = emu.coinpaprika_base_url + ROUTE[api], {"quotes": "USD"}
    faults = emu.state.faults.rules
    emu.state.clear_faults()
    try:
        async with httpx.AsyncClient() as http:
            resp = await http.get(url, params=params)
    finally:
        emu.state.set_faults(faults)
    return [r["id"] for r in resp.json()[:n]]


async def check_run(engine: AsyncEngine, res: RunResult, before: dict[ObsKey, Any]) -> None:
    """Invariants of every run: counters (result and runs row), everything stored before the
    run intact, exactly ``loaded`` new observations, latest_observations consistent."""
    assert_reconciles(res)
    await assert_run_row_matches(engine, res)
    after = await observation_values(engine)
    assert_preserved(before, after)
    assert len(after) - len(before) == res.loaded
    await assert_latest_consistent(engine)


def apis_pages(api: str) -> int:
    return PAGES if api == "coingecko" else 1


# --- whole-response and transport faults -----------------------------------------------------


@pytest.mark.parametrize("kind", list(ERROR_FAULTS))
async def test_transient_error_fault_is_retried_and_the_run_succeeds(
    engine: AsyncEngine,
    db_url: str,
    emulator_factory: EmulatorFactory,
    reference_store: ReferenceStore,
    kind: str,
) -> None:
    api = "coingecko"
    emu = emulator_factory(coins=COINS)
    settings = settings_for(db_url, emu, kind)
    before = await load_baseline(engine, settings, emu, api)
    first = 1 if kind in ("429", "timeout") else 2  # the slow ones once, the others twice
    emu.state.set_faults([fault_spec(api, kind, first=first, retry_after=1)])

    res = (await run_logged(engine, settings, api))[api]

    assert res.status == "success", res.error
    assert res.error is None
    assert (res.pages, res.rejected) == (PAGES, 0)
    stats = emu.state.stats()[api]
    assert stats["requests"] == PAGES + first  # page 2 took first + 1 attempts
    assert stats["faults_injected"] == first
    await check_run(engine, res, before)
    assert await quarantine_rows(engine) == []
    after = await observation_values(engine)
    expected = await reference_tick_values(reference_store, settings, emu, api)
    assert after == {**expected, **before}


@pytest.mark.parametrize("api", ["coingecko", "coinpaprika"])
@pytest.mark.parametrize("kind", list(ERROR_FAULTS))
async def test_persistent_error_fault_fails_the_run_keeps_earlier_pages_and_resumes(
    engine: AsyncEngine,
    db_url: str,
    emulator_factory: EmulatorFactory,
    reference_store: ReferenceStore,
    kind: str,
    api: str,
) -> None:
    emu = emulator_factory(coins=COINS)
    settings = settings_for(db_url, emu, kind, attempts=2)  # 2 attempts: bounded, and quick
    before = await load_baseline(engine, settings, emu, api)
    emu.state.set_faults([fault_spec(api, kind, retry_after=1)])

    failed = (await run_logged(engine, settings, api))[api]

    assert failed.status == "failed"
    error = failed.error or ""
    assert error.startswith(f"{api} {ROUTE[api]}: "), error
    assert ERROR_FAULTS[kind] in error, error
    assert "\n" not in error and "\r" not in error and len(error) < 400, error
    assert emu.state.stats()[api]["faults_injected"] == settings.http_max_attempts
    committed = FAULTY_PAGE - 1 if api == "coingecko" else 0  # the pages before the fault
    assert failed.pages == committed and failed.rejected == 0
    await check_run(engine, failed, before)
    assert await quarantine_rows(engine) == []
    state = await checkpoint(engine, api)
    assert state is not None
    if api == "coingecko":
        assert (state["in_progress"], state["next_page"], state["_run_id"]) == (
            True,
            FAULTY_PAGE,
            failed.run_id,
        )

    # The upstream recovers: the next run resumes after the last committed page.
    emu.state.clear_faults()
    partial_load = await observation_values(engine)
    resumed = (await run_logged(engine, settings, api))[api]
    assert resumed.status == "success", resumed.error
    await check_run(engine, resumed, partial_load)
    if api == "coingecko":
        assert resumed.resumed_from == failed.run_id
        assert resumed.pages == PAGES - committed
    expected = await reference_tick_values(reference_store, settings, emu, api)
    assert await observation_values(engine) == {**expected, **before}
    state = await checkpoint(engine, api)
    assert state is not None and state["in_progress"] is False
    assert state["_run_id"] == resumed.run_id


# --- data faults ------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["coingecko", "coinpaprika"])
@pytest.mark.parametrize("kind", [*REJECTING_FAULTS, *HARMLESS_FAULTS])
async def test_data_fault_quarantines_exactly_the_bad_rows_and_loads_the_rest(
    engine: AsyncEngine,
    db_url: str,
    emulator_factory: EmulatorFactory,
    reference_store: ReferenceStore,
    kind: str,
    api: str,
) -> None:
    emu = emulator_factory(coins=COINS)
    settings = settings_for(db_url, emu, kind)
    before = await load_baseline(engine, settings, emu, api)
    emu.state.set_faults([fault_spec(api, kind, rows=3)])

    res = (await run_logged(engine, settings, api))[api]

    ids = await first_ids(emu, api)
    assert res.pages == apis_pages(api)
    await check_run(engine, res, before)
    quarantined = await quarantine_rows(engine, run_id=res.run_id)
    if kind in REJECTING_FAULTS:
        assert res.status == "partial" and res.error is None
        assert res.rejected == 3
        sids = [None, *ids[1:]] if kind == "null_required" else ids
        if kind == "surrogate_id":
            # Stored with the surrogate written as its escape: no UTF-8 store takes it raw.
            sids = [f"{sid}\\ud800" for sid in ids]
        want = sorted(
            ((api, sid, reason) for sid, reason in zip(sids, REJECTING_FAULTS[kind], strict=True)),
            key=lambda r: (r[0], r[1] or "", r[2]),
        )
        assert quarantined == want
    else:
        assert res.status == "success", res.error
        assert res.rejected == 0 and quarantined == []
    # duplicate_rows appends 3 identical copies: fetched, and counted as unchanged.
    assert res.fetched == len(before) + (3 if kind == "duplicate_rows" else 0)
    if kind == "large_response":
        assert emu.state.stats()[api]["bytes_sent"] >= 8 * 1024 * 1024
    drift = await drift_rows(engine, api)
    assert set(drift) == expected_drift(kind, api)
    assert all(row["last_run_id"] == res.run_id for row in drift.values())
    if kind == "renamed_field":
        price = PRICE_FIELD[api]
        assert drift[(price, "missing")]["suggestion"].endswith("price_usd_current")
        assert drift[("last_updated", "missing")]["suggestion"] == "updated_at"
        assert drift[(price, "missing")]["confidence"] > 0

    # Everything else equals a fault-free run; the bad rows were not guessed into the store.
    after = await observation_values(engine)
    expected = await reference_tick_values(reference_store, settings, emu, api)
    if kind in REJECTING_FAULTS:
        bad = set(ids)
        expected = {k: v for k, v in expected.items() if k[1] not in bad}
    assert after == {**expected, **before}
