"""Statistics and tables of the benchmark suite: medians with their spread, ratios, the
printed (and markdown) tables."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def summarize(samples: Sequence[float]) -> dict[str, Any]:
    values = [float(s) for s in samples]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0, "samples": []}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "samples": values,
    }


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def fmt_spread(s: dict[str, Any], digits: int = 0, scale: float = 1.0) -> str:
    """``median [min-max]`` of a summary (or just the median for one sample)."""
    if not s or s.get("median") is None:
        return "-"
    med = fmt_num(s["median"] * scale, digits)
    if s["n"] <= 1:
        return med
    return f"{med} [{fmt_num(s['min'] * scale, digits)}-{fmt_num(s['max'] * scale, digits)}]"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "n/a"}[met]


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [f"\n## {title}"]
    for n, row in enumerate(cells):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


# --- processes ----------------------------------------------------------------------------
