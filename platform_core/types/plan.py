"""Execution plans: the concrete steps that carry out an intent.

A step is one transaction through one venue's router: a leg of the engine's route. A path
whose hops span venues is several legs, one per run of consecutive hops on one venue; a run
of pools that several paths share is one leg, traded once with what they all bring, whose
output the next legs share. A step that spends earlier steps' outputs (`spends`) is sent
once they are confirmed, with its part of what they actually received: each source's
output divides among the steps spending it in proportion to their planned amounts, the
last of them taking what is left. The plan's input is the steps that spend the intent's
own tokens; its output, the steps whose output no step spends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
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


class Spend(BaseModel):
    """A part of an earlier step's output that a step spends: `amount` as planned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: int = Field(ge=0)
    amount: Wei


class ExecutionStep(BaseModel):
    """One transaction to send: a swap along `hops` on one venue.

    `spends` are the earlier steps whose outputs this step spends, with the planned amounts
    (empty: it spends the intent's own tokens). Such a step's `amount_in` and hop amounts
    are the plan's simulation; it is executed with its part of what those steps actually
    received (`ExecutionPlan.funding`). Its `min_amount_out` is the planned floor either way.
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
    spends: list[Spend] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ExecutionStep:
        if any(s.step >= self.index for s in self.spends):
            raise ValueError("a step spends the output of earlier steps only")
        if len({s.step for s in self.spends}) != len(self.spends):
            raise ValueError("a step names each step it spends from once")
        if self.spends and sum(s.amount for s in self.spends) != self.amount_in:
            raise ValueError("a step's planned spends add up to its amount_in")
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


@dataclass(frozen=True)
class PlanPath:
    """A chain of steps from one spending the intent's tokens to one whose output is the
    intent's, with its part of their amounts (where steps join or part, each is divided in
    proportion to what flows in and out along it)."""

    steps: list[ExecutionStep]
    amount_in: float
    expected_amount_out: float


class ExecutionPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    plan_id: UUID = Field(default_factory=uuid7)
    intent_id: UUID
    created_at: datetime
    steps: list[ExecutionStep] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _upcast(cls, data: Any) -> Any:
        """Plans recorded before steps could share legs name one step whose whole output a
        leg spends (`spends_output_of`): the same as spending all it was planned to yield."""
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            return data
        steps = data["steps"]
        if not any(isinstance(st, dict) and "spends_output_of" in st for st in steps):
            return data
        upcast = []
        for st in steps:
            if isinstance(st, dict) and "spends_output_of" in st:
                st = dict(st)
                source = st.pop("spends_output_of")
                if isinstance(source, int) and 0 <= source < len(steps):
                    st["spends"] = [{"step": source, "amount": st.get("amount_in")}]
            upcast.append(st)
        return {**data, "steps": upcast}

    @model_validator(mode="after")
    def _ordered(self) -> ExecutionPlan:
        if [s.index for s in self.steps] != list(range(len(self.steps))):
            raise ValueError("step indexes must be 0..n-1 in order")
        for step in self.steps:
            for spend in step.spends:
                earlier = self.steps[spend.step]  # an earlier index: checked by the step
                if earlier.token_out != step.token_in or earlier.chain_id != step.chain_id:
                    raise ValueError(
                        f"step {step.index} spends step {spend.step}'s output: same chain and token"
                    )
        planned: dict[int, int] = {}
        for step in self.steps:
            for spend in step.spends:
                planned[spend.step] = planned.get(spend.step, 0) + spend.amount
        for index, amount in planned.items():
            if amount > self.steps[index].expected_amount_out:
                raise ValueError(f"steps spend more of step {index}'s output than it yields")
        return self

    def _consumers(self, index: int) -> list[tuple[ExecutionStep, Spend]]:
        """The steps spending step `index`'s output, in order, with what they plan to."""
        return [(s, p) for s in self.steps for p in s.spends if p.step == index]

    def is_final(self, step: ExecutionStep) -> bool:
        """Whether `step`'s output is the intent's (no later step spends it)."""
        return not self._consumers(step.index)

    def final_steps(self) -> list[ExecutionStep]:
        """The steps whose output is the intent's."""
        return [step for step in self.steps if self.is_final(step)]

    def first_steps(self) -> list[ExecutionStep]:
        """The steps that spend the intent's own tokens."""
        return [step for step in self.steps if not step.spends]

    def funding(self, step: ExecutionStep, received: Mapping[int, int]) -> int:
        """What `step` spends, given what the steps it spends from received: of each, its
        planned part in proportion, or what is left of it when it is the last to spend it.
        A step that spends the intent's own tokens spends its `amount_in`."""
        if not step.spends:
            return step.amount_in
        total = 0
        for spend in step.spends:
            got = received[spend.step]
            consumers = self._consumers(spend.step)
            planned = sum(p.amount for _, p in consumers)
            parts = [got * p.amount // planned if planned else 0 for _, p in consumers]
            parts[-1] = got - sum(parts[:-1])
            total += next(part for (s, _), part in zip(consumers, parts, strict=True)
                          if s.index == step.index)  # fmt: skip
        return total

    def paths(self) -> list[PlanPath]:
        """Every chain of steps from a first step to a final one, with its part of the
        amounts (a plan whose steps neither join nor part: one path per first step)."""
        out: list[PlanPath] = []

        def walk(chain: list[ExecutionStep], share_in: float, share_at: float) -> None:
            last = chain[-1]
            consumers = self._consumers(last.index)
            if not consumers:
                out.append(PlanPath(list(chain), chain[0].amount_in * share_in,
                                    last.expected_amount_out * share_at))  # fmt: skip
                return
            planned = sum(p.amount for _, p in consumers)
            for nxt, p in consumers:
                walk([*chain, nxt], share_in * p.amount / planned if planned else 0.0,
                     share_at * p.amount / nxt.amount_in if nxt.amount_in else 0.0)  # fmt: skip

        for first in self.first_steps():
            walk([first], 1.0, 1.0)
        return out

    @property
    def amount_in(self) -> int:
        """What the plan pays: the first steps' inputs."""
        return sum(step.amount_in for step in self.first_steps())

    @property
    def expected_amount_out(self) -> int:
        """What the plan is quoted to receive: the final steps' outputs."""
        return sum(step.expected_amount_out for step in self.final_steps())

    @property
    def min_amount_out(self) -> int:
        """The least the plan accepts to receive: the final steps' floors."""
        return sum(step.min_amount_out for step in self.final_steps())
