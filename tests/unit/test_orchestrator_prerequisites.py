"""A step's approval is named by the step's events: its `ExecutionStepSubmitted`, or, when the
swap is never broadcast, its `ExecutionStepFailed` (`prerequisites`: kind, hash, block, gas).
The real sender and journal run over a small automining fake node; a re-run (the approval
read back from the journal, even when the allowance no longer calls for it) publishes the
same events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from platform_core.chain.decode import decode_signed
from platform_core.chain.errors import SimulationReverted
from platform_core.chain.fees import Fees, fees_from_node
from platform_core.chain.journal import Journal, StepState
from platform_core.chain.sender import SenderPolicy, TransactionSender, TxRequest
from platform_core.chain.signer import Signer
from platform_core.execution.orchestrator import ExecutionOrchestrator, step_key
from platform_core.market.adapter import SwapOrder
from platform_core.market.contracts import APPROVE
from platform_core.types.events import (
    EventEnvelope,
    ExecutionStepFailed,
    ExecutionStepSubmitted,
    PrerequisiteTx,
)
from platform_core.types.intent import Intent, IntentStatus
from platform_core.types.plan import ExecutionPlan
from tests.unit.test_orchestrator_gating import ListPublisher, intent_and_plan, plan_created

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
KEY = SecretStr("0x" + "11" * 32)  # a throwaway key, on a fake node
ROUTER = "0x" + "77" * 20
GAS = {"approve": 46_000, "swap": 120_000}
PRICE = 2


class Node:
    """An automining node: every transaction sent is mined at once, in a block of its own.
    Pre-flight of a call to an address in `refuse` reverts; a transaction to one in `revert`
    is mined reverted."""

    def __init__(self) -> None:
        self.head = 10
        self.count = 0  # the wallet's mined nonce
        self.receipts: dict[bytes, dict[str, Any]] = {}
        self.sent: list[str] = []  # what each transaction was, in nonce order
        self.refuse: set[str] = set()
        self.revert: set[str] = set()

    def approved(self, token: str) -> bool:
        return any(
            r["to"] == token.lower() and r["status"] == 1 and r["kind"] == "approve"
            for r in self.receipts.values()
        )

    async def chain_id(self) -> int:
        return 42161

    async def block_number(self) -> int:
        return self.head

    async def get_block(self, block: int | str = "latest") -> dict[str, Any]:
        number = self.head if block == "latest" else int(block)
        return {"number": number, "hash": number.to_bytes(32, "big"), "baseFeePerGas": 1,
                "timestamp": int(T0.timestamp()) + number}  # fmt: skip

    async def nonce(self, address: str, block: int | str = "pending") -> int:
        return self.count

    async def fees(self, *, ceiling: int | None) -> Fees:
        return fees_from_node(1, 1, ceiling=ceiling)

    async def call(self, tx: dict[str, Any], block: int | str = "latest") -> bytes:
        if str(tx["to"]).lower() in self.refuse:
            raise SimulationReverted("Too little received")
        return b""

    async def estimate_gas(self, tx: dict[str, Any]) -> int:
        return 150_000

    async def send_raw(self, raw: bytes) -> bytes:
        tx = decode_signed(raw)
        assert tx.nonce == self.count, "sent out of nonce order"
        to = (tx.to or "").lower()
        kind = "approve" if tx.input[:4] == APPROVE.selector else "swap"
        self.head += 1
        self.count += 1
        self.sent.append(kind)
        self.receipts[tx.hash] = {
            "transactionHash": tx.hash, "blockNumber": self.head,
            "blockHash": self.head.to_bytes(32, "big"), "status": 0 if to in self.revert else 1,
            "gasUsed": GAS[kind], "effectiveGasPrice": PRICE, "logs": [], "to": to, "kind": kind,
        }  # fmt: skip
        return tx.hash

    async def receipt(self, tx_hash: bytes) -> dict[str, Any] | None:
        return self.receipts.get(tx_hash)

    async def transaction(self, tx_hash: bytes) -> dict[str, Any] | None:
        receipt = self.receipts.get(tx_hash)
        return None if receipt is None else {"hash": tx_hash, "blockNumber": receipt["blockNumber"]}

    async def mined_transaction_at(self, address: str, nonce: int) -> bytes | None:
        return None


class Adapter:
    """The venue's transactions as `UniswapV3Adapter` builds them: an approval first while
    the node shows none for the token (always, with `always_approve`: an allowance read
    that lags), then the swap."""

    venue = "uniswap_v3"

    def __init__(self, node: Node, *, always_approve: bool = False) -> None:
        self.node = node
        self.always_approve = always_approve

    async def build_swap_tx(self, order: SwapOrder, owner: str, key: str) -> list[TxRequest]:
        requests = []
        if self.always_approve or not self.node.approved(order.token_in):
            approve = APPROVE.encode(ROUTER, 2**256 - 1)
            requests.append(TxRequest(f"{key}:approve", 42161, order.token_in, approve,
                                      meta={"kind": "approve"}))  # fmt: skip
        swap = b"\x5a" + order.amount_in.to_bytes(32, "big")
        requests.append(TxRequest(f"{key}:swap", 42161, ROUTER, swap, meta={"kind": "swap"}))
        return requests


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


def make_sender(node: Node, journal: Journal) -> TransactionSender:
    policy = SenderPolicy(fee_ceiling_wei=10**9, poll_interval_s=0, chain_check_settle_s=0)
    return TransactionSender(node, Signer(KEY), journal, chain_id=42161, policy=policy)  # type: ignore[arg-type]


def setup(steps: int = 2) -> tuple[Intent, ExecutionPlan, EventEnvelope]:
    intent, plan = intent_and_plan(steps)
    now = [s.model_copy(update={"not_before": None}) for s in plan.steps]  # all due at T0
    plan = plan.model_copy(update={"steps": now})
    return intent, plan, plan_created(intent, plan)


async def run(
    node: Node, journal: Journal, intent: Intent, plan: ExecutionPlan, after: EventEnvelope,
    **adapter: Any,
) -> tuple[IntentStatus, list[EventEnvelope]]:  # fmt: skip
    sender, publisher = make_sender(node, journal), ListPublisher()
    orchestrator = ExecutionOrchestrator(Adapter(node, **adapter), sender, publisher,
                                         wallet=sender.address, clock=lambda: T0)  # fmt: skip
    result = await orchestrator.execute(intent, plan, after=after)
    assert [e.event_id for e in result.events] == [e.event_id for e in publisher.envelopes]
    return result.status, publisher.envelopes


def approval_of(journal: Journal, node: Node, key: str) -> PrerequisiteTx:
    """The approval as the journal and the node hold it."""
    record = journal.get(f"{key}:approve")
    assert record.final_tx_hash is not None
    receipt = node.receipts[record.final_tx_hash]
    return PrerequisiteTx(kind="approve", tx_hash="0x" + record.final_tx_hash.hex(),
                          block_number=receipt["blockNumber"], gas_used=GAS["approve"],
                          effective_gas_price=PRICE, reverted=receipt["status"] != 1)  # fmt: skip


def same(a: list[EventEnvelope], b: list[EventEnvelope]) -> bool:
    return [(e.event_id, e.sequence, e.payload) for e in a] == [
        (e.event_id, e.sequence, e.payload) for e in b
    ]


async def test_the_submission_of_a_step_with_an_approval_names_it(journal: Journal) -> None:
    node = Node()
    intent, plan, after = setup(steps=2)
    status, events = await run(node, journal, intent, plan, after)

    assert status is IntentStatus.COMPLETED
    assert node.sent == ["approve", "swap", "swap"]  # the second step needs none
    assert [e.event_type for e in events] == [
        "ExecutionStepSubmitted",
        "ExecutionStepConfirmed",
        "ExecutionStepSubmitted",
        "ExecutionStepConfirmed",
        "ExecutionCompleted",
    ]  # the approval: no event of its own
    first, second = events[0].event(), events[2].event()
    approval = approval_of(journal, node, step_key(plan, plan.steps[0]))
    assert first.prerequisites == [approval] and not approval.reverted
    assert approval.block_number < node.receipts[bytes.fromhex(first.tx_hash[2:])]["blockNumber"]
    assert second.prerequisites == []
    # Every transaction on chain is named by an event.
    named = {e.payload["tx_hash"] for e in events if "tx_hash" in e.payload}
    named |= {p.tx_hash for e in events[:3:2] for p in e.event().prerequisites}
    assert named == {"0x" + h.hex() for h in node.receipts}

    # A re-run (every swap signed: nothing is built or sent) names the approval again.
    again_status, again = await run(node, journal, intent, plan, after)
    assert again_status is IntentStatus.COMPLETED and same(again, events)
    assert node.sent == ["approve", "swap", "swap"]


async def test_a_swap_refused_after_a_confirmed_approval_fails_naming_the_approval(
    journal: Journal,
) -> None:
    node = Node()
    node.refuse.add(ROUTER.lower())  # the swap reverts in pre-flight
    intent, plan, after = setup(steps=1)
    status, events = await run(node, journal, intent, plan, after)

    assert status is IntentStatus.FAILED and node.sent == ["approve"]
    assert [e.event_type for e in events] == ["ExecutionStepFailed", "IntentFailed"]
    failed = events[0].event()
    assert failed.tx_hash is None and not failed.reverted and "pre-flight" in failed.reason
    assert failed.prerequisites == [approval_of(journal, node, step_key(plan, plan.steps[0]))]
    swap = journal.get(f"{step_key(plan, plan.steps[0])}:swap")
    assert swap.state is StepState.REFUSED and not swap.attempts

    # The re-run's adapter asks for no approval (it is on chain): it is still named.
    again_status, again = await run(node, journal, intent, plan, after)
    assert again_status is IntentStatus.FAILED and same(again, events)
    assert node.sent == ["approve"]


async def test_a_reverted_approval_is_named_with_its_gas(journal: Journal) -> None:
    node = Node()
    intent, plan, after = setup(steps=1)
    node.revert.add(plan.steps[0].token_in.lower())
    status, events = await run(node, journal, intent, plan, after)

    assert status is IntentStatus.FAILED and node.sent == ["approve"]
    assert [e.event_type for e in events] == ["ExecutionStepFailed", "IntentFailed"]
    failed = events[0].event()
    approval = approval_of(journal, node, step_key(plan, plan.steps[0]))
    assert approval.reverted and failed.reverted and "approve reverted" in failed.reason
    assert failed.tx_hash == approval.tx_hash and failed.prerequisites == [approval]


@pytest.mark.parametrize("always_approve", [False, True])
async def test_an_approval_confirmed_before_a_crash_is_named_by_the_rerun(
    journal: Journal, always_approve: bool
) -> None:
    # The crashed run had its approval mined, then stopped before the swap was signed.
    node = Node()
    intent, plan, after = setup(steps=1)
    key = step_key(plan, plan.steps[0])
    approve = APPROVE.encode(ROUTER, 2**256 - 1)
    request = TxRequest(f"{key}:approve", 42161, plan.steps[0].token_in, approve,
                        meta={"kind": "approve"})  # fmt: skip
    assert (await make_sender(node, journal).execute(request)).state is StepState.CONFIRMED

    # The re-run's adapter asks for no approval (the allowance is there), or, with an
    # allowance read that lags, for the same one: then the sender hands back the journal's
    # outcome, without its receipt (never signed twice), and the node's receipt is read.
    again = make_sender(node, journal)
    assert (await again.execute(request)).receipt is None
    status, events = await run(node, journal, intent, plan, after, always_approve=always_approve)
    assert status is IntentStatus.COMPLETED and node.sent == ["approve", "swap"]
    assert [e.event_type for e in events] == [
        "ExecutionStepSubmitted", "ExecutionStepConfirmed", "ExecutionCompleted",
    ]  # fmt: skip
    assert events[0].event().prerequisites == [approval_of(journal, node, key)]


async def test_a_step_left_unsent_when_the_window_closed_names_its_mined_approval(
    journal: Journal,
) -> None:
    """Seen in the chaos run: an earlier run had the approval mined, then stopped; when
    the re-run came, the window had closed. The intent expires, and the step's failure
    names the approval, so no transaction of the wallet is in no event."""
    node = Node()
    intent, plan, after = setup(steps=1)
    key = step_key(plan, plan.steps[0])
    approve = APPROVE.encode(ROUTER, 2**256 - 1)
    request = TxRequest(f"{key}:approve", 42161, plan.steps[0].token_in, approve,
                        meta={"kind": "approve"})  # fmt: skip
    assert (await make_sender(node, journal).execute(request)).state is StepState.CONFIRMED
    sender, publisher = make_sender(node, journal), ListPublisher()
    late = T0 + timedelta(days=1)
    orchestrator = ExecutionOrchestrator(Adapter(node), sender, publisher,
                                         wallet=sender.address, clock=lambda: late)  # fmt: skip
    result = await orchestrator.execute(intent, plan, after=after)
    assert result.status is IntentStatus.EXPIRED and node.sent == ["approve"]
    events = publisher.envelopes
    assert [e.event_type for e in events] == ["ExecutionStepFailed", "IntentExpired"]
    failed = events[0].event()
    assert isinstance(failed, ExecutionStepFailed) and failed.tx_hash is None
    assert failed.prerequisites == [approval_of(journal, node, key)]


def test_events_written_before_the_field_still_decode_with_none_named() -> None:
    intent, plan, _ = setup(steps=1)
    ids = {"plan_id": str(plan.plan_id), "step_id": str(plan.steps[0].step_id)}
    old = {
        "ExecutionStepSubmitted": {**ids, "tx_hash": "0x" + "ab" * 32,
                                   "wallet": "0x" + "11" * 20, "nonce": 3},
        "ExecutionStepFailed": {**ids, "reason": "refused: pre-flight"},
    }  # fmt: skip
    for event_type, payload in old.items():
        envelope = EventEnvelope(
            event_type=event_type, intent_id=intent.id, strategy_id=intent.strategy_id,
            sequence=3, payload=payload,
        )  # fmt: skip
        decoded = EventEnvelope.from_bytes(envelope.to_bytes()).event()
        assert isinstance(decoded, ExecutionStepSubmitted | ExecutionStepFailed)
        assert decoded.prerequisites == []
    named = PrerequisiteTx(kind="approve", tx_hash="0x" + "cd" * 32, block_number=9,
                           gas_used=46_000, effective_gas_price=2**70)  # fmt: skip
    assert PrerequisiteTx.model_validate_json(named.model_dump_json()) == named
    assert f'"{2**70}"' in named.model_dump_json()  # Wei travels as a string
