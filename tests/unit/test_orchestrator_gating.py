"""The orchestrator's stop decisions, with an injected clock: past the deadline or after a
cancel it publishes the terminal event and never reaches the venue or the chain."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from platform_core.chain.client import ChainClient
from platform_core.chain.journal import Journal
from platform_core.chain.sender import SenderPolicy, TransactionSender
from platform_core.chain.signer import Signer
from platform_core.execution.orchestrator import ExecutionOrchestrator
from platform_core.intent.aggregate import IntentAggregate
from platform_core.market.uniswap_v3 import UniswapV3Adapter, UniswapV3Addresses
from platform_core.types.events import (
    ChildOrder,
    EventEnvelope,
    IntentDecomposed,
    IntentSubmitted,
    PlanCreated,
)
from platform_core.types.intent import Intent, IntentStatus, IntentSubmission
from platform_core.types.plan import ExecutionPlan, ExecutionStep, RouteHop

FIXTURES = Path(__file__).parents[1] / "fixtures"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
KEY = SecretStr("0x" + "11" * 32)  # a throwaway key: nothing is ever signed here
NOWHERE = "http://127.0.0.1:9"  # the discard port: any chain access would fail loudly


class ListPublisher:
    def __init__(self) -> None:
        self.envelopes: list[EventEnvelope] = []

    async def publish(self, envelope: EventEnvelope) -> bool:
        self.envelopes.append(envelope)
        return False


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


def intent_and_plan(steps: int = 2) -> tuple[Intent, ExecutionPlan]:
    body = json.loads((FIXTURES / "seed_intent.json").read_text())
    intent = Intent.from_submission(IntentSubmission.model_validate(body), created_at=T0)
    weth, usdc = (spec.asset.address for spec in intent.assets)
    hop = RouteHop(pool_id="p", token_in=usdc, token_out=weth, fee_pips=500,
                   amount_in=10**9, amount_out=10**17)  # fmt: skip
    plan = ExecutionPlan(
        intent_id=intent.id,
        created_at=T0,
        steps=[
            ExecutionStep(
                index=i,
                venue="uniswap_v3",
                chain_id=42161,
                token_in=usdc,
                token_out=weth,
                amount_in=10**9,
                expected_amount_out=10**17,
                min_amount_out=10**17,
                hops=[hop],
                not_before=T0 + timedelta(minutes=i),
                deadline=T0 + timedelta(minutes=5),
            )
            for i in range(steps)
        ],
    )
    return intent, plan


def plan_created(intent: Intent, plan: ExecutionPlan) -> EventEnvelope:
    """The intent's events up to its PlanCreated (sequence 2), as the processor appends them."""
    events = IntentAggregate.start(intent)
    events.append(IntentSubmitted(intent=intent, priority=5))
    step = plan.steps[0]
    order = ChildOrder(index=0, token_in=step.token_in, token_out=step.token_out,
                       amount_in=step.amount_in)  # fmt: skip
    events.append(IntentDecomposed(child_orders=[order]))
    return events.append(PlanCreated(plan=plan))


def orchestrator(
    journal: Journal, publisher: ListPublisher, now: datetime
) -> ExecutionOrchestrator:
    client = ChainClient(NOWHERE, timeout_s=0.5)
    sender = TransactionSender(
        client, Signer(KEY), journal, chain_id=42161, policy=SenderPolicy(fee_ceiling_wei=1)
    )
    addresses = UniswapV3Addresses(*(["0x" + "00" * 20] * 5))
    adapter = UniswapV3Adapter(client, 42161, addresses)
    return ExecutionOrchestrator(adapter, sender, publisher, wallet=sender.address,
                                 clock=lambda: now)  # fmt: skip


async def test_past_the_deadline_it_expires_without_touching_the_chain(journal: Journal) -> None:
    intent, plan = intent_and_plan()
    publisher = ListPublisher()
    created = plan_created(intent, plan)
    result = await orchestrator(journal, publisher, T0 + timedelta(minutes=5)).execute(
        intent, plan, after=created
    )
    assert result.status is IntentStatus.EXPIRED
    assert [e.event_type for e in publisher.envelopes] == ["IntentExpired"]
    assert publisher.envelopes[0].sequence == 3 and result.next_sequence == 4
    assert publisher.envelopes[0].causation_id == created.event_id
    assert publisher.envelopes[0].payload["steps_completed"] == 0
    assert journal.open_steps() == []


async def test_a_cancel_set_before_the_start_stops_every_step(journal: Journal) -> None:
    intent, plan = intent_and_plan()
    publisher = ListPublisher()
    cancelled = asyncio.Event()
    cancelled.set()
    result = await orchestrator(journal, publisher, T0).execute(
        intent, plan, after=plan_created(intent, plan), cancelled=cancelled
    )
    assert result.status is IntentStatus.CANCELLED
    assert [e.event_type for e in publisher.envelopes] == ["IntentCancelled"]
    assert publisher.envelopes[0].payload["steps_cancelled"] == 2


async def test_expiry_wins_over_a_cancel(journal: Journal) -> None:
    intent, plan = intent_and_plan()
    publisher = ListPublisher()
    cancelled = asyncio.Event()
    cancelled.set()
    result = await orchestrator(journal, publisher, T0 + timedelta(hours=1)).execute(
        intent, plan, after=plan_created(intent, plan), cancelled=cancelled
    )
    assert result.status is IntentStatus.EXPIRED


def test_the_wallet_must_be_the_senders(journal: Journal) -> None:
    publisher = ListPublisher()
    made = orchestrator(journal, publisher, T0)
    with pytest.raises(ValueError, match="sender"):
        ExecutionOrchestrator(made.adapter, made.sender, publisher, wallet="0x" + "22" * 20)
