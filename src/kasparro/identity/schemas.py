"""Request and response models of the identity API (OpenAPI; conventions as in
``kasparro.api.schemas``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from kasparro.api.names import Names, member_of, names_schema
from kasparro.api.schemas import PageMeta


class CoinOut(BaseModel):
    source: str
    id: str
    symbol: str | None
    name: str | None
    kind: str | None = None
    contracts: list[dict[str, Any]]
    asset_id: int | SkipJsonSchema[None] = Field(
        default=None,
        description="The asset this source id is mapped to now; absent while it is mapped to none.",
    )


class ReviewItem(BaseModel):
    id: int
    status: str = Field(description="pending | accepted | rejected | obsolete")
    reason: str
    score: float | None = Field(description="The weighed evidence for the pairing.")
    evidence: dict[str, Any] | None = Field(
        description='`{"for": [...], "against": [...]}`: each piece of evidence with its weight.'
    )
    created_at: str
    updated_at: str
    decided_at: str | None
    decided_by: str | None
    note: str | None
    coins: list[CoinOut] = Field(description="The two coins, of any two sources.")


class ReviewResponse(BaseModel):
    data: list[ReviewItem]
    meta: PageMeta


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["accept", "reject"]
    note: str | None = Field(default=None, max_length=2000)


class CoinRefIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Annotated[str, member_of(Names.OBSERVATION), names_schema(Names.OBSERVATION)]
    id: str = Field(min_length=1, max_length=300)


class PairDecisionIn(DecisionIn):
    """Two coins of any two sources (`a`, `b`); `coingecko_id` + `coinpaprika_id` is the
    older form of the same, still accepted."""

    a: CoinRefIn | None = None
    b: CoinRefIn | None = None
    coingecko_id: str | None = Field(default=None, min_length=1, max_length=300)
    coinpaprika_id: str | None = Field(default=None, min_length=1, max_length=300)

    @model_validator(mode="after")
    def _one_pair(self) -> Self:
        new = self.a is not None and self.b is not None
        old = self.coingecko_id is not None and self.coinpaprika_id is not None
        partial = (self.a is None) != (self.b is None) or (self.coingecko_id is None) != (
            self.coinpaprika_id is None
        )
        if new == old or partial:
            raise ValueError("give two coins: `a` and `b`, or `coingecko_id` and `coinpaprika_id`")
        return self

    def coins(self) -> tuple[tuple[str, str], tuple[str, str]]:
        if self.a is not None and self.b is not None:
            return (self.a.source, self.a.id), (self.b.source, self.b.id)
        assert self.coingecko_id is not None and self.coinpaprika_id is not None
        return ("coingecko", self.coingecko_id), ("coinpaprika", self.coinpaprika_id)


class CoinRefOut(BaseModel):
    source: str
    id: str


class DecisionOut(BaseModel):
    review_id: int
    a: CoinRefOut
    b: CoinRefOut
    status: str
    relink: dict[str, Any] = Field(description="The relink that applied the decision.")


class DecisionResponse(BaseModel):
    data: DecisionOut
    meta: dict[str, Any]


class IdentitySummaryResponse(BaseModel):
    data: dict[str, Any]
    meta: dict[str, Any]


class AnomaliesResponse(BaseModel):
    data: list[dict[str, Any]]
    meta: PageMeta
