"""Plan legs: a routed path whose hops span venues is several steps, one per run of hops on
one venue, a later leg spending earlier legs' outputs (`spends`); a leg that several paths
share is one step, whose output the next legs share."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from platform_core.execution import ExecutionPlanner
from platform_core.intent.decomposer import decompose
from platform_core.market.adapter import min_amount_out
from platform_core.market.pool_registry import PoolRegistry
from platform_core.types import EventEnvelope, ExecutionPlan, ExecutionStep, PlanCreated, RouteHop
from platform_core.types.plan import Spend
from platform_rust import ExecutionEngine
from tests.unit.pool_graphs import (
    CREATED_AT,
    LONELY,
    USDC,
    WETH,
    add_v3_pool,
    asset,
    make_intent,
    whole,
)

NOW = CREATED_AT + timedelta(seconds=1)
WBTC = "0x2f2a2543B76A4166549F7aaB2e75Bef0aefC5B0f"
V2, V3 = "uniswap_v2", "uniswap_v3"


def leg(index: int, token_in: str, token_out: str, *, out: int = 10**18, chain_id: int = 42161,
        spends: int | dict[int, int] | None = None,
        amount_in: int = 10**6) -> ExecutionStep:  # fmt: skip
    """A step; `spends` one earlier step (all of `amount_in` from it) or {step: amount}."""
    hop = RouteHop(pool_id=f"p{index}", token_in=token_in, token_out=token_out, fee_pips=500,
                   amount_in=amount_in, amount_out=out)  # fmt: skip
    if isinstance(spends, int):
        spends = {spends: amount_in}
    return ExecutionStep(
        index=index, venue=V3, chain_id=chain_id, token_in=token_in, token_out=token_out,
        amount_in=amount_in, expected_amount_out=out, min_amount_out=out * 99 // 100,
        hops=[hop], deadline=CREATED_AT + timedelta(minutes=5),
        spends=[Spend(step=k, amount=v) for k, v in (spends or {}).items()],
    )  # fmt: skip


INTENT = make_intent("dispose", [asset(WETH, amount="1"), asset(USDC)])


def plan_of_steps(*steps: ExecutionStep) -> ExecutionPlan:
    return ExecutionPlan(intent_id=INTENT.id, created_at=CREATED_AT, steps=list(steps))


# -- the types ----------------------------------------------------------------------------


def test_a_leg_spends_an_earlier_step_of_its_token_on_its_chain() -> None:
    plan = plan_of_steps(leg(0, LONELY, WETH, out=10**6), leg(1, WETH, USDC, out=11, spends=0),
                         leg(2, LONELY, USDC, out=5))  # fmt: skip
    assert [[s.index for s in path.steps] for path in plan.paths()] == [[0, 1], [2]]
    assert [s.index for s in plan.final_steps()] == [1, 2]
    assert [s.index for s in plan.first_steps()] == [0, 2]
    assert not plan.is_final(plan.steps[0]) and plan.is_final(plan.steps[1])
    # Only the paths' last legs count as output; the WETH handed on is not.
    assert plan.expected_amount_out == 11 + 5
    assert plan.min_amount_out == 11 * 99 // 100 + 5 * 99 // 100
    assert plan.amount_in == 2 * 10**6

    with pytest.raises(ValidationError, match="earlier step"):
        leg(1, WETH, USDC, spends=1)
    with pytest.raises(ValidationError, match="earlier step"):
        leg(1, WETH, USDC, spends=3)
    with pytest.raises(ValidationError, match="same chain and token"):
        plan_of_steps(leg(0, LONELY, WETH), leg(1, USDC, WBTC, spends=0))
    with pytest.raises(ValidationError, match="same chain and token"):
        plan_of_steps(leg(0, LONELY, WETH), leg(1, WETH, USDC, chain_id=1, spends=0))
    with pytest.raises(ValidationError, match="more of step 0's output than it yields"):
        plan_of_steps(leg(0, LONELY, WETH, out=10**6), leg(1, WETH, USDC, spends=0),
                      leg(2, WETH, WBTC, spends=0))  # fmt: skip
    with pytest.raises(ValidationError, match="add up to its amount_in"):
        leg(1, WETH, USDC, spends={0: 5})


def test_a_shared_leg_parts_its_output_as_planned_and_the_last_takes_what_is_left() -> None:
    """Two paths through one pool (step 0) part at WETH (steps 1 and 2) and join again at
    USDC (step 3, which also spends step 2's output): what each step spends is its part of
    what its sources actually received, and the paths carry their parts of the amounts."""
    plan = plan_of_steps(
        leg(0, LONELY, WETH, out=100, amount_in=1000),
        leg(1, WETH, USDC, out=60, spends={0: 30}, amount_in=30),
        leg(2, WETH, WBTC, out=7, spends={0: 70}, amount_in=70),
        leg(3, WBTC, USDC, out=200, spends={2: 7}, amount_in=7),
    )
    assert [s.index for s in plan.first_steps()] == [0]
    assert [s.index for s in plan.final_steps()] == [1, 3]
    assert plan.amount_in == 1000 and plan.expected_amount_out == 260
    # Step 0 received 91, not 100: 30 % of it for step 1 (floored), the rest for step 2.
    received = {0: 91, 2: 5}
    assert plan.funding(plan.steps[1], received) == 27
    assert plan.funding(plan.steps[2], received) == 91 - 27
    assert plan.funding(plan.steps[3], received) == 5
    assert plan.funding(plan.steps[0], received) == 1000
    paths = {tuple(s.index for s in p.steps): p for p in plan.paths()}
    assert set(paths) == {(0, 1), (0, 2, 3)}
    assert paths[(0, 1)].amount_in == pytest.approx(300)
    assert paths[(0, 2, 3)].amount_in == pytest.approx(700)
    assert sum(p.expected_amount_out for p in paths.values()) == pytest.approx(260)


def test_steps_written_before_legs_still_decode_as_spending_the_intents_tokens() -> None:
    plan = plan_of_steps(leg(0, LONELY, WETH), leg(1, WETH, USDC, spends=0))
    envelope = EventEnvelope.wrap(PlanCreated(plan=plan), intent_id=INTENT.id,
                                  strategy_id=INTENT.strategy_id, sequence=2)  # fmt: skip
    assert EventEnvelope.from_bytes(envelope.to_bytes()).event() == PlanCreated(plan=plan)
    payload = PlanCreated(plan=plan_of_steps(leg(0, LONELY, WETH))).model_dump(mode="json")
    del payload["plan"]["steps"][0]["spends"]  # as a planner before legs wrote it
    old = PlanCreated.model_validate(payload)
    assert old.plan.steps[0].spends == []
    assert old.plan.expected_amount_out == 10**18
    # A leg as a planner before shared legs wrote it: the whole output of one step.
    two = plan_of_steps(leg(0, LONELY, WETH, out=10**6), leg(1, WETH, USDC, spends=0))
    payload = PlanCreated(plan=two).model_dump(mode="json")
    for step, source in zip(payload["plan"]["steps"], (None, 0), strict=True):
        del step["spends"]
        step["spends_output_of"] = source
    assert PlanCreated.model_validate(payload) == PlanCreated(plan=two)


# -- the planner --------------------------------------------------------------------------


def hop_graph(*, direct: bool = False) -> PoolRegistry:
    """LONELY trades only on a V2 pair (against WETH); WETH/USDC only on a V3 pool: a sale
    of LONELY for USDC must hop from one venue to the other. With `direct`, a shallow V3
    LONELY/USDC pool too, priced like the hop: the engine splits across both paths."""
    registry = PoolRegistry(ExecutionEngine())
    registry.upsert_v2_pool("lonely-weth-v2", LONELY, WETH, whole(LONELY, 1e6), whole(WETH, 1e3))
    add_v3_pool(registry, "weth-usdc-500", WETH, whole(WETH, 2_000), USDC, whole(USDC, 6e6), 500)
    if direct:
        add_v3_pool(registry, "lonely-usdc-3000", LONELY, whole(LONELY, 1e4), USDC,
                    whole(USDC, 3e4), 3000)  # fmt: skip
    return registry


def dispose_lonely(amount: str, slippage: str = "0.01"):
    return make_intent("dispose", [asset(LONELY, amount=amount), asset(USDC)], slippage=slippage)


def planned(planner: ExecutionPlanner, intent) -> ExecutionPlan:
    return planner.plan(intent, decompose(intent, {}, NOW, sizer=planner.sizer(intent)), NOW)


def test_a_path_across_venues_becomes_legs_with_the_paths_floor_on_the_last() -> None:
    registry = hop_graph()
    planner = ExecutionPlanner(registry, chain_id=42161)
    plan = planned(planner, dispose_lonely("100"))
    first, last = plan.steps
    assert (first.venue, first.token_in, first.token_out) == (V2, LONELY, WETH)
    assert (last.venue, last.token_in, last.token_out) == (V3, WETH, USDC)
    assert (first.spends, last.spends) == ([], [Spend(step=0, amount=last.amount_in)])
    assert [h.pool_id for h in first.hops] == ["lonely-weth-v2"]
    assert [(h.pool_id, h.fee_pips) for h in last.hops] == [("weth-usdc-500", 500)]
    # Amounts: the path's input and output, the WETH handed on in between.
    assert first.amount_in == whole(LONELY, 100)
    assert last.amount_in == first.expected_amount_out
    path_out = registry.engine.quote(["lonely-weth-v2", "weth-usdc-500"], LONELY, first.amount_in)
    assert last.expected_amount_out == path_out == plan.expected_amount_out
    # Floors: each leg its own; the last one the path's, not compounded over the legs.
    assert first.min_amount_out == min_amount_out(first.expected_amount_out, Decimal("0.01"))
    assert last.min_amount_out == path_out * 99 // 100
    assert plan.amount_in == whole(LONELY, 100)


def test_a_split_route_keeps_each_paths_legs_in_order() -> None:
    planner = ExecutionPlanner(hop_graph(direct=True), chain_id=42161)
    plan = planned(planner, dispose_lonely("2000"))
    paths = [path.steps for path in plan.paths()]
    assert sorted(len(path) for path in paths) == [1, 2]  # the direct path and the hop
    assert sum(path[0].amount_in for path in paths) == whole(LONELY, 2000) == plan.amount_in
    for path in paths:
        assert [s.index for s in path] == list(range(path[0].index, path[0].index + len(path)))
        assert path[0].token_in == LONELY and path[-1].token_out == USDC
    route = planner.engine.optimize_route(LONELY, USDC, whole(LONELY, 2000),
                                          allowed_venues=[V2, V3])  # fmt: skip
    assert plan.expected_amount_out == route.amount_out
    # Excluding a venue refuses the hop: nothing but the direct pool remains.
    intent = make_intent("dispose", [asset(LONELY, amount="10"), asset(USDC)],
                         excluded_venues=[V2])  # fmt: skip
    only_v3 = planned(planner, intent)
    assert {s.venue for s in only_v3.steps} == {V3} and len(only_v3.paths()) == len(only_v3.steps)


def test_an_acquire_through_a_hop_is_sized_as_it_is_planned() -> None:
    planner = ExecutionPlanner(hop_graph(), chain_id=42161)
    intent = make_intent("acquire", [asset(USDC, amount="5000"), asset(LONELY)], slippage="0.02")
    plan = planned(planner, intent)
    assert any(s.spends for s in plan.steps)
    assert plan.min_amount_out >= whole(USDC, 5000)
    assert all(s.token_out == USDC for s in plan.final_steps())


def test_the_gate_sees_a_hopping_path_as_one_pair_paying_only_the_intents_token() -> None:
    # The gate reserves what the plan pays: the WETH handed between the legs is no payment.
    from platform_core.intent.validator import _legs, _paid_by_legs

    planner = ExecutionPlanner(hop_graph(), chain_id=42161)
    plan = planned(planner, dispose_lonely("100"))
    [routed] = _legs(planner, plan)
    assert (routed.token_in, routed.token_out) == (LONELY, USDC)
    assert (routed.amount_in, routed.amount_out) == (plan.amount_in, plan.expected_amount_out)
    assert routed.fee == pytest.approx(1 - (1 - 0.003) * (1 - 0.0005))
    assert 0 <= routed.price_impact < 0.01
    assert _paid_by_legs([routed]) == {LONELY.lower(): whole(LONELY, 100)}


def test_the_gates_fee_and_cost_of_a_pair_are_over_all_its_paths() -> None:
    """Split over a direct pool (0.3 %) and a hop (0.3 % + 0.05 %), a pair's fee is the
    paths' fees weighted by what each takes in, and its cost is against the lowest of the
    paths' mid rates: not those of whichever path the plan lists first (a CI run saw the
    seed intent refused, SLIPPAGE_TOO_TIGHT, priced as if all of it paid the hop's fees)."""
    from platform_core.intent.validator import _legs, _mid_rate

    planner = ExecutionPlanner(hop_graph(direct=True), chain_id=42161)
    plan = planned(planner, dispose_lonely("2000"))
    [routed] = _legs(planner, plan)
    hop_fee, direct_fee = 1 - (1 - 0.003) * (1 - 0.0005), 0.003
    shares = {len(path.steps): path.amount_in / plan.amount_in for path in plan.paths()}
    assert routed.fee == pytest.approx(shares[2] * hop_fee + shares[1] * direct_fee)
    assert direct_fee < routed.fee < hop_fee
    assert 0 <= routed.cost < routed.fee + 0.05
    mids = [_mid_rate(planner, [h for s in path.steps for h in s.hops])[1]
            for path in plan.paths()]  # fmt: skip
    assert routed.cost == pytest.approx(
        max(1 - plan.expected_amount_out / (plan.amount_in * min(mids)), 0.0)
    )


def test_a_probe_the_pools_cannot_quote_counts_no_impact_and_raises_nothing() -> None:
    """Seen in a 10,000-intent chaos run: the gate's probe along a planned path raised
    "insufficient liquidity" (the pool had moved since the plan) and the POST got a 500."""
    from platform_core.intent.validator import _legs

    planner = ExecutionPlanner(hop_graph(), chain_id=42161)
    plan = planned(planner, dispose_lonely("100"))

    class Moved:
        def quote(self, pools: list[str], token_in: str, amount_in: int) -> int:
            raise ValueError(f'pool "{pools[0]}": insufficient liquidity for this amount')

    planner.engine = Moved()  # type: ignore[assignment]
    [routed] = _legs(planner, plan)
    assert routed.fee == pytest.approx(1 - (1 - 0.003) * (1 - 0.0005))
    assert routed.price_impact == pytest.approx(0.0, abs=1e-12)
