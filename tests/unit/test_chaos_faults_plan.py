"""The seeded fault plan: reproducible, spread over the run, every kind when it can."""

from __future__ import annotations

from collections import Counter

import pytest

from platform_core.chaos.faults import (
    ACTOR_KINDS,
    ACTOR_NAMES,
    CHAIN_KINDS,
    HOLD_RANGES,
    REORG_DEPTHS,
    SERVICE_KINDS,
    FaultKind,
    PlatformHandle,
    actor_kind_matches,
    plan_faults,
)


def test_the_same_seed_gives_the_same_plan() -> None:
    assert plan_faults(7, 600, 20) == plan_faults(7, 600, 20)
    assert plan_faults(7, 600, 20) != plan_faults(8, 600, 20)


def test_every_kind_at_least_once_when_count_allows() -> None:
    for seed in range(20):
        plan = plan_faults(seed, 300, len(FaultKind) + 3)
        assert set(Counter(f.kind for f in plan)) == set(FaultKind)


def test_fewer_faults_than_kinds_are_distinct_kinds() -> None:
    plan = plan_faults(3, 300, 4)
    assert len({f.kind for f in plan}) == 4


def test_only_the_kinds_asked_for() -> None:
    kinds = {FaultKind.REORG, FaultKind.RESTART_NATS}
    plan = plan_faults(1, 120, 9, kinds)
    assert {f.kind for f in plan} == kinds


def test_faults_are_spread_over_the_run_in_order() -> None:
    duration, count = 600.0, 12
    plan = plan_faults(11, duration, count)
    times = [f.at for f in plan]
    assert times == sorted(times)
    assert 0.05 * duration < times[0] and times[-1] < 0.95 * duration
    slot = 0.9 * duration / count
    for index, at in enumerate(times):  # one per slot
        assert 0.05 * duration + index * slot <= at <= 0.05 * duration + (index + 1) * slot


def test_parameters_within_their_ranges() -> None:
    for fault in plan_faults(5, 900, 60):
        low, high = HOLD_RANGES.get(fault.kind, (0.0, 0.0))
        assert low <= fault.hold_s <= high
        if fault.kind is FaultKind.REORG:
            assert REORG_DEPTHS[0] <= fault.depth <= REORG_DEPTHS[1]
        else:
            assert fault.depth == 0


def test_bad_arguments() -> None:
    assert plan_faults(1, 10, 0) == []
    with pytest.raises(ValueError):
        plan_faults(1, 0, 3)
    with pytest.raises(ValueError):
        plan_faults(1, 10, 3, [])


def test_the_kinds_are_partitioned() -> None:
    assert ACTOR_KINDS | SERVICE_KINDS | CHAIN_KINDS == set(FaultKind)
    assert not ACTOR_KINDS & SERVICE_KINDS and not SERVICE_KINDS & CHAIN_KINDS


def test_actor_patterns_match_the_platforms_names() -> None:
    """The names the actors are started under (actors/wiring.py) are the kinds' targets."""
    from actors.state_coordinator import ACTOR_NAME
    from actors.wiring import PLANNER_NAME, executor_name, processor_name, venue_actor_name

    names = {
        FaultKind.KILL_EXECUTOR: executor_name(42161, "0xABCD"),
        FaultKind.KILL_INTENT_PROCESSOR: processor_name(3),
        FaultKind.KILL_PLANNER: PLANNER_NAME,
        FaultKind.KILL_STATE_COORDINATOR: ACTOR_NAME,
        FaultKind.KILL_VENUE_ADAPTER: venue_actor_name(42161, "uniswap_v3"),
    }
    for kind, name in names.items():
        assert actor_kind_matches(kind, name)
        assert [k for k in ACTOR_NAMES if actor_kind_matches(k, name)] == [kind]


def test_handle_from_the_sep_up_environment() -> None:
    env = {
        "SEP_RUN_DIR": "/tmp/run",
        "SEP_CHAINS": '{"42161": {"name": "arbitrum", "rpc_url": "http://127.0.0.1:9999"}}',
        "SEP_RAY_DASHBOARD_PORT": "1234",
        "SEP_API_PORT": "4321",
        "SEP_STRATEGY_WALLETS": '{"a1b2c3d4-e5f6-7890-1234-567890abcdef": "0xabc"}',
    }
    handle = PlatformHandle.from_env(env)
    assert handle.rpc_url == "http://127.0.0.1:9999"
    assert handle.dashboard_url == "http://127.0.0.1:1234"
    assert handle.api_url == "http://127.0.0.1:4321"
    assert handle.wallets == ("0xabc",)
    assert handle.setting("nats_url") == "nats://127.0.0.1:4222"  # the default
    assert int(handle.setting("fee_ceiling_wei")) == 100 * 10**9
