"""Local CSV files of market rows, ingested incrementally by byte position.

Checkpoint per file: the byte offset reached and a SHA-256 of the bytes before it. Appended
rows are picked up from the offset; when the prefix no longer matches (the file was rewritten
or truncated) the file is reprocessed from the start, idempotently (already-loaded rows count
as unchanged). An unterminated last line is processed but the offset stays before it, so a
line still being written is read again once complete: nothing is skipped.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import structlog
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from kasparro.models import Normalized, Rejection
from kasparro.normalize.csv_rows import normalize_csv_row
from kasparro.normalize.drift import Contract
from kasparro.sources.base import (
    MarketSource,
    Page,
    RawResponse,
    SourceContext,
    SourceError,
    SourceKind,
)
from kasparro.sources.config import SourceSettings
from kasparro.sources.spec import Provider, SourceSpec

log = structlog.get_logger(__name__)


def _prefix_digest(path: Path, length: int) -> str:
    h = hashlib.sha256()
    remaining = length
    with path.open("rb") as f:
        while remaining > 0:
            chunk = f.read(min(1 << 20, remaining))
            if not chunk:
                break
            h.update(chunk)
            remaining -= len(chunk)
    return h.hexdigest()


def _split_lines(data: bytes) -> Iterator[tuple[bytes, int]]:
    """Yield (line, end_offset_within_data) for each line, terminated or not."""
    start = 0
    while start < len(data):
        nl = data.find(b"\n", start)
        end = len(data) if nl == -1 else nl + 1
        yield data[start:end], end
        start = end


SAMPLE_CSV = Path(__file__).resolve().parents[1] / "data" / "sample_markets.csv"


class CsvSettings(SourceSettings):
    """``KASPARRO_CSV_*``. Default: the sample file shipped with the package (demo data,
    clearly labelled as such)."""

    paths: Annotated[
        list[Path],
        NoDecode,
        Field(
            description="comma-separated CSV files (format in the README)",
            json_schema_extra={"shown_default": "the bundled sample"},
        ),
    ] = Field(default_factory=lambda: [SAMPLE_CSV])
    batch_rows: Annotated[int, Field(ge=1, le=5000, description="rows per page")] = 1000
    schedule_seconds: Annotated[
        float, Field(gt=0, description="how often the scheduler reads the files")
    ] = 300.0

    @field_validator("paths", mode="before")
    @classmethod
    def _split_paths(cls, v: object) -> object:
        if isinstance(v, str):
            return [Path(p.strip()) for p in v.replace(";", ",").split(",") if p.strip()]
        return v


class CsvSource(MarketSource):
    name = "csv"
    namespace = "csv"

    def __init__(self, ctx: SourceContext) -> None:
        config = ctx.config_as(CsvSettings)
        self.paths = list(config.paths)
        self.batch_rows = config.batch_rows

    def normalize(self, item: Any) -> Normalized:
        row = {k: v for k, v in item.items() if not k.startswith("__")}
        if "__error__" in item:
            return Rejection(
                f"line {item.get('__line__')}: {item['__error__']}", item, row.get("id") or None
            )
        return normalize_csv_row(row, source=self.name)

    def contract_for(self, endpoint: str) -> Contract | None:
        return None  # the user's own files: normalize_csv_row names every bad column

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        files: dict[str, dict[str, Any]] = dict((checkpoint or {}).get("files", {}))
        number = 0
        missing: list[str] = []
        for path in self.paths:
            key = str(path.resolve())
            if not path.is_file():
                missing.append(str(path))
                continue
            for page_items, raw, state in self._file_pages(path, files.get(key)):
                number += 1
                files[key] = state
                yield Page(
                    number=number,
                    raw=raw,
                    items=page_items,
                    checkpoint={"in_progress": True, "files": dict(files)},
                )
        if missing:
            raise SourceError(f"csv: file not found: {', '.join(missing)}")
        # A final, empty page closes the run's checkpoint (in_progress false).
        number += 1
        yield Page(
            number=number,
            raw=RawResponse("csv:end", {}, None, "text/csv", b"", datetime.now(UTC)),
            items=[],
            checkpoint={"in_progress": False, "files": files},
        )

    def _file_pages(
        self, path: Path, state: dict[str, Any] | None
    ) -> Iterator[tuple[list[dict[str, str]], RawResponse, dict[str, Any]]]:
        data = path.read_bytes()
        offset = 0
        if state:
            prev = int(state.get("offset", 0))
            if prev <= len(data) and _prefix_digest(path, prev) == state.get("prefix_sha256"):
                offset = prev
            else:
                log.warning("csv_file_rewritten_reprocessing", path=str(path))
        header_end = data.find(b"\n")
        if header_end == -1:
            return  # empty or header-only-without-newline: nothing to load yet
        header = next(csv.reader([data[:header_end].decode("utf-8-sig")]))
        header = [h.strip() for h in header]
        offset = max(offset, header_end + 1)
        body = data[offset:]
        batch: list[dict[str, str]] = []
        batch_start = offset
        line_no = data.count(b"\n", 0, offset) + 1
        committed = offset  # offset after the last *terminated* line in the batch
        for line, end in _split_lines(body):
            terminated = line.endswith(b"\n")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text.strip():
                values = next(csv.reader([text]))
                row = dict(zip(header, values, strict=False))
                if len(values) != len(header):
                    row["__error__"] = f"expected {len(header)} columns, got {len(values)}"
                row["__line__"] = str(line_no)
                batch.append(row)
            line_no += 1
            if terminated:
                committed = offset + end
            if len(batch) >= self.batch_rows:
                yield self._page(path, data, batch, batch_start, offset + end, committed)
                batch, batch_start = [], offset + end
        if batch:
            yield self._page(path, data, batch, batch_start, len(data), committed)

    @staticmethod
    def _page(
        path: Path,
        data: bytes,
        batch: list[dict[str, str]],
        start: int,
        end: int,
        committed: int,
    ) -> tuple[list[dict[str, str]], RawResponse, dict[str, Any]]:
        raw = RawResponse(
            endpoint=f"file:{path}",
            params={"offset": start, "end": end},
            status=None,
            content_type="text/csv",
            body=data[start:end],
            fetched_at=datetime.now(UTC),
        )
        state = {
            "offset": committed,
            "prefix_sha256": hashlib.sha256(data[:committed]).hexdigest(),
            "size": len(data),
        }
        return batch, raw, state


CSV = Provider(
    name="csv",
    label="CSV",
    settings=CsvSettings,
    color="#34c38f",
    sources=(
        SourceSpec(
            "csv",
            SourceKind.MARKET,
            CsvSource,
            "schedule_seconds",
            "local CSV files of market rows, read incrementally",
        ),
    ),
    description="local CSV files (KASPARRO_CSV_PATHS)",
    live=False,
)
