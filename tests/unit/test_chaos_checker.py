"""The history checker: a clean history passes every rule; each rule catches a history that
breaks it. Events are the real classes, appended through `IntentAggregate` (as the
platform does); journal attempts are really signed (anvil's public devnet key)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eth_account import Account

from platform_core.chain.journal import Attempt, AttemptKind, StepRecord, StepState
from platform_core.chaos.checker import (
    ETH,
    RULES,
    Balance,
    ChainTx,
    Evidence,
    Violation,
    WalletJournal,
    check,
    moved_by_reorgs,
)
from platform_core.chaos.history import ApiCall, FaultRecord
from platform_core.chaos.report import render, summary
from platform_core.intent.aggregate import IntentAggregate
from platform_core.market.contracts import APPROVE
from platform_core.state.projection import IntentView, fold
from platform_core.types import (
    EventEnvelope,
    ExecutionCompleted,
    ExecutionPlan,
    ExecutionStep,
    ExecutionStepConfirmed,
    ExecutionStepFailed,
    ExecutionStepSubmitted,
    Intent,
    IntentDenied,
    IntentFailed,
    IntentStatus,
    IntentSubmitted,
    PlanCreated,
    RouteHop,
)
from platform_core.types.events import PrerequisiteTx

SEED = json.loads((Path(__file__).parents[1] / "fixtures" / "seed_intent.json").read_text())
WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
ROUTER = "0x68b3465833fb72A70ecDF485E0e4C7bD8665Fc45"
# anvil's account 1: a public devnet-only key
KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
WALLET = Account.from_key(KEY).address
OTHER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"  # account 2
AMOUNT_IN = 4_500_000_000
AMOUNT_OUT = 1_500_100_000_000_000_000
GAS, PRICE = 120_000, 100_000_000
NONCE = 5
START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def sign(
    nonce: int, *, to: str = ROUTER, data: bytes = b"\x01swap", value: int = 0, fee: int = 10**9,
    key: str = KEY,
) -> tuple[bytes, bytes]:  # fmt: skip
    signed = Account.from_key(key).sign_transaction(
        {"type": 2, "chainId": 42161, "nonce": nonce, "to": to, "value": value, "data": data,
         "gas": 200_000, "maxFeePerGas": fee, "maxPriorityFeePerGas": fee // 10}
    )  # fmt: skip
    return bytes(signed.raw_transaction), bytes(signed.hash)


def attempt(nonce: int, kind: AttemptKind = AttemptKind.ORIGINAL, **kw: Any) -> Attempt:
    fee = kw.get("fee", 10**9)
    raw, tx_hash = sign(nonce, **kw)
    return Attempt(tx_hash, raw, kind, nonce, fee, fee // 10)


def step_record(
    key: str, attempts: tuple[Attempt, ...], state: StepState, *, to: str = ROUTER,
    data: bytes = b"\x01swap", final: bytes | None = None, meta: dict[str, Any] | None = None,
    detail: str | None = None,
) -> StepRecord:  # fmt: skip
    return StepRecord(
        step_key=key, chain_id=42161, sender=WALLET, to=to, value=0, data=data,
        gas_limit=200_000, max_fee_ceiling=100 * 10**9,
        nonce=attempts[0].nonce if attempts else None, state=state, detail=detail,
        final_tx_hash=final, meta=meta or {"kind": "swap"}, attempts=attempts,
        block_number=10 if final else None,
    )  # fmt: skip


def chain_tx(tx_hash: bytes, nonce: int, *, status: int = 1, block: int = 10) -> ChainTx:
    return ChainTx("0x" + tx_hash.hex(), WALLET.lower(), nonce, block, status, GAS, PRICE, ROUTER)


def hexh(tx_hash: bytes) -> str:
    return "0x" + tx_hash.hex()


class History:
    """A clean run: intent A submitted (twice, one key), planned, one step confirmed,
    completed; intent B denied at the gate."""

    def __init__(self) -> None:
        self.intent = Intent.model_validate(SEED)
        self.step = ExecutionStep(
            index=0, venue="uniswap_v3", chain_id=42161, token_in=USDC, token_out=WETH,
            amount_in=AMOUNT_IN, expected_amount_out=1_500_000_000_000_000_000,
            min_amount_out=1_492_500_000_000_000_000, deadline=START + timedelta(minutes=5),
            hops=[RouteHop(pool_id="p1", token_in=USDC, token_out=WETH, amount_in=AMOUNT_IN,
                           amount_out=1_500_000_000_000_000_000, fee_pips=500)],
        )  # fmt: skip
        self.plan = ExecutionPlan(intent_id=self.intent.id, created_at=START, steps=[self.step])
        self.attempt = attempt(NONCE)
        self.swap_key = f"{self.plan.plan_id}:0:swap"
        tx = hexh(self.attempt.tx_hash)
        agg = IntentAggregate.start(self.intent)
        self.events_a = [
            agg.append(IntentSubmitted(intent=self.intent, priority=6, wallet=WALLET,
                                       reserved={USDC.lower(): AMOUNT_IN}), occurred_at=START),
            agg.append(PlanCreated(plan=self.plan), occurred_at=START),
            agg.append(ExecutionStepSubmitted(plan_id=self.plan.plan_id, step_id=self.step.step_id,
                                              tx_hash=tx, wallet=WALLET, nonce=NONCE),
                       occurred_at=START),
            agg.append(ExecutionStepConfirmed(plan_id=self.plan.plan_id,
                                              step_id=self.step.step_id, tx_hash=tx,
                                              block_number=10, amount_in=AMOUNT_IN,
                                              amount_out=AMOUNT_OUT, gas_used=GAS,
                                              effective_gas_price=PRICE), occurred_at=START),
            agg.append(ExecutionCompleted(plan_id=self.plan.plan_id, amount_in=AMOUNT_IN,
                                          amount_out=AMOUNT_OUT), occurred_at=START),
        ]  # fmt: skip
        seed_b = {**SEED, "assets": [{**SEED["assets"][0], "amount": "999"}, SEED["assets"][1]]}
        self.denied = Intent.model_validate(seed_b)
        self.events_b = [
            IntentAggregate.start(self.denied).append(
                IntentDenied(reason_codes=["INSUFFICIENT_BALANCE"]), occurred_at=START
            )
        ]
        receipt = {"intent_id": str(self.intent.id), "status": "pending", "priority": 6}
        self.calls = [
            self.call("a", SEED, 202, receipt, self.intent.id),
            self.call("a", SEED, None, None, None, attempt=1),  # timed out
            self.call("a", SEED, 202, receipt, self.intent.id, attempt=2),
            self.call("b", seed_b, 422, {"intent_id": str(self.denied.id),
                                         "reason_codes": ["INSUFFICIENT_BALANCE"]},
                      self.denied.id),
        ]  # fmt: skip

    def call(
        self, key: str, request: dict[str, Any], status: int | None, body: Any,
        intent: UUID | None, attempt: int = 0,
    ) -> ApiCall:  # fmt: skip
        return ApiCall(
            client="c1", op="submit", strategy_id=SEED["strategy_id"], idempotency_key=key,
            request=request, status=status, body=body,
            intent_id=None if intent is None else str(intent), started=float(attempt),
            ended=float(attempt) + 0.5, attempt=attempt,
        )  # fmt: skip

    def evidence(self) -> Evidence:
        events = [*self.events_a, *self.events_b]
        views: dict[str, IntentView | None] = {
            str(self.intent.id): fold(self.events_a),
            str(self.denied.id): fold(self.events_b),
        }
        swap = step_record(self.swap_key, (self.attempt,), StepState.CONFIRMED,
                           final=self.attempt.tx_hash)  # fmt: skip
        return Evidence(
            api_calls=list(self.calls),
            events=events,
            journals=[WalletJournal("journal-42161-w.sqlite", 42161, [swap])],
            chain_txs=[chain_tx(self.attempt.tx_hash, NONCE)],
            balances={
                WALLET.lower(): {
                    USDC.lower(): Balance(10_000_000_000, 10_000_000_000 - AMOUNT_IN),
                    WETH.lower(): Balance(0, AMOUNT_OUT),
                    ETH: Balance(10**19, 10**19 - GAS * PRICE),
                }
            },
            views=views,
            wallets=[WALLET],
            start_block=1,
            end_block=12,
        )


def rules_of(violations: list[Violation]) -> set[str]:
    return {v.rule for v in violations}


@pytest.fixture
def history() -> History:
    return History()


def test_a_clean_history_passes_every_rule(history: History) -> None:
    assert check(history.evidence()) == []


def test_every_rule_is_named() -> None:
    assert set(RULES) == {
        "final_status", "sequence", "idempotency", "nonce_payload", "chain_accounted",
        "balance", "read_model", "denied_sent_nothing",
    }  # fmt: skip


# -- final_status ---------------------------------------------------------------------------


def test_final_status_an_accepted_intent_that_never_ends(history: History) -> None:
    ev = history.evidence()
    ev.events = [e for e in ev.events if e.event_type != "ExecutionCompleted"]
    found = check(ev, ["final_status"])
    assert [v.subject for v in found] == [str(history.intent.id)]
    assert "never ended" in found[0].detail


def test_final_status_two_final_events(history: History) -> None:
    ev = history.evidence()
    agg = IntentAggregate.resume(history.intent, history.events_a)
    ev.events.append(agg.append(IntentFailed(reason="late"), occurred_at=START))
    found = check(ev, ["final_status"])
    assert any("2 final events" in v.detail for v in found)


def test_final_status_read_model_shows_another_status(history: History) -> None:
    ev = history.evidence()
    view = ev.views[str(history.intent.id)]
    assert view is not None
    ev.views[str(history.intent.id)] = replace(view, status=IntentStatus.PROCESSING)
    found = check(ev, ["final_status"])
    assert [v.detail for v in found] == ["the log ends completed, the read model shows processing"]


def test_final_status_a_202_with_no_event_at_all(history: History) -> None:
    ev = history.evidence()
    ev.events = list(history.events_b)
    assert rules_of(check(ev, ["final_status"])) == {"final_status"}


# -- sequence -------------------------------------------------------------------------------


def test_sequence_gap(history: History) -> None:
    ev = history.evidence()
    ev.events = [e for e in ev.events if e.sequence != 2 or e.intent_id != history.intent.id]
    found = check(ev, ["sequence"])
    assert len(found) == 1 and "sequences [0, 1, 3, 4]" in found[0].detail


def test_sequence_broken_causation(history: History) -> None:
    ev = history.evidence()
    third = history.events_a[2]
    forged = third.model_copy(update={"causation_id": history.events_a[0].event_id})
    ev.events = [forged if e is third else e for e in ev.events]
    found = check(ev, ["sequence"])
    assert len(found) == 1 and "sequence 2" in found[0].detail


def test_sequence_first_event_with_a_cause(history: History) -> None:
    ev = history.evidence()
    first = history.events_b[0]
    forged = first.model_copy(update={"causation_id": history.events_a[0].event_id})
    ev.events = [forged if e is first else e for e in ev.events]
    found = check(ev, ["sequence"])
    assert [v.subject for v in found] == [str(history.denied.id)]


def test_sequence_an_event_id_stored_twice(history: History) -> None:
    ev = history.evidence()
    ev.events.append(history.events_b[0])
    assert rules_of(check(ev, ["sequence"])) == {"sequence"}


# -- idempotency ----------------------------------------------------------------------------


def test_idempotency_a_retry_that_gets_another_intent(history: History) -> None:
    ev = history.evidence()
    other = {"intent_id": str(history.denied.id), "status": "pending", "priority": 6}
    ev.api_calls[2] = history.call("a", SEED, 202, other, history.denied.id, attempt=2)
    found = check(ev, ["idempotency"])
    assert found and all(v.subject.endswith("key a") for v in found)


def test_idempotency_another_body_must_be_refused(history: History) -> None:
    ev = history.evidence()
    changed = {**SEED, "intent_type": "dispose"}
    ok = history.call("a", changed, 422, {"reason_codes": ["IDEMPOTENCY_KEY_REUSED"]}, None, 3)
    ev.api_calls.append(ok)
    assert check(ev, ["idempotency"]) == []
    ev.api_calls[-1] = history.call("a", changed, 202, {"intent_id": "x"}, None, 3)
    assert rules_of(check(ev, ["idempotency"])) == {"idempotency"}


def test_idempotency_ignores_transient_answers(history: History) -> None:
    ev = history.evidence()
    ev.api_calls.append(history.call("a", SEED, 503, {"detail": "down"}, None, 4))
    ev.api_calls.append(history.call("a", SEED, 429, {"detail": "slow"}, None, 5))
    assert check(ev, ["idempotency"]) == []


# -- nonce_payload --------------------------------------------------------------------------


def test_nonce_payload_a_speed_up_and_a_cancel_are_accepted(history: History) -> None:
    ev = history.evidence()
    speed = attempt(NONCE, AttemptKind.SPEED_UP, fee=2 * 10**9)
    cancel = attempt(NONCE, AttemptKind.CANCEL, fee=3 * 10**9, to=WALLET, data=b"")
    record = step_record(history.swap_key, (history.attempt, speed, cancel), StepState.DROPPED,
                         final=cancel.tx_hash)  # fmt: skip
    ev.journals = [WalletJournal("j", 42161, [record])]
    assert check(ev, ["nonce_payload"]) == []


def test_nonce_payload_a_speed_up_with_another_payload(history: History) -> None:
    ev = history.evidence()
    speed = attempt(NONCE, AttemptKind.SPEED_UP, fee=2 * 10**9, data=b"\x02other")
    record = step_record(history.swap_key, (history.attempt, speed), StepState.SUBMITTED)
    ev.journals = [WalletJournal("j", 42161, [record])]
    found = check(ev, ["nonce_payload"])
    assert len(found) == 1 and "speed_up" in found[0].detail


def test_nonce_payload_a_cancel_that_sends_value_elsewhere(history: History) -> None:
    ev = history.evidence()
    cancel = attempt(NONCE, AttemptKind.CANCEL, fee=2 * 10**9, to=ROUTER, data=b"")
    record = step_record(history.swap_key, (history.attempt, cancel), StepState.SUBMITTED)
    ev.journals = [WalletJournal("j", 42161, [record])]
    assert rules_of(check(ev, ["nonce_payload"])) == {"nonce_payload"}


def test_nonce_payload_a_replacement_without_higher_fees(history: History) -> None:
    ev = history.evidence()
    speed = attempt(NONCE, AttemptKind.SPEED_UP, fee=10**9 + 1)  # the tip does not rise
    speed = replace(speed, max_priority_fee_per_gas=history.attempt.max_priority_fee_per_gas)
    record = step_record(history.swap_key, (history.attempt, speed), StepState.SUBMITTED)
    ev.journals = [WalletJournal("j", 42161, [record])]
    found = check(ev, ["nonce_payload"])
    assert [v.detail for v in found] == ["speed_up does not raise the fees"]


def test_nonce_payload_two_steps_at_one_nonce(history: History) -> None:
    ev = history.evidence()
    other = attempt(NONCE, data=b"\x03another", fee=10**9 + 7)
    second = step_record("p2:0:swap", (other,), StepState.SUBMITTED, data=b"\x03another")
    ev.journals[0].steps.append(second)
    found = check(ev, ["nonce_payload"])
    assert len(found) == 1 and found[0].subject == f"{WALLET.lower()} nonce {NONCE}"


def test_nonce_payload_a_nonce_given_back_after_a_refused_broadcast(history: History) -> None:
    ev = history.evidence()
    refused = attempt(NONCE, data=b"\x03another", fee=10**9 - 1)
    first = step_record("p0:0:swap", (refused,), StepState.REFUSED, data=b"\x03another",
                        detail="broadcast refused: insufficient funds")  # fmt: skip
    ev.journals[0].steps.insert(0, first)
    assert check(ev, ["nonce_payload"]) == []


def test_nonce_payload_bytes_signed_by_another_key(history: History) -> None:
    ev = history.evidence()
    forged = attempt(NONCE, key=OTHER_KEY)
    record = step_record(history.swap_key, (forged,), StepState.SUBMITTED)
    ev.journals = [WalletJournal("j", 42161, [record])]
    found = check(ev, ["nonce_payload"])
    assert any("signed by" in v.detail for v in found)


# -- chain_accounted ------------------------------------------------------------------------


def test_chain_accounted_a_transaction_in_no_journal(history: History) -> None:
    ev = history.evidence()
    _, stray = sign(NONCE + 1, data=b"\x09")
    ev.chain_txs.append(chain_tx(stray, NONCE + 1))
    found = check(ev, ["chain_accounted"])
    assert {v.detail for v in found} == {"in no journal", "in no event"}


def test_chain_accounted_an_approval_is_journalled_but_in_no_event(history: History) -> None:
    ev = history.evidence()
    data = APPROVE.encode(ROUTER, 2**256 - 1)
    approve = attempt(NONCE - 1, to=USDC, data=data)
    record = step_record(f"{history.plan.plan_id}:0:approve", (approve,), StepState.CONFIRMED,
                         to=USDC, data=data, final=approve.tx_hash,
                         meta={"kind": "approve", "spender": ROUTER})  # fmt: skip
    ev.journals[0].steps.insert(0, record)
    ev.chain_txs.insert(0, chain_tx(approve.tx_hash, NONCE - 1, block=9))
    found = check(ev, ["chain_accounted"])
    assert len(found) == 1
    assert "in no event" in found[0].detail and "kind approve" in found[0].detail


APPROVE_GAS = 46_000


def approval(history: History, *, reverted: bool = False) -> tuple[StepRecord, ChainTx]:
    """The plan's approval (nonce NONCE - 1, block 9) as its journal and the chain hold it."""
    data = APPROVE.encode(ROUTER, 2**256 - 1)
    approve = attempt(NONCE - 1, to=USDC, data=data)
    state = StepState.REVERTED if reverted else StepState.CONFIRMED
    record = step_record(f"{history.plan.plan_id}:0:approve", (approve,), state,
                         to=USDC, data=data, final=approve.tx_hash,
                         meta={"kind": "approve", "spender": ROUTER})  # fmt: skip
    mined = ChainTx(hexh(approve.tx_hash), WALLET.lower(), NONCE - 1, 9, 0 if reverted else 1,
                    APPROVE_GAS, PRICE, USDC, input=data)  # fmt: skip
    return record, mined


def named(mined: ChainTx, **changes: Any) -> PrerequisiteTx:
    """The approval as the step's event names it."""
    fields = {"kind": "approve", "tx_hash": mined.hash, "block_number": mined.block_number,
              "gas_used": mined.gas_used, "effective_gas_price": mined.effective_gas_price,
              "reverted": mined.status == 0, **changes}  # fmt: skip
    return PrerequisiteTx.model_validate(fields)


def with_approval(history: History, prerequisite: PrerequisiteTx, mined: ChainTx) -> Evidence:
    """The clean history whose step sent an approval first, named by its Submitted."""
    submitted = history.events_a[2]
    event = submitted.event()
    assert isinstance(event, ExecutionStepSubmitted)
    history.events_a[2] = EventEnvelope.wrap(
        event.model_copy(update={"prerequisites": [prerequisite]}),
        intent_id=submitted.intent_id, strategy_id=submitted.strategy_id,
        sequence=submitted.sequence, causation_id=submitted.causation_id,
        event_id=submitted.event_id, occurred_at=submitted.occurred_at,
    )  # fmt: skip
    ev = history.evidence()
    record, _ = approval(history, reverted=mined.status == 0)
    ev.journals[0].steps.insert(0, record)
    ev.chain_txs.insert(0, mined)
    eth = ev.balances[WALLET.lower()][ETH]
    ev.balances[WALLET.lower()][ETH] = Balance(eth.start, eth.end - APPROVE_GAS * PRICE)
    return ev


def test_chain_accounted_an_approval_named_by_its_steps_submission(history: History) -> None:
    _, mined = approval(history)
    assert check(with_approval(history, named(mined), mined)) == []


def test_chain_accounted_an_approval_named_by_the_failure_of_a_swap_never_sent(
    history: History,
) -> None:
    # The approval was mined, then the swap was refused in pre-flight: no Submitted, the
    # failure names the approval.
    record, mined = approval(history)
    agg = IntentAggregate.after(history.intent, history.events_a[1])
    failed = agg.append(
        ExecutionStepFailed(
            plan_id=history.plan.plan_id,
            step_id=history.step.step_id,
            reason="refused: pre-flight reverted",
            prerequisites=[named(mined)],
        ),
        occurred_at=START,
    )
    history.events_a[2:] = [failed, agg.append(IntentFailed(reason="step 0: refused"),
                                               occurred_at=START)]  # fmt: skip
    ev = history.evidence()
    swap = step_record(history.swap_key, (), StepState.REFUSED, detail="pre-flight reverted")
    ev.journals[0].steps[:] = [record, swap]
    ev.chain_txs = [mined]
    wallet = ev.balances[WALLET.lower()]
    wallet[USDC.lower()] = Balance(10_000_000_000, 10_000_000_000)
    wallet[WETH.lower()] = Balance(0, 0)
    wallet[ETH] = Balance(10**19, 10**19 - APPROVE_GAS * PRICE)
    assert check(ev) == []
    # Without the field (an older event), the approval is in no event.
    history.events_a[2] = EventEnvelope.wrap(
        ExecutionStepFailed(plan_id=history.plan.plan_id, step_id=history.step.step_id,
                            reason="refused: pre-flight reverted"),
        intent_id=failed.intent_id, strategy_id=failed.strategy_id, sequence=failed.sequence,
        causation_id=failed.causation_id, event_id=failed.event_id, occurred_at=START,
    )  # fmt: skip
    ev.events[2] = history.events_a[2]
    found = check(ev, ["chain_accounted"])
    assert len(found) == 1 and "in no event" in found[0].detail


def test_chain_accounted_a_reverted_approval_named_with_its_gas(history: History) -> None:
    _, mined = approval(history, reverted=True)
    assert check(with_approval(history, named(mined), mined), ["chain_accounted"]) == []


def test_chain_accounted_a_named_approval_the_chain_disagrees_with(history: History) -> None:
    _, mined = approval(history)
    for wrong in ({"gas_used": APPROVE_GAS + 1}, {"block_number": 8}, {"reverted": True},
                  {"effective_gas_price": PRICE * 2}):  # fmt: skip
        found = check(with_approval(History(), named(mined, **wrong), mined), ["chain_accounted"])
        assert len(found) == 1 and "approve tx" in found[0].subject, wrong
        assert "status 1" in found[0].detail


def test_chain_accounted_a_named_approval_that_is_not_on_chain(history: History) -> None:
    _, mined = approval(history)
    ev = with_approval(history, named(mined), mined)
    ev.chain_txs.remove(mined)
    found = check(ev, ["chain_accounted"])
    assert [v.detail for v in found] == [
        "ExecutionStepSubmitted but not on chain",
        "journal says confirmed, tx not on chain",
    ]


def test_chain_accounted_an_approval_named_for_another_plan(history: History) -> None:
    _, mined = approval(history)
    ev = with_approval(history, named(mined), mined)
    other = replace(ev.journals[0].steps[0], step_key="another-plan:0:approve")
    ev.journals[0].steps[0] = other
    found = check(ev, ["chain_accounted"])
    assert len(found) == 1 and "journal step another-plan:0:approve" in found[0].detail


def test_chain_accounted_a_confirmed_step_the_chain_lost(history: History) -> None:
    ev = history.evidence()
    ev.chain_txs = []  # a reorg took it away
    found = check(ev, ["chain_accounted"])
    assert {v.rule for v in found} == {"chain_accounted"}
    assert any("not on chain" in v.detail for v in found)


def test_chain_accounted_a_confirmed_step_that_reverted(history: History) -> None:
    ev = history.evidence()
    ev.chain_txs = [chain_tx(history.attempt.tx_hash, NONCE, status=0)]
    assert len(check(ev, ["chain_accounted"])) == 2  # the event and the journal


def test_chain_accounted_a_confirmation_moved_by_an_injected_reorg(history: History) -> None:
    """The event names block 10 and its gas price; a reorg of blocks 9-11 put the same
    transaction in block 11, at another price. Only an injected reorg explains that."""
    ev = history.evidence()
    moved = replace(ev.chain_txs[0], block_number=11, effective_gas_price=PRICE - 7)
    ev.chain_txs = [moved]
    ev.balances[WALLET.lower()][ETH] = Balance(10**19, 10**19 - GAS * (PRICE - 7))
    (found,) = check(ev, ["chain_accounted"])
    assert "chain block 11" in found.detail
    ev.reorgs = [(9, 11)]
    assert check(ev) == []
    assert moved_by_reorgs(ev) == 1
    ev.reorgs = [(11, 12)]  # a reorg that did not replace block 10 explains nothing
    assert len(check(ev, ["chain_accounted"])) == 1
    ev.reorgs = [(9, 11)]
    ev.chain_txs = [replace(moved, gas_used=GAS + 1)]  # nor another outcome
    assert len(check(ev, ["chain_accounted"])) == 1


# -- balance --------------------------------------------------------------------------------


def test_balance_tokens_that_moved_more_than_the_steps_say(history: History) -> None:
    ev = history.evidence()
    usdc = ev.balances[WALLET.lower()][USDC.lower()]
    ev.balances[WALLET.lower()][USDC.lower()] = Balance(usdc.start, usdc.end - 1)
    found = check(ev, ["balance"])
    assert [v.subject for v in found] == [f"{WALLET.lower()} {USDC.lower()}"]
    assert "difference -1" in found[0].detail


def test_balance_gas_of_a_reverted_transaction_counts(history: History) -> None:
    ev = history.evidence()
    _, reverted = sign(NONCE + 1, data=b"\x07")
    ev.chain_txs.append(chain_tx(reverted, NONCE + 1, status=0))
    found = check(ev, ["balance"])
    assert [v.subject for v in found] == [f"{WALLET.lower()} {ETH}"]
    eth = ev.balances[WALLET.lower()][ETH]
    ev.balances[WALLET.lower()][ETH] = Balance(eth.start, eth.end - GAS * PRICE)
    assert check(ev, ["balance"]) == []


# -- read_model -----------------------------------------------------------------------------


def test_read_model_a_view_behind_the_log(history: History) -> None:
    ev = history.evidence()
    ev.views[str(history.intent.id)] = fold(history.events_a[:3])
    found = check(ev, ["read_model"])
    assert len(found) == 1 and "last_sequence" in found[0].detail


def test_read_model_a_missing_view_and_a_stray_one(history: History) -> None:
    ev = history.evidence()
    ev.views[str(history.denied.id)] = None
    ev.views["0190f0f0-0000-7000-8000-000000000000"] = fold(history.events_a)
    details = {v.detail for v in check(ev, ["read_model"])}
    assert details == {"the read model has no view", "a view of an intent the log lacks"}


# -- denied_sent_nothing --------------------------------------------------------------------


def test_denied_intent_with_a_plan_and_a_journal_step(history: History) -> None:
    ev = history.evidence()
    plan = ExecutionPlan(intent_id=history.denied.id, created_at=START, steps=[history.step])
    agg = IntentAggregate.resume(history.denied, history.events_b)
    ev.events.append(agg.append(PlanCreated(plan=plan), occurred_at=START))
    ev.views[str(history.denied.id)] = fold([*history.events_b, ev.events[-1]])
    ev.journals[0].steps.append(step_record(f"{plan.plan_id}:0:swap", (), StepState.PREPARED))
    found = check(ev, ["denied_sent_nothing"])
    assert len(found) == 2 and {v.subject for v in found} == {str(history.denied.id)}


def test_a_4xx_answer_with_execution_events(history: History) -> None:
    ev = history.evidence()
    ev.api_calls.append(history.call("z", SEED, 422, {"intent_id": str(history.intent.id)},
                                     history.intent.id, 9))  # fmt: skip
    found = check(ev, ["denied_sent_nothing"])
    assert len(found) == 2  # its execution events, its journal step
    assert all(v.detail.startswith("answered 422, yet") for v in found)


# -- the report -----------------------------------------------------------------------------


def test_report_tables(history: History) -> None:
    ev = history.evidence()
    faults = [
        FaultRecord("kill_actor", "executor", 1.0, 1.0, 1.1, True),
        FaultRecord("kill_actor", "planner", 2.0, 2.0, 2.1, False, "not found"),
        FaultRecord("anvil_reorg", "chain", 3.0, 3.0, 3.2, True),
    ]
    violations = [Violation("balance", "w", "x"), Violation("balance", "w", "y")]
    table = summary(ev, faults, violations)
    assert table["intents"] == {"completed": 1, "denied": 1}
    assert table["faults"] == {"anvil_reorg": {"ok": 1, "failed": 0},
                               "kill_actor": {"ok": 1, "failed": 1}}  # fmt: skip
    assert table["violations"]["balance"] == 2
    assert all(table["violations"][rule] == 0 for rule in RULES if rule != "balance")
    text = render(table)
    assert "Intents by final status" in text and "Violations by rule" in text
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}
    assert rows["read_model"] == ["0"] and rows["balance"] == ["2"]
    assert rows["kill_actor"] == ["1", "1"]
    json.dumps(table)  # the dict is JSON as it is


def test_report_an_open_intent(history: History) -> None:
    ev = history.evidence()
    ev.events = history.events_a[:3]
    assert summary(ev, [], [])["intents"] == {"open": 1}


def test_events_wrap_matches_the_aggregate(history: History) -> None:
    # The clean history relies on the aggregate's causation: each event caused by the one
    # before, the first by nothing.
    events: list[EventEnvelope] = history.events_a
    assert events[0].causation_id is None
    assert [e.causation_id for e in events[1:]] == [e.event_id for e in events[:-1]]
