"""Response models of the reference-rate API (OpenAPI; conventions as in
``kasparro.api.schemas``: decimals are exact strings, timestamps RFC 3339 UTC)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from kasparro.api.schemas import DECIMAL_DOC, DecimalStr, PageMeta


class RateInput(BaseModel):
    partition: int = Field(description="The partition of the bucket (1h: twelve of 5 min).")
    source: str = Field(description="The venue or the aggregator.")
    kind: str = Field(description="venue | cross (a quote currency measured) | aggregator")
    market: str = Field(description="The venue's market id, or the aggregator's coin id.")
    quote: str = Field(description="The quote currency of `price`.")
    price: DecimalStr = Field(description="In the quote currency. " + DECIMAL_DOC)
    quote_usd: DecimalStr | None = Field(description="USD per unit of `quote` used.")
    conversion: str = Field(description="definition (USD) | measured:<estimates> | cross...")
    price_usd: DecimalStr | None = Field(description=DECIMAL_DOC)
    bid_usd: DecimalStr | None
    ask_usd: DecimalStr | None
    volume_usd: DecimalStr | None = Field(description="24 h volume in USD.")
    observed_at: str
    weight: DecimalStr = Field(description="The final weight (after the venue cap).")
    included: bool
    reason: str | None = Field(
        description="Why excluded: alias, halted, stale, no_conversion, low_volume_share, "
        "outside_band, reentry_pending, fallback_only, too_few_inputs."
    )
    deviation: DecimalStr | None = Field(
        description="From the preliminary median (aggregators: from the value)."
    )


class RateOut(BaseModel):
    asset_id: int
    interval: str
    method_version: str
    bucket_start: str
    bucket_end: str
    value: DecimalStr = Field(description="The reference rate in USD. " + DECIMAL_DOC)
    low: DecimalStr = Field(description="Confidence band, low (25th percentile of the votes).")
    high: DecimalStr = Field(description="Confidence band, high (75th percentile).")
    n_inputs: int = Field(description="Included inputs, over every partition.")
    n_partitions: int
    fallback: bool = Field(description="Too few venues: the aggregators were inputs.")
    depeg: bool = Field(description="A stablecoin more than 0.5 % off its peg.")
    computed_at: str


class RateDetail(RateOut):
    symbol: str
    name: str
    inputs: list[RateInput] = Field(
        description="Every input, included or excluded with the reason: the value is the "
        "mean over partitions of the weighted median of the included `price_usd` by "
        "`weight` (docs/reference-rate.md)."
    )


class RateResponse(BaseModel):
    data: RateDetail
    meta: dict[str, Any]


class RatesResponse(BaseModel):
    data: list[RateOut]
    meta: PageMeta


class Depeg(RateOut):
    symbol: str
    off_peg: DecimalStr = Field(description="value - 1")


class DivergentInput(RateInput):
    asset_id: int
    symbol: str
    bucket_start: str
    value: DecimalStr


class Divergences(BaseModel):
    since: str | None = Field(description="The newest bucket of each asset since this.")
    depegs: list[Depeg]
    inputs: list[DivergentInput] = Field(
        description="Inputs outside the band (aggregators too), waiting to re-enter, or stale: "
        "the first `limit`, by asset."
    )
    inputs_truncated: bool = Field(
        description="More inputs diverge than `limit` listed: ask with a larger `limit`."
    )


class DivergencesResponse(BaseModel):
    data: Divergences
    meta: dict[str, Any]
