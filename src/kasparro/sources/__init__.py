"""Sources: the upstreams Kasparro reads. What a source (built in, or a third-party plugin
in its own package) builds on is exported here; see docs/sources.md."""

from kasparro.models import MarketRecord, Normalized, Rejection
from kasparro.normalize.common import loads_exact
from kasparro.normalize.drift import Contract, FieldSpec
from kasparro.sources.base import (
    HistorySource,
    MarketSource,
    Page,
    RawResponse,
    ReferenceSource,
    Source,
    SourceContext,
    SourceError,
    SourceKind,
    TerminalSourceError,
    TransientSourceError,
)
from kasparro.sources.config import HttpSourceSettings, SourceSettings
from kasparro.sources.parsing import parse_json_array
from kasparro.sources.spec import Provider, SourceSpec

__all__ = [
    "Contract",
    "FieldSpec",
    "HistorySource",
    "HttpSourceSettings",
    "MarketRecord",
    "MarketSource",
    "Normalized",
    "Page",
    "Provider",
    "RawResponse",
    "ReferenceSource",
    "Rejection",
    "Source",
    "SourceContext",
    "SourceError",
    "SourceKind",
    "SourceSettings",
    "SourceSpec",
    "TerminalSourceError",
    "TransientSourceError",
    "loads_exact",
    "parse_json_array",
]
