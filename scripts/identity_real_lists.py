"""Score the identity linkers on REAL coin lists, and on the emulator's universes.

    .venv/bin/python scripts/identity_real_lists.py [--seeds 1,2,3] [--coins 2500]
        [--emulator-seeds 1,2,3] [--show]

Real lists (``tests/fixtures/upstream/real-lists/``): CoinGecko's ``/coins/list`` of
2022-04-25 and CoinPaprika's ``/v1/coins`` of 2020-05-07, with CoinPaprika's ``/v1/tickers``
of 2019-10-04 for market caps, scored against the hand-curated crosswalk
(``tests/fixtures/identity/crosswalk.csv``):

- precision = linked crosswalk pairs that are the same coin / linked pairs touching a
  crosswalk coin whose verdict is known (a link to a coin that is a crosswalk coin's known
  partner's rival, or a ``same=0`` pair, is a wrong merge),
- recall = ``same=1`` pairs linked / ``same=1`` pairs,
- review = pairings left to a human (and their share of the coins with market data).

Market caps (CoinGecko's are not in the lists, so they are made, seeded):

- ``none``: no caps at all (CoinPaprika's list rank only): they carry no evidence;
- ``agree``: as real aggregators mostly do: each CoinGecko coin of a crosswalk pair gets its
  partner's real 2019 cap within a few percent (a tenth of them within 30 %; one in twenty
  0 for a missing supply below the tickers' top 500, where none of the real tickers shows
  0); other CoinGecko coins get the cap of their exact namesake's
  ticker if there is one, else (one in four) a random real cap from beyond the top 1,000
  of the tickers (a coin without a ticked namesake is most likely small), or none;
- ``disagree``: as ``agree`` but the crosswalk pairs' caps are 10^-3..10^3 apart at random,
  or 0 on the CoinGecko side three times in ten (an extreme, but legal, input).

Arrival orders: ``market first`` (caps known at the first link), ``reference first`` (a link
on reference data alone, then on everything), ``together`` (a link on half of the market
data, then on everything), each run with shuffled inputs; ``relink +`` counts the pairs a
second relink of the same data changes. (The figures of identity v2's linker, which kept
earlier automatic links and so depended on the order, are kept in DATA_QUALITY.md.)

Emulator universes (``build_universe(coins, seed)``): the candidates each API would list
(CoinGecko: its coins list with platforms and its markets; CoinPaprika: its coins, contracts
and tickers), scored against the universe's own truth.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from kasparro.identity import Candidate, link_coins

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "fixtures" / "upstream" / "real-lists"
CROSSWALK = ROOT / "tests" / "fixtures" / "identity" / "crosswalk.csv"
CG, CP = "coingecko", "coinpaprika"
SCENARIOS = ("none", "agree", "disagree")
ORDERS = ("market first", "reference first", "together")


@dataclass(frozen=True)
class RealLists:
    coingecko: list[dict[str, Any]]
    coinpaprika: list[dict[str, Any]]
    tickers: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Crosswalk:
    same: frozenset[tuple[str, str]]
    different: frozenset[tuple[str, str]]

    @property
    def partner_cg(self) -> dict[str, str]:
        return dict(self.same)

    @property
    def partner_cp(self) -> dict[str, str]:
        return {cp: cg for cg, cp in self.same}


def load_real_lists(folder: Path = REAL) -> RealLists:
    def read(name: str) -> Any:
        return json.loads((folder / name).read_text())

    tickers = {t["id"]: t for t in read("coinpaprika__tickers__2019-10-04.json")}
    return RealLists(
        read("coingecko__coins-list__2022-04-25.json"),
        read("coinpaprika__coins__2020-05-07.json"),
        tickers,
    )


def load_crosswalk(path: Path = CROSSWALK) -> Crosswalk:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    same, different = set(), set()
    for row in csv.DictReader(lines):
        pair = (row["coingecko_id"], row["coinpaprika_id"])
        (same if row["same"] == "1" else different).add(pair)
    return Crosswalk(frozenset(same), frozenset(different))


# --- candidates from the real lists ----------------------------------------------------------


def _ticker_cap(ticker: dict[str, Any] | None) -> Decimal | None:
    if ticker is None:
        return None
    cap = ticker["quotes"]["USD"].get("market_cap")
    return None if cap is None else Decimal(str(cap))


def _made_caps(
    lists: RealLists, walk: Crosswalk, scenario: str, seed: int
) -> dict[str, Decimal | None]:
    """CoinGecko id -> the market cap it shows in ``scenario`` (seeded)."""
    rng = random.Random(seed)
    # A coin without a ticked namesake is most likely small: its cap is drawn from the tail.
    real = [c for t in lists.tickers.values() if t["rank"] > 1000 and (c := _ticker_cap(t))]
    exact: dict[tuple[str, str], list[str]] = {}
    for coin in lists.coinpaprika:
        exact.setdefault((coin["symbol"].lower(), coin["name"].lower()), []).append(coin["id"])
    partner = walk.partner_cg
    caps: dict[str, Decimal | None] = {}
    for coin in sorted(lists.coingecko, key=lambda c: c["id"]):
        cid = coin["id"]
        twin = partner.get(cid)
        if twin is None:
            named = exact.get((coin["symbol"].lower(), coin["name"].lower()), [])
            twin = named[0] if len(named) == 1 else None
            in_walk = False
        else:
            in_walk = True
        base = _ticker_cap(lists.tickers.get(twin)) if twin else None
        if base is None or base == 0:
            caps[cid] = rng.choice(real) if rng.random() < 0.25 else None
            continue
        if scenario == "disagree" and in_walk:
            caps[cid] = (
                Decimal(0)
                if rng.random() < 0.3
                else (base * Decimal(str(10 ** rng.uniform(-3, 3)))).quantize(Decimal(1))
            )
        elif rng.random() < (0.05 if lists.tickers[twin]["rank"] > 500 else 0.0):  # type: ignore[index]
            caps[cid] = Decimal(0)  # a missing supply: never in the top 500 of the tickers
        else:
            spread = 0.3 if rng.random() < 0.1 else 0.04
            caps[cid] = (base * Decimal(str(math.exp(rng.gauss(0, spread))))).quantize(Decimal(1))
    return caps


def real_candidates(
    lists: RealLists, walk: Crosswalk, scenario: str, seed: int = 1, *, market: bool = True
) -> list[Candidate]:
    """Both lists as the linker sees them in ``scenario``; ``market=False``: reference data
    only (CoinPaprika's list rank, no caps)."""
    caps = _made_caps(lists, walk, scenario, seed)
    trades = _made_caps(lists, walk, "agree", seed)  # which coins have market data at all
    ranked = sorted((c for c in caps.items() if c[1]), key=lambda kv: (-kv[1], kv[0]))  # type: ignore[operator]
    cg_rank = {cid: i for i, (cid, _) in enumerate(ranked, 1)}
    out = []
    for coin in lists.coingecko:
        cid = coin["id"]
        use = market and scenario != "none"
        out.append(
            Candidate(
                CG,
                cid,
                coin["symbol"],
                coin["name"],
                market_cap=caps[cid] if use else None,
                rank=cg_rank.get(cid) if use else None,
                active=True,
                has_market_data=trades[cid] is not None,
            )
        )
    for coin in lists.coinpaprika:
        ticker = lists.tickers.get(coin["id"])
        use = market and scenario != "none" and ticker is not None
        out.append(
            Candidate(
                CP,
                coin["id"],
                coin["symbol"],
                coin["name"],
                market_cap=_ticker_cap(ticker) if use else None,
                rank=(ticker["rank"] if use else coin["rank"]) or None,  # type: ignore[index]
                active=coin["is_active"],
                has_market_data=ticker is not None,
            )
        )
    return out


# --- scoring ---------------------------------------------------------------------------------


def score(pairs: set[tuple[str, str]], walk: Crosswalk) -> dict[str, Any]:
    partner_cg, partner_cp = walk.partner_cg, walk.partner_cp
    judged, wrong = 0, []
    for cg, cp in pairs:
        if (cg, cp) in walk.same:
            judged += 1
        elif (
            (cg, cp) in walk.different
            or (cg in partner_cg and partner_cg[cg] != cp)
            or (cp in partner_cp and partner_cp[cp] != cg)
        ):
            judged += 1
            wrong.append((cg, cp))
    right = len(pairs & walk.same)
    return {
        "precision": right / judged if judged else 1.0,
        "recall": right / len(walk.same),
        "wrong": sorted(wrong),
        "missed": sorted(walk.same - pairs),
    }


def _half_market(
    full: Sequence[Candidate], reference: Sequence[Candidate], seed: int
) -> list[Candidate]:
    rng = random.Random(seed)
    return [f if rng.random() < 0.5 else r for f, r in zip(full, reference, strict=True)]


def arrivals(
    full: Sequence[Candidate], reference: Sequence[Candidate], seed: int
) -> dict[str, list[Sequence[Candidate]]]:
    """The states the linker sees, in order, per arrival order."""
    return {
        "market first": [full],
        "reference first": [reference, full],
        "together": [_half_market(full, reference, seed), full],
    }


def evaluate(
    full: Sequence[Candidate],
    reference: Sequence[Candidate],
    walk_score: Callable[[set[tuple[str, str]]], dict[str, Any]],
    seed: int,
) -> list[dict[str, Any]]:
    rows = []
    for order, states in arrivals(full, reference, seed).items():
        shuffled: list[Candidate] = []
        new_plan = None
        for i, state in enumerate(states):
            shuffled = list(state)
            random.Random(seed + i).shuffle(shuffled)
            new_plan = link_coins(shuffled)
        assert new_plan is not None
        again_new = link_coins(list(reversed(shuffled)))
        pairs = new_plan.pairs()
        rows.append(
            {
                "linker": "new",
                "order": order,
                **walk_score(pairs),
                "review": len(new_plan.review),
                "relink_changes": len(pairs ^ again_new.pairs()),
                "detail_wanted": len(new_plan.detail_wanted),
            }
        )
    return rows


def real_report(seeds: Sequence[int]) -> list[dict[str, Any]]:
    lists, walk = load_real_lists(), load_crosswalk()
    out = []
    for seed in seeds:
        for scenario in SCENARIOS:
            full = real_candidates(lists, walk, scenario, seed)
            reference = real_candidates(lists, walk, scenario, seed, market=False)
            traded = sum(c.has_market_data for c in full)
            for row in evaluate(full, reference, lambda p: score(p, walk), seed):
                out.append({"seed": seed, "caps": scenario, "traded": traded, **row})
    return out


# --- emulator universes ------------------------------------------------------------------------


def emulator_candidates(
    coins: int, seed: int
) -> tuple[list[Candidate], list[Candidate], set[tuple[str, str]]]:
    """(with market data, reference only, true pairs) of ``build_universe(coins, seed)``."""
    from kasparro.emulator.universe import build_universe
    from kasparro.identity.chains import canonical_chain, normalize_address

    universe = build_universe(coins, seed)
    full, reference = [], []
    for asset in universe.assets:
        ident = asset.identity
        if asset.cg_id is not None:
            contracts = frozenset(
                (chain, normalize_address(addr))
                for platform, addr in (ident.cg_platforms if ident else ())
                if addr and (chain := canonical_chain(CG, platform))
            )
            cap = Decimal(asset.market_cap) if asset.market_cap is not None else None
            c = Candidate(
                CG, asset.cg_id, asset.symbol, asset.name, contracts, cap, asset.rank, True, True
            )
            full.append(c)
            reference.append(replace(c, market_cap=None, rank=None))
        if asset.cp_id is not None:
            contracts = frozenset(
                (chain, normalize_address(addr))
                for platform, addr, _ in (ident.cp_contracts if ident else ())
                if (chain := canonical_chain(CP, platform))
            )
            # CoinPaprika's cap as the identity model says it differs (0: a missing supply);
            # a dead duplicate has no market data.
            permille = ident.cp_cap_permille if ident else 1000
            traded = asset.market_cap is not None and asset.origin != "duplicate"
            cap = Decimal(asset.market_cap * permille // 1000) if traded else None  # type: ignore[operator]
            c = Candidate(
                CP,
                asset.cp_id,
                asset.cp_symbol,
                asset.cp_name,
                contracts,
                cap,
                asset.cp_rank if traded else None,
                not asset.stale,
                traded,
            )
            full.append(c)
            reference.append(replace(c, market_cap=None))
    truth = {(a, b) for a, b in universe.cross_listed()}
    return full, reference, truth


def emulator_report(coins: int, seeds: Sequence[int]) -> list[dict[str, Any]]:
    out = []
    for seed in seeds:
        full, reference, truth = emulator_candidates(coins, seed)
        traded = sum(c.has_market_data for c in full)

        def walk_score(
            pairs: set[tuple[str, str]], truth: set[tuple[str, str]] = truth
        ) -> dict[str, Any]:
            right = pairs & truth
            wrong = sorted(pairs - truth)
            return {
                "precision": len(right) / len(pairs) if pairs else 1.0,
                "recall": len(right) / len(truth) if truth else 1.0,
                "wrong": wrong,
                "missed": sorted(truth - pairs),
            }

        for row in evaluate(full, reference, walk_score, seed):
            out.append({"seed": seed, "caps": "emulator", "traded": traded, **row})
    return out


def _table(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        "| seed | caps | order | linker | precision | recall | wrong merges | review (% of traded)"
        " | relink changes |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        share = 100 * r["review"] / r["traded"] if r["traded"] else 0.0
        lines.append(
            f"| {r['seed']} | {r['caps']} | {r['order']} | {r['linker']} | {r['precision']:.4f}"
            f" | {r['recall']:.4f} | {len(r['wrong'])} | {r['review']} ({share:.2f} %)"
            f" | {r['relink_changes']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--coins", type=int, default=2500)
    parser.add_argument("--emulator-seeds", default="1,2,3")
    parser.add_argument("--show", action="store_true", help="list wrong merges and misses")
    args = parser.parse_args()
    started = time.monotonic()
    rows = real_report([int(s) for s in args.seeds.split(",")])
    print("## Real lists (CoinGecko 2022 x CoinPaprika 2020, crosswalk)\n")
    print(_table(rows))
    emu = emulator_report(args.coins, [int(s) for s in args.emulator_seeds.split(",") if s])
    if emu:
        print(f"\n## Emulator universes ({args.coins} coins)\n")
        print(_table(emu))
    if args.show:
        for r in [*rows, *emu]:
            if r["linker"] == "new":
                print(r["seed"], r["caps"], r["order"], "wrong", r["wrong"], "missed", r["missed"])
    print(f"\n({time.monotonic() - started:.0f} s)", file=sys.stderr)
    new = [r for r in [*rows, *emu] if r["linker"] == "new"]
    realistic = [r for r in new if r["caps"] in ("agree", "emulator")]
    ok = all(r["precision"] >= 0.995 and not r["wrong"] for r in new) and all(
        r["recall"] >= 0.98 for r in realistic
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
