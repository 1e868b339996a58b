"""Planning: child orders become an `ExecutionPlan` of swaps routed by the Rust engine.

Each child order is routed on its own, across every venue the intent allows, against the
engine's current graph (PASSIVE slices run minutes apart, when the pools have moved anyway;
the orders of a multi-asset AGGRESSIVE intent that share a pool are not settled against each
other, so a later one may get less than expected, down to its minimum). A step is one
transaction through one venue's router: one of the route's legs (a run of one venue's
pools; a path hopping across venues has several, and a run of pools that several paths
share is one leg, traded once). A leg spending earlier legs' outputs spends them as the
engine planned (`spends`). Steps follow the engine's order: it simulates each leg on the
pool states the legs before it left, so sending the steps in index order reproduces it.

Slippage: each step's floor is its expected output x (1 - max_slippage); the final steps'
floors are the plan's (an absolute minimum, not compounded over the legs).

The engine must name tokens by checksum address and pools by address (as `engine_sync`
loads them): steps carry those ids as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from platform_core.errors import ErrorCode, PlanningError
from platform_core.execution.input_sizing import ExactOutputSizer, route_net_of_gas
from platform_core.intent.aggregate import IntentAggregate
from platform_core.market.adapter import min_amount_out
from platform_core.market.pool_registry import PoolRegistry
from platform_core.types.events import ChildOrder, EventEnvelope, IntentDecomposed, PlanCreated
from platform_core.types.intent import Intent
from platform_core.types.plan import ExecutionPlan, ExecutionStep, RouteHop, Spend
from platform_rust import ExecutionEngine, Hop, Leg, NoRouteError, Route

FeeLookup = Callable[[str], int | None]
VenueLookup = Callable[[str], str | None]
# A path may hop across venues: each run of hops on one venue is a step of its own (a leg).
SINGLE_VENUE_PATHS = False


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

    def set_gas_price(self, gas_price_wei: int) -> None:
        """Price routes' gas at `gas_price_wei` from now on (what a transaction pays now:
        the planner's shell follows the node). A path's gas must pay for itself."""
        if gas_price_wei < 0:
            raise ValueError("the gas price cannot be negative")
        self.gas_price_wei = gas_price_wei

    def known_venues(self) -> list[str]:
        """The venues this planner routes on (before an intent's constraints)."""
        if self.venues is not None:
            return list(self.venues)
        assert self._registry is not None  # without one, `venues` is given
        return sorted({meta.venue for meta in self._registry.pools.values()})

    def allowed_venues(self, intent: Intent) -> list[str]:
        """The venues the engine may route through for `intent`: this planner's, less those
        the intent's constraints exclude. A path may hop across them (one leg per venue)."""
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
            single_venue_paths=SINGLE_VENUE_PATHS,
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
            first = len(steps)
            for leg in self._route(order, venues).legs:
                steps.append(self._step(first, len(steps), order, leg, intent, deadline))
        return ExecutionPlan(intent_id=intent.id, created_at=now, steps=steps)

    def _route(self, order: ChildOrder, venues: list[str]) -> Route:
        try:
            return route_net_of_gas(
                self.engine,
                order.token_in,
                order.token_out,
                order.amount_in,
                max_hops=self.max_hops,
                max_splits=self.max_splits,
                allowed_venues=venues,
                gas_price_wei=self.gas_price_wei,
                single_venue_paths=SINGLE_VENUE_PATHS,
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
        self, first: int, index: int, order: ChildOrder, leg: Leg, intent: Intent,
        deadline: datetime,
    ) -> ExecutionStep:  # fmt: skip
        """Leg `index - first` of the order's route as step `index`."""
        venues = {self._venue_named(hop) for hop in leg.hops}
        if len(venues) != 1:
            raise PlanningError(ErrorCode.UNKNOWN_POOL, f"a leg crosses venues {sorted(venues)}")
        return ExecutionStep(
            index=index,
            venue=venues.pop(),
            chain_id=self.chain_id,
            token_in=leg.hops[0].token_in,
            token_out=leg.hops[-1].token_out,
            amount_in=leg.amount_in,
            expected_amount_out=leg.amount_out,
            min_amount_out=min_amount_out(leg.amount_out, intent.constraints.max_slippage),
            hops=[self._hop(hop) for hop in leg.hops],
            not_before=order.not_before,
            deadline=deadline,
            spends=[Spend(step=first + j, amount=a) for j, a in leg.inputs if j is not None],
        )

    def _venue_named(self, hop: Hop) -> str:
        venue = self._venue_of(hop.pool_id)
        if venue is None:
            raise PlanningError(ErrorCode.UNKNOWN_POOL, f"no venue known for pool {hop.pool_id}")
        return venue

    def _hop(self, hop: Hop) -> RouteHop:
        fee = self._fee_of(hop.pool_id)
        if fee is None:
            raise PlanningError(ErrorCode.UNKNOWN_POOL, f"no fee tier known for pool {hop.pool_id}")
        return RouteHop(
            pool_id=hop.pool_id,
            token_in=hop.token_in,
            token_out=hop.token_out,
            fee_pips=fee,
            amount_in=hop.amount_in,
            amount_out=hop.amount_out,
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
