"""Schema drift detection: compare upstream records against the endpoint's expected contract.

Pure functions, no I/O. A contract lists each expected field (dotted path for nested objects)
with its allowed JSON types and whether it may be absent. A page is checked for:

- ``missing``: a required field absent from at least one record;
- ``unexpected``: a field the contract does not know;
- ``type_changed``: a value whose JSON type the contract does not allow.

For every missing field the most likely rename among the unexpected fields of the same page
is suggested with a confidence score (name similarity, weighted by type compatibility).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import SequenceMatcher
from typing import Any

from kasparro.normalize.common import storable_text

# Records whose nested values are type-checked (by default per call); key sets are checked on
# every record.
TYPE_SAMPLE = 64


@dataclass(frozen=True, slots=True)
class FieldSpec:
    types: frozenset[str]
    optional: bool = False  # may be absent without being drift (e.g. a free-plan omission)


@dataclass(frozen=True, slots=True)
class Contract:
    endpoint: str
    fields: dict[str, FieldSpec]
    # Families of dynamic keys that are expected, e.g. price_change_percentage_1h_in_currency.
    allowed_patterns: tuple[re.Pattern[str], ...] = ()
    # Object-typed fields whose children are described by dotted entries in ``fields``.
    nested: frozenset[str] = field(default_factory=frozenset)

    def knows(self, path: str) -> bool:
        return path in self.fields or any(p.fullmatch(path) for p in self.allowed_patterns)


@dataclass(frozen=True, slots=True)
class DriftFinding:
    field: str
    kind: str  # missing | unexpected | type_changed
    count: int
    expected: str | None
    observed: str | None
    sample: Any = None
    suggestion: str | None = None
    confidence: Decimal | None = None


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _flatten(record: dict[str, Any], nested: frozenset[str], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        path = f"{prefix}{key}"
        if path in nested and isinstance(value, dict):
            out[path] = value
            out.update(_flatten(value, nested, path + "."))
        else:
            out[path] = value
    return out


def _similarity(a: str, b: str) -> float:
    ta, tb = set(re.split(r"[._]", a.lower())), set(re.split(r"[._]", b.lower()))
    tokens = len(ta & tb) / max(1, len(ta | tb))
    return max(SequenceMatcher(None, a.lower(), b.lower()).ratio(), tokens)


def detect_drift(
    contract: Contract, records: Iterable[Any], *, type_sample: int = TYPE_SAMPLE
) -> list[DriftFinding]:
    missing: dict[str, int] = {}
    unexpected: dict[str, list[Any]] = {}
    wrong: dict[tuple[str, str], list[Any]] = {}
    required = [p for p, spec in contract.fields.items() if not spec.optional]
    known_keysets: set[frozenset[str]] = set()
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            continue  # not an object at all: the normalizer quarantines it
        check_types = i < type_sample
        keys = frozenset(rec)
        if keys in known_keysets and not check_types:
            continue  # same shape as a record already checked: nothing new to learn
        flat = _flatten(rec, contract.nested)
        for path in required:
            parent = path.rpartition(".")[0]
            if path not in flat and (not parent or parent in flat):
                missing[path] = missing.get(path, 0) + 1
        for path, value in flat.items():
            if not contract.knows(path):
                unexpected.setdefault(path, []).append(value)
                continue
            spec = contract.fields.get(path)
            if check_types and spec is not None:
                t = json_type(value)
                if t not in spec.types:
                    wrong.setdefault((path, t), []).append(value)
        if not missing and not unexpected:
            known_keysets.add(keys)

    findings: list[DriftFinding] = []
    for path, n in sorted(missing.items()):
        spec = contract.fields[path]
        suggestion, confidence = _suggest_rename(path, spec, unexpected)
        suggestion = None if suggestion is None else storable_text(suggestion)
        findings.append(
            DriftFinding(
                path, "missing", n, "|".join(sorted(spec.types)), None, None, suggestion, confidence
            )
        )
    for path, values in sorted(unexpected.items()):
        findings.append(
            DriftFinding(
                storable_text(path),
                "unexpected",
                len(values),
                None,
                json_type(values[0]),
                values[0],
            )
        )
    for (path, t), values in sorted(wrong.items()):
        spec = contract.fields[path]
        findings.append(
            DriftFinding(
                path, "type_changed", len(values), "|".join(sorted(spec.types)), t, values[0]
            )
        )
    return findings


def _suggest_rename(
    path: str, spec: FieldSpec, unexpected: dict[str, list[Any]]
) -> tuple[str | None, Decimal | None]:
    best: tuple[float, str] | None = None
    for candidate, values in unexpected.items():
        score = _similarity(path.rpartition(".")[2], candidate.rpartition(".")[2])
        if json_type(values[0]) not in spec.types:
            score *= 0.5
        parent = path.rpartition(".")[0]
        if parent and parent == candidate.rpartition(".")[0]:
            score = min(1.0, score + 0.1)  # moved within the same nested object
        if best is None or score > best[0]:
            best = (score, candidate)
    if best is None or best[0] < 0.3:
        return None, None
    return best[1], Decimal(str(round(best[0], 2)))
