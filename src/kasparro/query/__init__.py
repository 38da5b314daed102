"""Read-side repositories: every SQL statement the API runs lives in this package.

Routers never build queries; they call these functions with validated, typed arguments.
Hot-path queries render decimals and timestamps to their final JSON text *in SQL* (exact on
both dialects) so rows come back as plain tuples of ``str | int | None`` that need no
per-value Python processing before ``orjson`` serializes them.
"""
