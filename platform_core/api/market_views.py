"""The body of `GET /markets/{chain_id}/{base}/{quote}/book`: a pair's consolidated book as
the MarketData actor wrote it (`platform_core/market/book.py`, `PairBook.to_json`), cut to
the levels asked for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class BookToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(description="EIP-55 checksum address")
    symbol: str
    decimals: int


class BookLevelView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price: float = Field(gt=0, description="quote per base, whole tokens")
    size: float = Field(gt=0, description="base, whole tokens")
    venues: dict[str, float] = Field(description="each venue's part of `size`")


class DepthView(BaseModel):
    """What the book holds within +-`bps` of mid: bids at or above mid * (1 - bps/1e4),
    asks at or below mid * (1 + bps/1e4), in base and in quote."""

    model_config = ConfigDict(extra="forbid")

    bps: float
    bid_base: float = Field(ge=0)
    bid_quote: float = Field(ge=0)
    ask_base: float = Field(ge=0)
    ask_quote: float = Field(ge=0)


class BookView(BaseModel):
    """One pair across every venue and fee tier of the chain. Prices in quote per base,
    sizes in base, whole tokens; levels bucketed to `price_step` (bids down, asks up);
    `best_bid`/`best_ask`/`depth` from the unbucketed book."""

    model_config = ConfigDict(extra="forbid")

    chain_id: int
    base: BookToken
    quote: BookToken
    best_bid: float | None
    best_ask: float | None
    mid: float | None
    price_step: float | None
    bids: list[BookLevelView] = Field(description="best (highest) first")
    asks: list[BookLevelView] = Field(description="best (lowest) first")
    depth: list[DepthView] = Field(description="within +-10, 50 and 100 bps of mid")
    venues: list[str]
    pools: list[str]
    block_number: int = Field(ge=0, description="the block the book is as of")
    as_of: datetime = Field(description="when the MarketData actor computed it")

    @classmethod
    def of(cls, stored: dict[str, Any], levels: int) -> BookView:
        cut = {**stored, "bids": stored["bids"][:levels], "asks": stored["asks"][:levels]}
        return cls.model_validate(cut)
