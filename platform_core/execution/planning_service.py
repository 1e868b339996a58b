"""`PlanningService`: decomposition and routing on an engine a market feed keeps fresh.

What the `ExecutionPlanner` actor serves. The engine follows every venue adapter actor's
`PoolStateChanged` messages (`MarketFeed`s): a plan reads no chain state of its own and
routes on the pools as of `feed.block`, which its result reports. Refusals come back as a
`PlanResult` with a code, not as exceptions, so they cross the actor boundary as plain data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from platform_core.errors import ErrorCode, PlanningError
from platform_core.execution.planner import ExecutionPlanner
from platform_core.intent.decomposer import SLICE_INTERVAL_MS, Portfolio
from platform_core.intent.decomposer import decompose as decompose_intent
from platform_core.types.events import ChildOrder
from platform_core.types.intent import Intent
from platform_core.types.plan import ExecutionPlan


@dataclass(frozen=True)
class PlanResult:
    orders: tuple[ChildOrder, ...] = ()
    plan: ExecutionPlan | None = None
    error_code: ErrorCode | None = None
    error_message: str | None = None
    block: int | None = None  # the block whose pool states the plan was routed on

    @property
    def ok(self) -> bool:
        return self.plan is not None


def plan_now(
    planner: ExecutionPlanner,
    intent: Intent,
    portfolio: Portfolio,
    now: datetime,
    *,
    slice_interval_ms: int = SLICE_INTERVAL_MS,
) -> PlanResult:
    """Decompose and route at `now`; a refusal is a result with its code."""
    try:
        orders = decompose_intent(
            intent,
            portfolio,
            now,
            sizer=planner.sizer(intent),
            slice_interval_ms=slice_interval_ms,
        )
        plan = planner.plan(intent, orders, now)
    except PlanningError as exc:
        return PlanResult(error_code=exc.code, error_message=exc.message)
    return PlanResult(tuple(orders), plan)


class BlockSource(Protocol):
    """What tells the block an engine reflects: a `MarketFeed`, or `VenuesBlock` over
    several venues' feeds."""

    @property
    def block(self) -> int | None: ...


class PlanningService:
    def __init__(
        self,
        planner: ExecutionPlanner,
        feed: BlockSource,
        *,
        slice_interval_ms: int = SLICE_INTERVAL_MS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.planner = planner
        self.feed = feed
        self.slice_interval_ms = slice_interval_ms
        self.clock = clock

    async def plan(self, intent: Intent, portfolio: Portfolio) -> PlanResult:
        block = self.feed.block  # read first: the feed may move on while the route is searched
        # The route search is Rust with the GIL released: a thread keeps the loop serving.
        result = await asyncio.to_thread(
            plan_now,
            self.planner,
            intent,
            portfolio,
            self.clock(),
            slice_interval_ms=self.slice_interval_ms,
        )
        return PlanResult(
            result.orders, result.plan, result.error_code, result.error_message, block
        )
