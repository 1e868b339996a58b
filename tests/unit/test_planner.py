"""`ExecutionPlanner`: child orders routed by the Rust engine become plan steps."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from platform_core.execution import ExecutionPlanner, PlanningError, plan_events
from platform_core.intent.aggregate import IntentAggregate
from platform_core.intent.decomposer import decompose
from platform_core.market.adapter import order_from_step
from platform_core.market.pool_registry import PoolRegistry
from platform_core.types.events import (
    ChildOrder,
    EventEnvelope,
    IntentDecomposed,
    IntentSubmitted,
    PlanCreated,
)
from platform_core.types.plan import ExecutionPlan
from platform_rust import ExecutionEngine
from tests.unit.pool_graphs import (
    CREATED_AT,
    DAI,
    LONELY,
    USDC,
    WBTC,
    WETH,
    add_v3_pool,
    asset,
    make_intent,
    small_graph,
    snapshot_graph,
    whole,
)

NOW = CREATED_AT + timedelta(seconds=1)
V3_POOLS = {"weth-usdc-500": 500, "weth-usdc-3000": 3000, "weth-dai-3000": 3000,
            "dai-usdc-100": 100}  # fmt: skip


@pytest.fixture(scope="module")
def graph() -> PoolRegistry:
    return small_graph()


@pytest.fixture(scope="module")
def planner(graph: PoolRegistry) -> ExecutionPlanner:
    return ExecutionPlanner(graph, chain_id=42161, venues=["uniswap_v3"])


def dispose_weth(amount: str, **constraints: object):
    return make_intent("dispose", [asset(WETH, amount=amount), asset(USDC)], **constraints)


def plan_of(planner: ExecutionPlanner, intent, portfolio=None) -> tuple[list, ExecutionPlan]:
    orders = decompose(intent, portfolio or {}, NOW, sizer=planner.sizer(intent))
    return orders, planner.plan(intent, orders, NOW)


def test_a_small_order_is_one_step_on_the_best_v3_pool(
    planner: ExecutionPlanner, graph: PoolRegistry
) -> None:
    intent = dispose_weth("1.5")
    _, plan = plan_of(planner, intent)
    [step] = plan.steps
    assert (step.index, step.venue, step.chain_id) == (0, "uniswap_v3", 42161)
    assert (step.token_in, step.token_out, step.amount_in) == (WETH, USDC, whole(WETH, 1.5))
    [hop] = step.hops
    # The deep 0.05 % pool beats the 0.3 % one; the V2 pool (better, other venue) is unused.
    assert (hop.pool_id, hop.fee_pips) == ("weth-usdc-500", 500)
    assert step.expected_amount_out == graph.engine.quote(["weth-usdc-500"], WETH, step.amount_in)
    assert step.expected_amount_out == hop.amount_out
    assert step.min_amount_out == step.expected_amount_out * 995 // 1000
    assert step.not_before is None
    assert step.deadline == CREATED_AT + timedelta(minutes=5)
    assert plan.intent_id == intent.id and plan.created_at == NOW


def test_a_large_order_is_split_into_one_step_per_split(
    planner: ExecutionPlanner, graph: PoolRegistry
) -> None:
    intent = dispose_weth("400", slippage="0.01")
    _, plan = plan_of(planner, intent)
    assert len(plan.steps) >= 2
    assert [s.index for s in plan.steps] == list(range(len(plan.steps)))
    assert sum(s.amount_in for s in plan.steps) == whole(WETH, 400)
    pools = {hop.pool_id for s in plan.steps for hop in s.hops}
    assert pools <= set(V3_POOLS) and "weth-usdc-500" in pools
    for step in plan.steps:
        assert all(hop.fee_pips == V3_POOLS[hop.pool_id] for hop in step.hops)
        assert step.min_amount_out == step.expected_amount_out * 99 // 100
    # Executed in index order, each step gets exactly what was planned.
    paths = [([h.pool_id for h in s.hops], s.amount_in) for s in plan.steps]
    assert graph.engine.quote_sequential(paths, WETH) == [s.expected_amount_out for s in plan.steps]
    single = graph.engine.quote(["weth-usdc-500"], WETH, whole(WETH, 400))
    assert plan.expected_amount_out > single


def test_a_two_hop_route_keeps_each_pool_fee(graph: PoolRegistry) -> None:
    # Only through DAI: the direct WETH/USDC pools are not in this engine.
    registry = PoolRegistry(ExecutionEngine())
    add_v3_pool(registry, "weth-dai-3000", WETH, whole(WETH, 500), DAI, whole(DAI, 1.5e6), 3000)
    add_v3_pool(registry, "dai-usdc-100", DAI, whole(DAI, 5e6), USDC, whole(USDC, 5e6), 100)
    _, plan = plan_of(ExecutionPlanner(registry, chain_id=42161), dispose_weth("2"))
    [step] = plan.steps
    assert [(h.pool_id, h.token_in, h.token_out, h.fee_pips) for h in step.hops] == [
        ("weth-dai-3000", WETH, DAI, 3000),
        ("dai-usdc-100", DAI, USDC, 100),
    ]
    assert step.hops[0].amount_out == step.hops[1].amount_in
    order = order_from_step(step, WETH)  # the adapter can build it as is
    assert order.route.tokens == (WETH, DAI, USDC) and order.route.fees == (3000, 100)


def test_venue_constraints_are_respected(graph: PoolRegistry, planner: ExecutionPlanner) -> None:
    v2_planner = ExecutionPlanner(graph, venues=["uniswap_v2"], chain_id=42161)
    _, plan = plan_of(v2_planner, dispose_weth("1", allowed_venues=["uniswap_v2"]))
    assert {h.pool_id for s in plan.steps for h in s.hops} == {"weth-usdc-v2"}
    assert plan.steps[0].venue == "uniswap_v2" and plan.steps[0].hops[0].fee_pips == 3000

    for constraints in ({"excluded_venues": ["uniswap_v3"]}, {"allowed_venues": ["uniswap_v2"]}):
        intent = dispose_weth("1", **constraints)
        with pytest.raises(PlanningError) as err:
            planner.plan(intent, decompose(intent, {}, NOW), NOW)
        assert err.value.code == "VENUE_NOT_ALLOWED"
    # Allowed explicitly, or with another venue excluded: planned on V3 only.
    for constraints in ({"allowed_venues": ["uniswap_v3"]}, {"excluded_venues": ["uniswap_v2"]}):
        _, plan = plan_of(planner, dispose_weth("1", **constraints))
        assert {h.pool_id for s in plan.steps for h in s.hops} <= set(V3_POOLS)


def test_no_route_becomes_a_planning_error(planner: ExecutionPlanner) -> None:
    # LONELY trades only on a V2 pool, which this V3 planner may not use.
    intent = make_intent("dispose", [asset(LONELY, amount="10"), asset(WETH)])
    with pytest.raises(PlanningError) as err:
        planner.plan(intent, decompose(intent, {}, NOW), NOW)
    assert err.value.code == "NO_ROUTE"

    unknown = ChildOrder(index=0, token_in=WETH, token_out="0x" + "12" * 20, amount_in=10**18)
    with pytest.raises(PlanningError) as err:
        planner.plan(dispose_weth("1"), [unknown], NOW)
    assert err.value.code == "NO_ROUTE"


def test_a_pool_without_a_known_fee_is_refused() -> None:
    engine = ExecutionEngine()
    add_v3_pool(PoolRegistry(engine), "p", WETH, whole(WETH, 10), USDC, whole(USDC, 3e4), 500)
    planner = ExecutionPlanner(engine, chain_id=42161, fee_lookup={}.get, venues=["uniswap_v3"])
    intent = dispose_weth("1")
    with pytest.raises(PlanningError) as err:
        planner.plan(intent, decompose(intent, {}, NOW), NOW)
    assert err.value.code == "UNKNOWN_POOL"
    with pytest.raises(TypeError):
        ExecutionPlanner(engine, chain_id=42161)  # a bare engine knows no fees
    with pytest.raises(TypeError):  # nor venues: one must be named
        ExecutionPlanner(engine, chain_id=42161, fee_lookup={}.get)


def test_a_planner_of_every_venue_splits_across_them_one_venue_per_step(
    graph: PoolRegistry,
) -> None:
    """The registry's venues by default; each split stays on one venue (one router
    transaction), and the V2 pool takes part of a sale the V3 pools alone would price worse."""
    everywhere = ExecutionPlanner(graph, chain_id=42161)
    assert everywhere.known_venues() == ["uniswap_v2", "uniswap_v3"]
    _, plan = plan_of(everywhere, dispose_weth("10000"))
    assert {step.venue for step in plan.steps} == {"uniswap_v2", "uniswap_v3"}
    for step in plan.steps:
        venues = {"uniswap_v2" if h.pool_id.endswith("-v2") else "uniswap_v3" for h in step.hops}
        assert venues == {step.venue}
    # Excluding a venue leaves the other; excluding both is refused.
    _, plan = plan_of(everywhere, dispose_weth("10000", excluded_venues=["uniswap_v2"]))
    assert {step.venue for step in plan.steps} == {"uniswap_v3"}
    intent = dispose_weth("1", excluded_venues=["uniswap_v2", "uniswap_v3"])
    with pytest.raises(PlanningError) as err:
        everywhere.plan(intent, decompose(intent, {}, NOW), NOW)
    assert err.value.code == "VENUE_NOT_ALLOWED"


def test_passive_slices_become_steps_waiting_their_turn(planner: ExecutionPlanner) -> None:
    intent = dispose_weth("3", style="passive", window_ms=241_000)  # 4 min left
    orders, plan = plan_of(planner, intent)
    assert len(orders) == len(plan.steps) == 4
    assert [s.not_before for s in plan.steps] == [o.not_before for o in orders]
    assert all(s.not_before < s.deadline for s in plan.steps)  # type: ignore[operator]
    assert sum(s.amount_in for s in plan.steps) == whole(WETH, 3)


def test_an_elapsed_window_is_refused(planner: ExecutionPlanner) -> None:
    intent = dispose_weth("1", window_ms=2_000)
    orders = decompose(intent, {}, NOW)
    with pytest.raises(PlanningError) as err:
        planner.plan(intent, orders, CREATED_AT + timedelta(seconds=2))
    assert err.value.code == "WINDOW_ELAPSED"


def test_acquire_plan_covers_the_amount_even_at_the_minimum(planner: ExecutionPlanner) -> None:
    intent = make_intent("acquire", [asset(WETH, amount="250"), asset(USDC)], slippage="0.02")
    _, plan = plan_of(planner, intent)
    assert len(plan.steps) >= 2  # large enough to split
    assert sum(s.min_amount_out for s in plan.steps) >= whole(WETH, 250)
    assert plan.expected_amount_out >= whole(WETH, 250) / (1 - 0.02)


def test_acquire_sizing_and_planning_agree_with_a_gas_price() -> None:
    # Routes net of gas may differ from gross ones: the sizer must route as the planner.
    planner = ExecutionPlanner(small_graph(gas_token=WETH), chain_id=42161, gas_price_wei=10**10)
    intent = make_intent("acquire", [asset(DAI, amount="20000"), asset(USDC)])
    orders, plan = plan_of(planner, intent)
    assert sum(s.min_amount_out for s in plan.steps) >= whole(DAI, 20_000)
    assert plan.expected_amount_out >= orders[0].target_amount_out


def test_the_gas_price_followed_from_the_node_keeps_small_orders_on_one_path() -> None:
    """With gas free, even a small order is spread over paths; priced at what a
    transaction pays (`set_gas_price`, as the planner actor follows the node), it stays
    on one path, and the price can change between plans."""
    registry = PoolRegistry(ExecutionEngine(gas_token=WETH))
    for n in (1, 2):  # twins: with gas free, any order is best split between them
        registry.upsert_v2_pool(f"twin-{n}", WETH, USDC, whole(WETH, 1_000), whole(USDC, 3e6))
    planner = ExecutionPlanner(registry, chain_id=42161)
    intent = dispose_weth("0.5")
    _, free = plan_of(planner, intent)
    planner.set_gas_price(10**10)  # 10 gwei
    _, priced = plan_of(planner, intent)
    assert len(free.steps) > 1 and len(priced.steps) == 1
    planner.set_gas_price(0)
    assert len(plan_of(planner, intent)[1].steps) == len(free.steps)
    with pytest.raises(ValueError, match="negative"):
        planner.set_gas_price(-1)


def test_a_pair_gas_cannot_be_priced_in_is_routed_as_without_a_price() -> None:
    registry = PoolRegistry(ExecutionEngine(gas_token=WETH))
    add_v3_pool(registry, "weth-usdc-500", WETH, whole(WETH, 2_000), USDC, whole(USDC, 6e6), 500)
    add_v3_pool(registry, "dai-wbtc-500", DAI, whole(DAI, 6e6), WBTC, whole(WBTC, 100), 500)
    planner = ExecutionPlanner(registry, chain_id=42161, gas_price_wei=10**10)
    intent = make_intent("dispose", [asset(DAI, amount="1000"), asset(WBTC)])
    _, plan = plan_of(planner, intent)
    assert plan.steps[0].hops[0].pool_id == "dai-wbtc-500" and plan.expected_amount_out > 0


def test_plan_events_follow_each_other(planner: ExecutionPlanner) -> None:
    intent = dispose_weth("2")
    orders, plan = plan_of(planner, intent)
    events = IntentAggregate.start(intent)
    submitted = events.append(IntentSubmitted(intent=intent, priority=5))
    decomposed, created = plan_events(events, orders, plan)
    assert (decomposed.event_type, decomposed.sequence) == ("IntentDecomposed", 1)
    assert (created.event_type, created.sequence) == ("PlanCreated", 2)
    assert decomposed.causation_id == submitted.event_id
    assert created.causation_id == decomposed.event_id
    for envelope in (decomposed, created):
        assert (envelope.intent_id, envelope.strategy_id) == (intent.id, intent.strategy_id)
    # Through the bytes every store keeps, the payloads come back whole.
    event = EventEnvelope.from_bytes(created.to_bytes()).event()
    assert isinstance(event, PlanCreated) and event.plan == plan
    event = EventEnvelope.from_bytes(decomposed.to_bytes()).event()
    assert isinstance(event, IntentDecomposed) and event.child_orders == orders
    # A retried planning publishes the same event ids.
    again = plan_events(IntentAggregate.after(intent, submitted), orders, plan)
    assert [e.event_id for e in again] == [decomposed.event_id, created.event_id]


def test_a_large_acquire_on_the_mainnet_snapshot() -> None:
    registry = snapshot_graph()
    planner = ExecutionPlanner(registry, chain_id=42161)
    weth = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
    usdc = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
    intent = make_intent(
        "acquire",
        [asset(weth, amount="200"), {"asset": {"symbol": "USDC", "address": usdc,
                                               "decimals": 6, "chain_id": 42161}}],
    )  # fmt: skip
    _, plan = plan_of(planner, intent)
    assert all(s.token_in == usdc and s.token_out == weth for s in plan.steps)
    assert sum(s.min_amount_out for s in plan.steps) >= 200 * 10**18
    assert all(h.fee_pips in (100, 500, 3000, 10000) for s in plan.steps for h in s.hops)
    assert Decimal(plan.steps[0].min_amount_out) <= plan.steps[0].expected_amount_out
