"""Execution plans: the concrete steps that carry out an intent.

A step is one transaction through one venue's router. A routed path whose hops span venues
becomes several steps, its "legs", one per run of consecutive hops on one venue: each later
leg spends the whole output of the leg before it (`spends_output_of`), so it is sent once
that leg is confirmed, with the amount that leg actually received. A path's input is its
first leg's; its output is its last leg's; what the legs in between hand on is no output.
"""

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
    """One transaction to send: a swap along `hops` on one venue.

    `spends_output_of` is the index of the earlier step of the same path whose output this
    leg spends (None: it spends the intent's own tokens). Such a leg's `amount_in` and hop
    amounts are the plan's simulation; it is executed with what that step actually received.
    Its `min_amount_out` is the planned floor either way.
    """

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
    spends_output_of: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> ExecutionStep:
        if self.spends_output_of is not None and self.spends_output_of >= self.index:
            raise ValueError("a leg spends the output of an earlier step only")
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
        spent: set[int] = set()
        for step in self.steps:
            source = step.spends_output_of
            if source is None:
                continue
            earlier = self.steps[source]  # an earlier index: checked by the step
            if earlier.token_out != step.token_in or earlier.chain_id != step.chain_id:
                raise ValueError(
                    f"step {step.index} spends step {source}'s output: same chain and token"
                )
            if source in spent:
                raise ValueError(f"step {source}'s output is spent by one leg only")
            spent.add(source)
        return self

    def successor(self, step: ExecutionStep) -> ExecutionStep | None:
        """The leg that spends `step`'s output, if any."""
        return next((s for s in self.steps if s.spends_output_of == step.index), None)

    def is_final(self, step: ExecutionStep) -> bool:
        """Whether `step`'s output is the intent's (no later leg spends it)."""
        return step.index not in self._spent()

    def final_steps(self) -> list[ExecutionStep]:
        """The steps whose output is the intent's: each path's last leg."""
        spent = self._spent()
        return [step for step in self.steps if step.index not in spent]

    def first_steps(self) -> list[ExecutionStep]:
        """The steps that spend the intent's own tokens: each path's first leg."""
        return [step for step in self.steps if step.spends_output_of is None]

    def paths(self) -> list[list[ExecutionStep]]:
        """The routed paths, each as its legs in order (a path on one venue: one step)."""
        after = {s.spends_output_of: s for s in self.steps if s.spends_output_of is not None}
        paths = []
        for first in self.first_steps():
            legs = [first]
            while legs[-1].index in after:
                legs.append(after[legs[-1].index])
            paths.append(legs)
        return paths

    def _spent(self) -> set[int]:
        return {s.spends_output_of for s in self.steps if s.spends_output_of is not None}

    @property
    def amount_in(self) -> int:
        """What the plan pays: the first legs' inputs."""
        return sum(step.amount_in for step in self.first_steps())

    @property
    def expected_amount_out(self) -> int:
        """What the plan is quoted to receive: the final legs' outputs."""
        return sum(step.expected_amount_out for step in self.final_steps())

    @property
    def min_amount_out(self) -> int:
        """The least the plan accepts to receive: the final legs' floors."""
        return sum(step.min_amount_out for step in self.final_steps())
