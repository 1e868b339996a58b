"""The execution runner runs a plan again only when another run can help: an error that no
retry can mend (`retryable=False`) ends the runs at once; a retryable one is retried. On
start it resumes every open plan of its (chain, wallet), whatever the plan's venues."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

from platform_core.chain.errors import JournalChainMismatch, TransportError
from platform_core.config import Settings
from platform_core.execution.runner import ExecutionRunner, handoffs_from_log
from platform_core.intent.aggregate import IntentAggregate
from platform_core.types import ExecutionPlan, Intent, IntentSubmission, IntentSubmitted
from platform_core.types import intent as intent_types
from platform_core.types.events import ChildOrder, IntentDecomposed, PlanCreated
from tests.unit.test_events_and_plans import _step

WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
OTHER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
NOW = datetime.now(UTC)


class NoCancels:
    async def requested(self, intent_ids: Sequence[UUID]) -> set[UUID]:
        return set()


class FailingOrchestrator:
    """Raises `errors` in turn, one per run; then there is nothing left to raise."""

    wallet = WALLET

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.runs = 0

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.runs += 1
        raise self.errors.pop(0)


def handoff() -> Any:
    return SimpleNamespace(intent=SimpleNamespace(id=uuid4()), plan=None, plan_created=None,
                           wallet=WALLET)  # fmt: skip


async def test_an_error_no_retry_can_mend_is_not_run_again() -> None:
    orchestrator = FailingOrchestrator(
        TransportError("node away"), JournalChainMismatch("journal x does not match the chain")
    )
    runner = ExecutionRunner(orchestrator, NoCancels(), retry_delays_s=(0.0,))  # type: ignore[arg-type]
    work = handoff()
    assert runner.start(work)
    assert await runner.wait(work.intent.id) is None  # no verdict from the runner itself
    assert orchestrator.runs == 2 and orchestrator.errors == []  # retried once, then ended
    assert work.intent.id not in runner.running


def open_plan(seed_intent: dict, venues: list[str], chain_id: int = 42161) -> Any:
    """An (IntentSubmitted, PlanCreated) pair whose steps are on `venues`."""
    body = {**seed_intent, "assets": [
        {**spec, "asset": {**spec["asset"], "chain_id": chain_id}} for spec in seed_intent["assets"]
    ]}  # fmt: skip
    intent = Intent.from_submission(IntentSubmission.model_validate(body), created_at=NOW)
    steps = [_step(i, venue=venue, chain_id=chain_id) for i, venue in enumerate(venues)]
    plan = ExecutionPlan(intent_id=intent.id, created_at=NOW, steps=steps)
    events = IntentAggregate.start(intent)
    submitted = events.append(IntentSubmitted(intent=intent, priority=7))
    order = ChildOrder(index=0, token_in=steps[0].token_in, token_out=steps[0].token_out,
                       amount_in=steps[0].amount_in)  # fmt: skip
    events.append(IntentDecomposed(child_orders=[order]))
    return submitted, events.append(PlanCreated(plan=plan))


def test_the_wallets_open_plans_are_resumed_whatever_their_venues(
    seed_intent: dict, monkeypatch: Any
) -> None:
    monkeypatch.setattr(intent_types, "get_settings", lambda: Settings(chains={
        42161: {"name": "arbitrum", "rpc_url": "http://127.0.0.1:9"},
        10: {"name": "optimism", "rpc_url": "http://127.0.0.1:9"},
    }))  # fmt: skip
    ours = open_plan(seed_intent, ["uniswap_v3", "uniswap_v2"])
    on_another_chain = open_plan(seed_intent, ["uniswap_v3"], chain_id=10)
    strategy = ours[0].strategy_id
    for wallets, expected in (({strategy: WALLET}, [ours]), ({strategy: OTHER}, [])):
        handoffs = handoffs_from_log(
            [ours, on_another_chain], wallets, chain_id=42161, wallet=WALLET.lower()
        )
        assert [(h.intent.id, h.plan) for h in handoffs] == [
            (s.intent_id, p.event().plan) for s, p in expected
        ]
    (handoff,) = handoffs_from_log([ours], {strategy: WALLET}, chain_id=42161, wallet=WALLET)
    assert handoff.chain_id == 42161 and handoff.wallet == WALLET and handoff.priority == 7
    assert handoff.plan_created == ours[1] and handoff.venue == "uniswap_v3"
