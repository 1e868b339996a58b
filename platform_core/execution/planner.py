"""Planning: child orders become an `ExecutionPlan` of swaps routed by the Rust engine.

Each child order is routed on its own, across every venue the intent allows, against the
engine's current graph (PASSIVE slices run minutes apart, when the pools have moved anyway;
the orders of a multi-asset AGGRESSIVE intent that share a pool are not settled against each
other, so a later one may get less than expected, down to its minimum). Each split of a
route becomes one step, a transaction through its venue's router (a split's path stays on
one venue), in the engine's order: the engine settles split k against the pool states
splits 0..k-1 left, so sending the steps in index order reproduces its simulation.

The engine must name tokens by checksum address and pools by address (as `engine_sync`
loads them): steps carry those ids as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from platform_core.errors import ErrorCode, PlanningError
from platform_core.execution.input_sizing import ExactOutputSizer
from platform_core.intent.aggregate import IntentAggregate
from platform_core.market.adapter import min_amount_out
from platform_core.market.pool_registry import PoolRegistry
from platform_core.types.events import ChildOrder, EventEnvelope, IntentDecomposed, PlanCreated
from platform_core.types.intent import Intent
from platform_core.types.plan import ExecutionPlan, ExecutionStep, RouteHop
from platform_rust import ExecutionEngine, NoRouteError, Route, Split

FeeLookup = Callable[[str], int | None]
VenueLookup = Callable[[str], str | None]


class ExecutionPlanner:
    """Routes child orders across the venues of one chain.

    `engine` is the Rust engine, or a `PoolRegistry` holding it. `fee_lookup` gives a pool's
    fee tier by id (Uniswap V3 paths need it) and `venue_lookup` its venue (a step is built
    by its venue's adapter); by default the registry's. `venues` are the venues it may
    route on: by default every venue the registry holds pools of, at planning time.
    """

    def __init__(
        self,
        engine: ExecutionEngine | PoolRegistry,
        *,
        chain_id: int,
        venues: Sequence[str] | None = None,
        max_hops: int = 3,
        max_splits: int | None = None,
        gas_price_wei: int = 0,
        fee_lookup: FeeLookup | None = None,
        venue_lookup: VenueLookup | None = None,
    ) -> None:
        self._registry = engine if isinstance(engine, PoolRegistry) else None
        if isinstance(engine, PoolRegistry):
            fee_lookup = fee_lookup or engine.fee_pips
            venue_lookup = venue_lookup or engine.venue_of
            engine = engine.engine
        if fee_lookup is None:
            raise TypeError("give fee_lookup, or a PoolRegistry (which knows the fees)")
        if venue_lookup is None:
            if venues is None or len(venues) != 1:
                raise TypeError("give venue_lookup, one venue, or a PoolRegistry")
            only = venues[0]
            venue_lookup = lambda _pool: only  # noqa: E731
        self.engine: ExecutionEngine = engine
        self.venues = None if venues is None else tuple(venues)
        self.chain_id = chain_id
        self.max_hops = max_hops
        self.max_splits = max_splits
        self.gas_price_wei = gas_price_wei
        self._fee_of = fee_lookup
        self._venue_of = venue_lookup

    def known_venues(self) -> list[str]:
        """The venues this planner routes on (before an intent's constraints)."""
        if self.venues is not None:
            return list(self.venues)
        assert self._registry is not None  # without one, `venues` is given
        return sorted({meta.venue for meta in self._registry.pools.values()})

    def allowed_venues(self, intent: Intent) -> list[str]:
        """The venues the engine may route through for `intent`: this planner's, less those
        the intent's constraints exclude. A step is one transaction through one venue's
        router, so each split's path stays on one venue (`single_venue_paths`)."""
        known = self.known_venues()
        allowed = [venue for venue in known if intent.constraints.venue_allowed(venue)]
        if not allowed:
            raise PlanningError(
                ErrorCode.VENUE_NOT_ALLOWED,
                f"the intent's venue constraints exclude every venue here ({', '.join(known)})",
            )
        return allowed

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
            raise PlanningError(ErrorCode.NO_CHILD_ORDERS, "nothing to plan")
        deadline = intent.deadline
        if deadline <= now:
            raise PlanningError(ErrorCode.WINDOW_ELAPSED, f"the time window ended at {deadline}")
        venues = self.allowed_venues(intent)
        steps: list[ExecutionStep] = []
        for order in child_orders:
            for split in self._route(order, venues).splits:
                steps.append(self._step(len(steps), order, split, intent, deadline))
        return ExecutionPlan(intent_id=intent.id, created_at=now, steps=steps)

    def _route(self, order: ChildOrder, venues: list[str]) -> Route:
        try:
            return self.engine.optimize_route(
                order.token_in,
                order.token_out,
                order.amount_in,
                max_hops=self.max_hops,
                max_splits=self.max_splits,
                allowed_venues=venues,
                gas_price_wei=self.gas_price_wei,
                single_venue_paths=True,
            )
        except NoRouteError as exc:
            raise PlanningError(
                ErrorCode.NO_ROUTE,
                f"child order {order.index}: {order.token_in} -> {order.token_out}"
                f" for {order.amount_in}: {exc}",
            ) from exc
        except ValueError as exc:  # unknown token, or no pool can absorb the input
            raise PlanningError(ErrorCode.NO_ROUTE, f"child order {order.index}: {exc}") from exc

    def _step(
        self,
        index: int,
        order: ChildOrder,
        split: Split,
        intent: Intent,
        deadline: datetime,
    ) -> ExecutionStep:
        hops = []
        venues = {self._venue_of(hop.pool_id) for hop in split.hops}
        venue = venues.pop() if len(venues) == 1 else None
        if venue is None:
            raise PlanningError(
                ErrorCode.UNKNOWN_POOL,
                f"a split's pools must be of one known venue, got {sorted(map(str, venues))}",
            )
        for hop in split.hops:
            fee = self._fee_of(hop.pool_id)
            if fee is None:
                raise PlanningError(
                    ErrorCode.UNKNOWN_POOL, f"no fee tier known for pool {hop.pool_id}"
                )
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
            venue=venue,
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
    events: IntentAggregate, child_orders: Sequence[ChildOrder], plan: ExecutionPlan
) -> tuple[EventEnvelope, EventEnvelope]:
    """`IntentDecomposed` then `PlanCreated`, appended to the intent's `events` (after its
    `IntentSubmitted`), both at the plan's time.

    Their ids derive from the intent, event type and sequence, so a retried planning
    publishes the same ids and every deduplicating store keeps one copy.
    """
    decomposed = events.append(
        IntentDecomposed(child_orders=list(child_orders)), occurred_at=plan.created_at
    )
    created = events.append(PlanCreated(plan=plan), occurred_at=plan.created_at)
    return decomposed, created
