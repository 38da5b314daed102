"""Body parsing shared by JSON sources: exact decimals, and a clear error for non-arrays."""

from __future__ import annotations

from typing import Any

from kasparro.normalize.common import loads_exact


def parse_json_array(body: bytes) -> list[Any]:
    """Parse a JSON array body; anything else raises ValueError (retried by the fetcher)."""
    if not body.strip():
        raise ValueError("empty body")
    try:
        data = loads_exact(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from exc
    if not isinstance(data, list):
        raise ValueError(f"expected a JSON array, got {type(data).__name__}")
    return data
