"""Lake tests need pyarrow and DuckDB (the dev extra installs both)."""

from __future__ import annotations

import pytest

pytest.importorskip("pyarrow", reason="pip install 'kasparro[lake]'")
pytest.importorskip("duckdb", reason="the dev extra installs duckdb")
