"""Execution plans: the concrete steps that carry out an intent."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from platform_core.types.common import Address, VenueName, Wei
from platform_core.types.ids import uuid7


class RouteHop(BaseModel):
    """One pool traversed by a step, with the amounts the planner simulated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pool_id: str = Field(min_length=1, max_length=128)
    token_in: Address
    token_out: Address
    fee_pips: int | None = Field(default=None, ge=0, le=1_000_000)
    amount_in: Wei
    amount_out: Wei


class ExecutionStep(BaseModel):
    """One transaction to send: a swap along `hops` on one venue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step_id: UUID = Field(default_factory=uuid7)
    index: int = Field(ge=0)
    venue: VenueName
    chain_id: int
    token_in: Address
    token_out: Address
    amount_in: Wei
    expected_amount_out: Wei
    min_amount_out: Wei
    hops: list[RouteHop] = Field(min_length=1)
    not_before: datetime | None = None  # PASSIVE slices wait until then
    deadline: datetime

    @model_validator(mode="after")
    def _consistent(self) -> ExecutionStep:
        if self.min_amount_out > self.expected_amount_out:
            raise ValueError("min_amount_out exceeds expected_amount_out")
        if self.hops[0].token_in != self.token_in or self.hops[-1].token_out != self.token_out:
            raise ValueError("hops must lead from token_in to token_out")
        for prev, nxt in zip(self.hops, self.hops[1:], strict=False):
            if prev.token_out != nxt.token_in:
                raise ValueError("hops must be contiguous")
        if self.not_before is not None and self.not_before > self.deadline:
            raise ValueError("not_before is after the deadline")
        return self


class ExecutionPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    plan_id: UUID = Field(default_factory=uuid7)
    intent_id: UUID
    created_at: datetime
    steps: list[ExecutionStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> ExecutionPlan:
        if [s.index for s in self.steps] != list(range(len(self.steps))):
            raise ValueError("step indexes must be 0..n-1 in order")
        return self

    @property
    def expected_amount_out(self) -> int:
        return sum(step.expected_amount_out for step in self.steps)
