"""A clone of the repository is all the suite, the emulator and the demo read.

The recorded upstream payloads live in ``tests/fixtures/upstream/`` (tests) and
``src/kasparro/emulator/seed/`` (emulator, shipped as package data); a developer's machine may
also have the team's sample folder beside the checkout, a user's clone never does.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = ROOT / "tests" / "fixtures" / "upstream"

# The digests PROVENANCE.md abbreviates: the bundled copies are the recorded bytes.
DIGESTS = {
    "coingecko/coins-markets__vs-usd_per_page-250_page-1_pcp-1h-24h-7d-14d-30d-200d-1y"
    "__2022-02-23.json": "fb83fff7b96e9ee49c521098f3a071d6f756ed31a70bdc1151b63a306fcd1303",
    "coingecko/coins-markets__vs-usd_ids-bitcoin__2021-05-15.json": (
        "a4ac8ce91e58c6e7a0f0ba72d94cbfcc059c7bf25e03792cbfbe6e298b110003"
    ),
    "coingecko/coins-list__2021-05-15.json": (
        "b857213597b224ef6b948a1d640ed7c15e08fd779797de783f195887f33c0ff7"
    ),
    "coingecko/docs-examples/coins-markets.oas-example.json": (
        "e8e356b1d8915085edf0cdbcb7d9e35fb7df243c5a735f99756aca8a411625d4"
    ),
    "coingecko/docs-examples/coins-list.oas-example.json": (
        "614319ba60934bdfe215eeb53a67ee3abd6edcc45dd0df3e24c15d2f600cb545"
    ),
    "coinpaprika/tickers-id__btc-bitcoin_quotes-USD__2022-04-19.json": (
        "209a34dfe09d18800856d183a211ee2c4852e6d50bc19cd3925596057bb58a35"
    ),
    "coinpaprika/coins-id__eth-ethereum__2022-11-15.json": (
        "f601542cdac4788fe2d3e73ec693d6f73b7a30073ef7d3ee04076f7b875c97d8"
    ),
    "real-lists/coingecko__coins-list__2022-04-25.json": (
        "94a9ccf6fd50d68429829cfde77cd6ea0a020dfd442e8f8f2fabc6c4accbed9e"
    ),
    "real-lists/coinpaprika__coins__2020-05-07.json": (
        "bb57e8a7c94fbd0a98be9f24e959d71ae6d3a8d76594e488e5df8b1dbb7812e4"
    ),
    "real-lists/coinpaprika__tickers__2019-10-04.json": (
        "eeb72a591fa0178ef2e4347682b2ca403252d7aa51f1bbf631adc6db64532ba0"
    ),
    "coingecko/coins-list-include-platform__2023-10.json": (
        "33fe8f9e8d3b41353878d0a63482cdf3a4f9fa27f5c2138f6f8c9effdddae678"
    ),
    "coingecko/asset-platforms__2023-10.json": (
        "04691b3253dadfd6d072b153d67c7ceea43fd53887f71f61dab1d099816cde0e"
    ),
}

# A path that climbs out of the checkout to the team's sample folder.
_OUTSIDE = re.compile(r"upstream-samples|\.\./shared|parents\[\d+\]\s*/\s*[\"']shared")


# This test, and CI's check that its clone has nothing beside it.
ALLOWED = {Path(__file__).resolve(), ROOT / ".ci" / "run"}


def _tracked() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):  # an exported tree without .git
        return [p for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    return [ROOT / name for name in out.decode().split("\0") if name]


@pytest.mark.parametrize("relative", sorted(DIGESTS))
def test_bundled_recording_is_the_recorded_bytes(relative: str) -> None:
    path = UPSTREAM / relative
    assert path.is_file(), f"{relative} is not bundled in tests/fixtures/upstream"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == DIGESTS[relative]
    assert relative in (UPSTREAM / "PROVENANCE.md").read_text(), "listed with its provenance"


def test_every_bundled_recording_has_its_provenance() -> None:
    bundled = {p.relative_to(UPSTREAM).as_posix() for p in UPSTREAM.rglob("*.json") if p.is_file()}
    assert bundled == set(DIGESTS)


def test_no_code_reads_outside_the_repository() -> None:
    offenders = []
    for path in _tracked():
        if path.suffix not in {".py", ".sh", ".toml", ".yml", ".yaml", ".cfg", ".ini"} and (
            path.name not in {"Makefile", "Dockerfile", "run"}
        ):
            continue
        if path in ALLOWED:
            continue
        text = path.read_text(errors="replace")
        offenders += [
            f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
            for n, line in enumerate(text.splitlines(), 1)
            if _OUTSIDE.search(line)
        ]
    assert not offenders, "reads outside the repository:\n" + "\n".join(offenders)
