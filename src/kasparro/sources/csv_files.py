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
from typing import Any

import structlog

from kasparro.models import Normalized, Rejection
from kasparro.normalize.csv_rows import normalize_csv_row
from kasparro.normalize.drift import Contract
from kasparro.sources.base import MarketSource, Page, RawResponse, SourceContext, SourceError

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


class CsvSource(MarketSource):
    name = "csv"
    namespace = "csv"

    def __init__(self, ctx: SourceContext) -> None:
        self.paths = [Path(p) for p in ctx.settings.csv_paths]
        self.batch_rows = ctx.settings.csv_batch_rows

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
