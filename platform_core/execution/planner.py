"""Planning: child orders become an `ExecutionPlan` of swaps routed by the Rust engine.

Each child order is routed on its own against the engine's current graph (PASSIVE slices
run minutes apart, when the pools have moved anyway; the orders of a multi-asset AGGRESSIVE
intent that share a pool are not settled against each other, so a later one may get less
than expected, down to its minimum). Each split of a route becomes one
step, in the engine's order: the engine settles split k against the pool states splits
0..k-1 left, so sending the steps in index order reproduces its simulation.

The engine must name tokens by checksum address and pools by address (as `engine_sync`
loads them): steps carry those ids as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from platform_core.execution.input_sizing import ExactOutputSizer
from platform_core.market.adapter import min_amount_out
from platform_core.types.events import ChildOrder, EventEnvelope, IntentDecomposed, PlanCreated
from platform_core.types.ids import deterministic_id
from platform_core.types.intent import Intent
from platform_core.types.plan import ExecutionPlan, ExecutionStep, RouteHop
from platform_rust import NoRouteError

FeeLookup = Callable[[str], int | None]


class PlanningError(ValueError):
    """No plan can be made; `code` says why (stable, upper case)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class HopLike(Protocol):
    @property
    def pool_id(self) -> str: ...
    @property
    def token_in(self) -> str: ...
    @property
    def token_out(self) -> str: ...
    @property
    def amount_in(self) -> int: ...
    @property
    def amount_out(self) -> int: ...


class SplitLike(Protocol):
    @property
    def amount_in(self) -> int: ...
    @property
    def amount_out(self) -> int: ...
    @property
    def hops(self) -> Sequence[HopLike]: ...


class RouteLike(Protocol):
    @property
    def amount_out(self) -> int: ...
    @property
    def splits(self) -> Sequence[SplitLike]: ...


class RoutingEngine(Protocol):
    def optimize_route(
        self,
        token_in: str,
        token_out: str,
        amount_in: int,
        *,
        max_hops: int = ...,
        max_splits: int = ...,
        allowed_venues: Sequence[str] | None = ...,
        gas_price_wei: int | None = ...,
    ) -> RouteLike: ...


class ExecutionPlanner:
    """Routes child orders on one venue of one chain.

    `fee_lookup` gives a pool's fee tier by id (Uniswap V3 paths need it); by default the
    engine's own `fee_pips`, which a `PoolRegistry` provides.
    """

    def __init__(
        self,
        engine: RoutingEngine,
        *,
        venue: str = "uniswap_v3",
        chain_id: int,
        max_hops: int = 3,
        max_splits: int = 4,
        gas_price_wei: int = 0,
        fee_lookup: FeeLookup | None = None,
    ) -> None:
        if fee_lookup is None:
            fee_lookup = getattr(engine, "fee_pips", None)
            if fee_lookup is None:
                raise TypeError("give fee_lookup, or an engine that knows fees (PoolRegistry)")
        self.engine = engine
        self.venue = venue
        self.chain_id = chain_id
        self.max_hops = max_hops
        self.max_splits = max_splits
        self.gas_price_wei = gas_price_wei
        self._fee_of = fee_lookup

    def allowed_venues(self, intent: Intent) -> list[str]:
        """The venues the engine may route through: this planner's, if the intent allows it.
        A step is one transaction on one venue, so routes never mix venues."""
        if not intent.constraints.venue_allowed(self.venue):
            raise PlanningError(
                "VENUE_NOT_ALLOWED", f"the intent's venue constraints exclude {self.venue}"
            )
        return [self.venue]

    def sizer(self, intent: Intent) -> ExactOutputSizer:
        """An exact-output sizer routing exactly as `plan` will, for `decompose`."""
        return ExactOutputSizer(
            self.engine,
            max_hops=self.max_hops,
            max_splits=self.max_splits,
            allowed_venues=self.allowed_venues(intent),
            gas_price_wei=self.gas_price_wei,
        )

    def plan(
        self, intent: Intent, child_orders: Sequence[ChildOrder], now: datetime
    ) -> ExecutionPlan:
        if not child_orders:
            raise PlanningError("NO_CHILD_ORDERS", "nothing to plan")
        deadline = intent.created_at + timedelta(milliseconds=intent.constraints.time_window_ms)
        if deadline <= now:
            raise PlanningError("WINDOW_ELAPSED", f"the time window ended at {deadline}")
        venues = self.allowed_venues(intent)
        steps: list[ExecutionStep] = []
        for order in child_orders:
            for split in self._route(order, venues).splits:
                steps.append(self._step(len(steps), order, split, intent, deadline))
        return ExecutionPlan(intent_id=intent.id, created_at=now, steps=steps)

    def _route(self, order: ChildOrder, venues: list[str]) -> RouteLike:
        try:
            return self.engine.optimize_route(
                order.token_in,
                order.token_out,
                order.amount_in,
                max_hops=self.max_hops,
                max_splits=self.max_splits,
                allowed_venues=venues,
                gas_price_wei=self.gas_price_wei,
            )
        except NoRouteError as exc:
            raise PlanningError(
                "NO_ROUTE",
                f"child order {order.index}: {order.token_in} -> {order.token_out}"
                f" for {order.amount_in}: {exc}",
            ) from exc
        except ValueError as exc:  # unknown token, or no pool can absorb the input
            raise PlanningError("NO_ROUTE", f"child order {order.index}: {exc}") from exc

    def _step(
        self,
        index: int,
        order: ChildOrder,
        split: SplitLike,
        intent: Intent,
        deadline: datetime,
    ) -> ExecutionStep:
        hops = []
        for hop in split.hops:
            fee = self._fee_of(hop.pool_id)
            if fee is None:
                raise PlanningError("UNKNOWN_POOL", f"no fee tier known for pool {hop.pool_id}")
            hops.append(
                RouteHop(
                    pool_id=hop.pool_id,
                    token_in=hop.token_in,
                    token_out=hop.token_out,
                    fee_pips=fee,
                    amount_in=hop.amount_in,
                    amount_out=hop.amount_out,
                )
            )
        return ExecutionStep(
            index=index,
            venue=self.venue,
            chain_id=self.chain_id,
            token_in=order.token_in,
            token_out=order.token_out,
            amount_in=split.amount_in,
            expected_amount_out=split.amount_out,
            min_amount_out=min_amount_out(split.amount_out, intent.constraints.max_slippage),
            hops=hops,
            not_before=order.not_before,
            deadline=deadline,
        )


def plan_events(
    intent: Intent,
    child_orders: Sequence[ChildOrder],
    plan: ExecutionPlan,
    sequence_start: int,
    *,
    causation_id: UUID | None = None,
) -> tuple[EventEnvelope, EventEnvelope]:
    """`IntentDecomposed` at `sequence_start` (caused by `causation_id`, normally the
    `IntentSubmitted` event) and `PlanCreated` right after it, caused by the first.

    Event ids derive from the intent, event type and sequence, so a retried planning
    publishes the same ids and every deduplicating store keeps one copy.
    """
    decomposed = EventEnvelope.wrap(
        IntentDecomposed(child_orders=list(child_orders)),
        intent_id=intent.id,
        strategy_id=intent.strategy_id,
        sequence=sequence_start,
        causation_id=causation_id,
        event_id=deterministic_id(intent.id, IntentDecomposed.event_type(), sequence_start),
        occurred_at=plan.created_at,
    )
    created = EventEnvelope.wrap(
        PlanCreated(plan=plan),
        intent_id=intent.id,
        strategy_id=intent.strategy_id,
        sequence=sequence_start + 1,
        causation_id=decomposed.event_id,
        event_id=deterministic_id(intent.id, PlanCreated.event_type(), sequence_start + 1),
        occurred_at=plan.created_at,
    )
    return decomposed, created
