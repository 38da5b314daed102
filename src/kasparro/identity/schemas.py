"""Request and response models of the identity API (OpenAPI; conventions as in
``kasparro.api.schemas``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
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
    """Two coins of any two sources."""

    a: CoinRefIn
    b: CoinRefIn

    def coins(self) -> tuple[tuple[str, str], tuple[str, str]]:
        return (self.a.source, self.a.id), (self.b.source, self.b.id)

    def locs(self) -> tuple[str, str]:
        """Where each coin's id is in the body (a 422's ``loc``)."""
        return "body.a.id", "body.b.id"


class LegacyPairDecisionIn(DecisionIn):
    """The older form: a CoinGecko id and a CoinPaprika id."""

    coingecko_id: str = Field(min_length=1, max_length=300)
    coinpaprika_id: str = Field(min_length=1, max_length=300)

    def coins(self) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("coingecko", self.coingecko_id), ("coinpaprika", self.coinpaprika_id)

    def locs(self) -> tuple[str, str]:
        return "body.coingecko_id", "body.coinpaprika_id"


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
