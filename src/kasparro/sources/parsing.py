"""Body parsing shared by JSON sources: exact decimals, and a clear error for non-arrays."""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from typing import Any, overload

import msgspec

from kasparro.normalize.common import loads_exact

# Bodies are validated as UTF-8 in slices of this size: no full-size str copy of the body.
_UTF8_SLICE = 1 << 20


class JsonArray(Sequence[Any]):
    """The elements of a JSON array body, each decoded (exactly, see ``loads_exact``) when it
    is read, not all at once.

    Why: CoinPaprika's ``/tickers`` is one ~36 MB array. Decoded whole, its dicts of Decimals
    took ~230 MB of memory; here the body is validated and split once (``msgspec.Raw`` views
    into the body, no copies) and the pipeline decodes and drops it a batch at a time.
    Every access decodes again: iterate once per use.
    """

    __slots__ = ("_elements",)

    def __init__(self, elements: Sequence[msgspec.Raw] | list[Any]) -> None:
        self._elements = elements

    def __len__(self) -> int:
        return len(self._elements)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> JsonArray: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return JsonArray(self._elements[index])
        return _decode(self._elements[index])

    def __iter__(self) -> Iterator[Any]:
        for element in self._elements:
            yield _decode(element)

    def __repr__(self) -> str:
        return f"JsonArray({len(self)} elements)"


def _decode(element: Any) -> Any:
    return loads_exact(element) if type(element) is msgspec.Raw else element


_split = msgspec.json.Decoder(list[msgspec.Raw])


def parse_json_array(body: bytes) -> JsonArray:
    """Parse a JSON array body; anything else raises ValueError (retried by the fetcher).

    The whole body is validated here, so a malformed one is still a page-level failure
    before anything is loaded from it."""
    if not body.strip():
        raise ValueError("empty body")
    try:
        elements: Sequence[Any] = _split.decode(body)
        # The split checks the JSON grammar but not the bytes inside strings.
        decoder = codecs.getincrementaldecoder("utf-8")()
        view = memoryview(body)
        for start in range(0, len(body), _UTF8_SLICE):
            decoder.decode(view[start : start + _UTF8_SLICE])
        decoder.decode(b"", final=True)
    except RecursionError:
        raise ValueError("invalid JSON (nested too deeply)") from None
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        # Not strict UTF-8 JSON, or not an array: the stdlib decoder gives the verdict (and
        # accepts what it accepts: a BOM, UTF-16, NaN literals).
        try:
            data = loads_exact(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"invalid JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from exc
        if not isinstance(data, list):
            raise ValueError(f"expected a JSON array, got {type(data).__name__}") from None
        elements = data
    return JsonArray(elements)
