"""Measure the reference rate against the emulator's ground truth, with bad days.

    .venv/bin/python scripts/rate_quality.py [--coins 600] [--seeds 1,2,3] [--ticks 24]

For each seed: the emulator's four venues (its venue model: every listing's quote at every
tick, bad days applied, exactly what the venues serve) on one clock, a tick a minute; every
listing linked to the coin the emulator says is behind it (the market linker is measured
separately: ``tests/venues/test_linking.py``, ``tests/venues/test_pipeline.py``); the rate
computed by ``kasparro.rates`` (the same code the pipeline runs: ``inputs.Window`` and
``compute.compute_bucket``) for every 1-minute bucket with data, the re-inclusion state
carried from bucket to bucket. Bad days: an outlier venue (OKX 8 % off from tick 4), a stale
venue (Binance frozen from tick 8), a halted market (Kraken SOL/USD from tick 2), a thin
market (Coinbase ADA/USD) and a USDT depeg (3 % from tick 12 to 18).

Measured, per seed (Markdown table, DATA_QUALITY.md keeps one):

- abs error of each value against the coin's true USD price at the newest tick in its bucket
  (a stablecoin: its true USD rate), median and 99th percentile, primary values;
- bad-day inputs that were included in a value (OKX while off, Binance once stale past the
  cut-off, the halted and the thin market): must be 0;
- the depeg's detection delay in buckets (0: flagged in the bucket of its first tick).
"""

from __future__ import annotations

import argparse
import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kasparro.emulator import EmulatorConfig
from kasparro.emulator.state import Emulator
from kasparro.emulator.venues.model import VENUES
from kasparro.rates.compute import compute_bucket
from kasparro.rates.inputs import QuoteRow, Window
from kasparro.rates.method import CURRENT

BAD_DAYS = [
    "outlier:okx:pct=8,from=4",
    "stale:binance:from=8",
    "halt:kraken:market=SOL/USD,from=2",
    "thin:coinbase:market=ADA/USD",
    "depeg:USDT:pct=3,from=12,to=18",
]
DEPEG_FROM = 12
STABLE_IDS = {"USDT": "tether", "USDC": "usd-coin"}


def quotes_at(emu: Emulator, tick: int, asset_ids: dict[str, int]) -> list[QuoteRow]:
    model = emu.venues.model
    rows = []
    for venue in VENUES:
        listings = model.listings(venue)
        # Coinbase's USDC books are its USD books: the real book names the alias (as ccxt
        # does), which is then left out.
        aliased = {(lst.base, "USD"): f"{lst.base}/USDC" for lst in listings if lst.alias_of}
        for lst in listings:
            q = model.quote(lst, tick)
            base = model.bad_days.renamed(venue, lst.base, tick)
            cg = lst.asset.cg_id if lst.asset else STABLE_IDS.get(lst.base)
            rows.append(
                QuoteRow(
                    venue=venue,
                    market_id=f"{base}/{lst.quote}",
                    base=base,
                    quote=lst.quote,
                    observed_at=datetime.fromtimestamp(q.time_ms / 1000, UTC),
                    last=q.last,
                    bid=q.bid,
                    ask=q.ask,
                    base_volume=q.base_volume,
                    quote_volume=None,
                    active=not q.halted,
                    alias=aliased.get((lst.base, lst.quote)),
                    asset_id=asset_ids.get(cg) if cg else None,
                )
            )
    return rows


def truth(emu: Emulator, asset_id: int, tick: int, by_id: dict[int, object]) -> Decimal:
    model = emu.venues.model
    t = model.internal_ms(tick)
    asset = by_id[asset_id]
    for currency, cg in STABLE_IDS.items():
        if getattr(asset, "cg_id", None) == cg:
            return model.usd_rate(currency, t, tick)
    return model.usd_price(asset, t)  # type: ignore[arg-type]


def bad_input(venue: str, market: str, tick: int) -> bool:
    stale_past_cutoff = venue == "binance" and tick >= 8 + 10  # 10 one-minute ticks
    return (
        (venue == "okx" and tick >= 4)
        or stale_past_cutoff
        or (venue == "kraken" and market == "SOL/USD" and tick >= 2)
        or (venue == "coinbase" and market == "ADA/USD")
    )


def measure(seed: int, coins: int, ticks: int) -> dict[str, object]:
    config = EmulatorConfig(
        coins=coins,
        seed=seed,
        tick_step_seconds=60,
        anchor=datetime(2026, 1, 1, tzinfo=UTC),
        venue_bad_days=BAD_DAYS,
    )
    emu = Emulator(config)
    assets = emu.universe.assets
    asset_ids = {a.cg_id: a.index + 1 for a in assets if a.cg_id}
    by_id = {a.index + 1: a for a in assets}
    symbols = {a.index + 1: a.symbol for a in assets}
    usdt = asset_ids.get("tether")
    history: list[QuoteRow] = []
    state: dict[int, frozenset[str]] = {}
    errors: list[Decimal] = []
    leaks = values = fallback = 0
    depeg_bucket: int | None = None
    for tick in range(ticks):
        history += quotes_at(emu, tick, asset_ids)
        at = datetime.fromtimestamp(emu.now_ms(tick) / 1000, UTC)
        bucket = at.replace(second=0, microsecond=0)
        end = bucket + timedelta(minutes=1)
        window = Window([q for q in history if q.observed_at >= end - CURRENT.lookback], [])
        for asset_id, candidates in window.candidates(bucket, end, CURRENT.lookback).items():
            rate = compute_bucket(
                [(0, end, candidates)],
                symbol=symbols.get(asset_id, ""),
                out_before=state.get(asset_id, frozenset()),
            )
            if rate is None:
                continue
            state[asset_id] = rate.out
            values += 1
            fallback += rate.fallback
            leaks += sum(i.included and bad_input(i.source, i.market, tick) for i in rate.inputs)
            if not rate.fallback:
                true = truth(emu, asset_id, tick, by_id)
                errors.append(abs(rate.value / true - 1))
            if asset_id == usdt and rate.depeg and tick >= DEPEG_FROM and depeg_bucket is None:
                depeg_bucket = tick - DEPEG_FROM
    errors.sort()
    return {
        "values": values,
        "fallback": fallback,
        "median": statistics.median(errors) if errors else None,
        "p99": errors[int(len(errors) * 0.99)] if errors else None,
        "max": errors[-1] if errors else None,
        "leaks": leaks,
        "depeg_delay": depeg_bucket,
    }


def bp(value: object) -> str:
    return "-" if value is None else f"{float(value) * 10_000:.2f} bp"  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coins", type=int, default=600)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--ticks", type=int, default=24)
    args = parser.parse_args()
    print(
        "| seed | coins | ticks | values (1m) | fallback | median abs error | p99 abs error "
        "| max | bad-day inputs included | depeg delay (buckets) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for seed in (int(s) for s in args.seeds.split(",")):
        r = measure(seed, args.coins, args.ticks)
        print(
            f"| {seed} | {args.coins} | {args.ticks} | {r['values']} | {r['fallback']} "
            f"| {bp(r['median'])} | {bp(r['p99'])} | {bp(r['max'])} | {r['leaks']} "
            f"| {r['depeg_delay'] if r['depeg_delay'] is not None else 'not flagged'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
