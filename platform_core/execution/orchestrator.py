"""Carry out an `ExecutionPlan` on chain, step by step, and publish what happened.

For each step, in order: stop if the intent has expired or was cancelled; wait for the
step's start time; build the swap (and an approval when the allowance is short) with the
venue adapter; simulate, journal, sign, check and broadcast it through the sender; publish
`ExecutionStepSubmitted`; follow it to its receipt; publish `ExecutionStepConfirmed` with
the amounts the receipt's logs show, or `ExecutionStepFailed` and `IntentFailed`.

Re-running `execute` for the same plan is safe: step keys derive from the plan, so the
journal hands back what was already signed (never signing twice), and event ids derive
from the plan and step, so the re-published events are deduplicated downstream. An
outcome the chain has not decided yet is reconciled, never reported as a failure; if it
stays undecided the run raises `ExecutionUndecided` and leaves the intent open. An error no
retry can mend (a `PlatformError` with `retryable=False`, such as a journal that does not
match the chain) ends the intent: `ExecutionStepFailed` and `IntentFailed` with its code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from platform_core.chain.errors import (
    BroadcastRejected,
    FeeCeilingExceeded,
    JournalError,
    SimulationReverted,
)
from platform_core.chain.journal import StepRecord, StepState
from platform_core.chain.sender import StepOutcome, TransactionSender, TxRequest
from platform_core.errors import ErrorCode, PlatformError
from platform_core.execution.event_chain import EventChain
from platform_core.execution.receipts import summarize_receipt
from platform_core.execution.step_gate import Gate, decide, step_deadline
from platform_core.intent.aggregate import IntentAggregate
from platform_core.market.adapter import VenueAdapter, order_from_step
from platform_core.types.events import (
    EventEnvelope,
    ExecutionCompleted,
    ExecutionStepConfirmed,
    ExecutionStepFailed,
    ExecutionStepSubmitted,
    IntentCancelled,
    IntentExpired,
    IntentFailed,
)
from platform_core.types.intent import Intent, IntentStatus
from platform_core.types.plan import ExecutionPlan, ExecutionStep

log = logging.getLogger(__name__)

UNDECIDED_STATES = (StepState.PREPARED, StepState.SIGNED, StepState.SUBMITTED, StepState.UNKNOWN)


class EventPublisher(Protocol):
    """Where events go (`EventStream` is one); publishing an id twice must be harmless."""

    async def publish(self, envelope: EventEnvelope) -> Any: ...


class ExecutionUndecided(PlatformError, RuntimeError):
    """The chain has not decided a step after every reconcile round: the intent stays open
    and a later run (or `TransactionSender.recover`) settles it."""

    code = ErrorCode.EXECUTION_UNDECIDED
    retryable = True


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ExecutionResult:
    status: IntentStatus
    steps_confirmed: int
    amount_in: int  # totals actually moved, from the receipts
    amount_out: int
    events: tuple[EventEnvelope, ...]
    next_sequence: int  # the sequence the intent's next event takes


@dataclass(frozen=True)
class _StepFailure:
    tx_hash: bytes | None
    reason: str
    reverted: bool = False
    block_number: int | None = None  # where it reverted
    code: ErrorCode | None = None  # of the error that ended it, when one did

    def describe(self, prefix: str = "") -> str:
        """The reason after `prefix`, led by the error code when there is one."""
        text = f"{prefix}{self.reason}"
        return text if self.code is None else f"{self.code}: {text}"


def step_key(plan: ExecutionPlan, step: ExecutionStep) -> str:
    """Journal key of a step: stable across re-runs of the same plan."""
    return f"{plan.plan_id}:{step.index}"


def _hex(tx_hash: bytes) -> str:
    return "0x" + bytes(tx_hash).hex()


class ExecutionOrchestrator:
    """Executes plans for one wallet (the sender's) on one venue."""

    def __init__(
        self,
        adapter: VenueAdapter,
        sender: TransactionSender,
        publisher: EventPublisher,
        *,
        wallet: str,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        reconcile_rounds: int = 3,
    ) -> None:
        """`clock` and `sleep` are the orchestrator's time: a backtest passes a simulated
        clock whose `sleep` advances it, so waiting for a step's start time takes no time."""
        if wallet.lower() != sender.address.lower():
            raise ValueError("the wallet must be the sender's: it signs the steps")
        self.adapter = adapter
        self.sender = sender
        self.publisher = publisher
        self.wallet = sender.address
        self.clock = clock
        self.sleep = sleep
        self.reconcile_rounds = reconcile_rounds

    async def execute(
        self,
        intent: Intent,
        plan: ExecutionPlan,
        *,
        after: EventEnvelope,
        cancelled: asyncio.Event | None = None,
    ) -> ExecutionResult:
        """Run `plan`; its events follow `after` (the plan's `PlanCreated`) in the intent's
        sequence, so every run of the same plan appends at the same sequences."""
        if plan.intent_id != intent.id:
            raise ValueError("the plan belongs to another intent")
        events = EventChain(
            IntentAggregate.after(intent, after), plan_id=plan.plan_id, clock=self.clock
        )
        done = amount_in = amount_out = 0  # confirmed steps and what they moved

        async def finish(status: IntentStatus, event: Any) -> ExecutionResult:
            await self._publish(events, event)
            return ExecutionResult(
                status, done, amount_in, amount_out, tuple(events.envelopes), events.next_sequence
            )

        for step in plan.steps:
            key = step_key(plan, step)
            deadline = step_deadline(intent, step)
            # A step already signed in an earlier run is followed to its end whatever the
            # clock says: the chain, not the deadline, decides what became of it.
            if not await self._was_signed(f"{key}:swap"):
                gate = await self._wait_for_turn(step, deadline, cancelled)
                if gate is Gate.EXPIRED:
                    return await finish(
                        IntentStatus.EXPIRED, IntentExpired(deadline=deadline, steps_completed=done)
                    )
                if gate is Gate.CANCELLED:
                    cancelled_steps = len(plan.steps) - done
                    return await finish(
                        IntentStatus.CANCELLED, IntentCancelled(steps_cancelled=cancelled_steps)
                    )
            try:
                outcome = await self._run_step(events, plan, step, key)
            except PlatformError as exc:
                if exc.retryable:
                    raise
                outcome = _StepFailure(None, str(exc), code=exc.code)
            if isinstance(outcome, _StepFailure):
                await self._publish(
                    events,
                    ExecutionStepFailed(
                        plan_id=plan.plan_id,
                        step_id=step.step_id,
                        tx_hash=None if outcome.tx_hash is None else _hex(outcome.tx_hash),
                        reason=outcome.describe(),
                        reverted=outcome.reverted,
                    ),
                    step.index,
                )
                if await self._mined_past(outcome, step):
                    # The swap's own deadline guard reverted it: the window ran out while it
                    # waited for inclusion. The intent expired; nothing else is sent.
                    return await finish(
                        IntentStatus.EXPIRED, IntentExpired(deadline=deadline, steps_completed=done)
                    )
                return await finish(
                    IntentStatus.FAILED,
                    IntentFailed(reason=outcome.describe(f"step {step.index}: ")),
                )
            amount_in += outcome.amount_in
            amount_out += outcome.amount_out
            done += 1
        return await finish(
            IntentStatus.COMPLETED,
            ExecutionCompleted(plan_id=plan.plan_id, amount_in=amount_in, amount_out=amount_out),
        )

    # -- scheduling -----------------------------------------------------------------------

    async def _wait_for_turn(
        self, step: ExecutionStep, deadline: datetime, cancelled: asyncio.Event | None
    ) -> Gate:
        """GO, EXPIRED or CANCELLED; waits at most once (until `not_before`, bounded by the
        deadline, woken early by a cancel), then decides again."""
        for _ in range(2):
            decision = decide(
                now=self.clock(),
                deadline=deadline,
                not_before=step.not_before,
                cancelled=cancelled is not None and cancelled.is_set(),
            )
            if decision.gate is not Gate.WAIT:
                return decision.gate
            if cancelled is None:
                await self.sleep(decision.wait_s)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(cancelled.wait(), decision.wait_s)
        if cancelled is not None and cancelled.is_set():
            return Gate.CANCELLED
        return Gate.EXPIRED if self.clock() >= deadline else Gate.GO

    # -- one step -------------------------------------------------------------------------

    async def _run_step(
        self, events: EventChain, plan: ExecutionPlan, step: ExecutionStep, key: str
    ) -> _StepFailure | ExecutionStepConfirmed:
        order = order_from_step(step, self.wallet)
        requests = await self.adapter.build_swap_tx(order, self.wallet, key)
        *prerequisites, swap = requests
        for request in prerequisites:  # the approval: not an event of its own
            failure = await self._send_prerequisite(request)
            if failure is not None:
                return failure
        outcome = await self._send_swap(events, plan, step, swap)
        if isinstance(outcome, _StepFailure):
            return outcome
        return await self._confirm(events, plan, step, outcome)

    async def _send_prerequisite(self, request: TxRequest) -> _StepFailure | None:
        kind = request.meta.get("kind", "transaction")
        try:
            outcome = await self.sender.execute(request)
        except SimulationReverted as exc:
            return _StepFailure(None, f"{kind} refused in pre-flight: {exc}")
        except (FeeCeilingExceeded, BroadcastRejected) as exc:
            return _StepFailure(None, f"{kind} not sent: {exc}")
        outcome = await self._settled(request.step_key, outcome)
        if outcome.state is StepState.CONFIRMED:
            return None
        return _StepFailure(
            outcome.tx_hash,
            f"{kind} {outcome.state}" + (f": {outcome.detail}" if outcome.detail else ""),
            reverted=outcome.state is StepState.REVERTED,
        )

    async def _send_swap(
        self, events: EventChain, plan: ExecutionPlan, step: ExecutionStep, request: TxRequest
    ) -> _StepFailure | StepOutcome:
        record = await self.sender.prepare(request)
        if record.state is StepState.REFUSED:  # in an earlier run, before any broadcast
            return _StepFailure(None, f"refused: {record.detail}")
        if record.attempts:
            # Signed in an earlier run: never sign again; report it as then, settle it now.
            await self._submitted(events, plan, step, record)
            outcome = await self._settled(record.step_key, None)
        else:
            try:
                gas_limit = await self.sender.preflight(record)
                attempt = await self.sender.sign_and_journal(record.step_key, gas_limit)
                await self.sender.broadcast(record.step_key, attempt)
            except (SimulationReverted, FeeCeilingExceeded, BroadcastRejected) as exc:
                # Worded from the journal, as a re-run (the branch above) words it.
                refused = await asyncio.to_thread(self.sender.journal.get, record.step_key)
                return _StepFailure(None, f"refused: {refused.detail or exc}")
            record = await asyncio.to_thread(self.sender.journal.get, record.step_key)
            await self._submitted(events, plan, step, record)
            outcome = await self._settled(record.step_key, await self.sender.wait(record.step_key))
        if outcome.state is StepState.CONFIRMED:
            return outcome
        detail = f": {outcome.detail}" if outcome.detail else ""
        mined = outcome.receipt.get("blockNumber") if outcome.receipt else None
        return _StepFailure(
            outcome.tx_hash,
            f"transaction {outcome.state}{detail}",
            reverted=outcome.state is StepState.REVERTED,
            block_number=None if mined is None else int(mined),
        )

    async def _settled(self, key: str, outcome: StepOutcome | None) -> StepOutcome:
        """Reconcile until the chain has decided; undecided after every round: raise."""
        for _ in range(self.reconcile_rounds):
            if outcome is not None and outcome.state not in UNDECIDED_STATES:
                return outcome
            outcome = await self.sender.reconcile(key)
        if outcome is not None and outcome.state not in UNDECIDED_STATES:
            return outcome
        raise ExecutionUndecided(f"step {key}: still {outcome and outcome.state} on chain")

    async def _submitted(
        self, events: EventChain, plan: ExecutionPlan, step: ExecutionStep, record: StepRecord
    ) -> None:
        attempt = record.attempts[0]  # the original: later attempts reuse its nonce
        await self._publish(
            events,
            ExecutionStepSubmitted(
                plan_id=plan.plan_id,
                step_id=step.step_id,
                tx_hash=_hex(attempt.tx_hash),
                wallet=self.wallet,
                nonce=attempt.nonce,
            ),
            step.index,
        )

    async def _confirm(
        self, events: EventChain, plan: ExecutionPlan, step: ExecutionStep, outcome: StepOutcome
    ) -> ExecutionStepConfirmed:
        assert outcome.tx_hash is not None  # a confirmed step has a mined transaction
        receipt = outcome.receipt or await self.sender.client.receipt(outcome.tx_hash)
        if receipt is None:  # the journal says mined; a node that forgot it is a reorg
            raise ExecutionUndecided(f"no receipt for confirmed tx {_hex(outcome.tx_hash)}")
        summary = summarize_receipt(
            receipt, wallet=self.wallet, token_in=step.token_in, token_out=step.token_out
        )
        confirmed = ExecutionStepConfirmed(
            plan_id=plan.plan_id,
            step_id=step.step_id,
            tx_hash=_hex(outcome.tx_hash),
            block_number=summary.block_number,
            amount_in=summary.moved.amount_in,
            amount_out=summary.moved.amount_out,
            gas_used=summary.gas_used,
            effective_gas_price=summary.effective_gas_price,
        )
        await self._publish(events, confirmed, step.index)
        return confirmed

    # -- helpers --------------------------------------------------------------------------

    async def _mined_past(self, failure: _StepFailure, step: ExecutionStep) -> bool:
        """Whether a reverted swap was mined after the step's deadline (the router's guard
        refuses a swap whose block is later than its deadline)."""
        if not failure.reverted or failure.tx_hash is None:
            return False
        block_number = failure.block_number
        if block_number is None:
            receipt = await self.sender.client.receipt(failure.tx_hash)
            if receipt is None:
                return False
            block_number = int(receipt["blockNumber"])
        block = await self.sender.client.get_block(block_number)
        return int(block["timestamp"]) > int(step.deadline.timestamp())

    async def _was_signed(self, key: str) -> bool:
        try:
            record = await asyncio.to_thread(self.sender.journal.get, key)
        except JournalError:  # never prepared
            return False
        return bool(record.attempts)

    async def _publish(
        self, events: EventChain, event: Any, step_index: int | None = None
    ) -> EventEnvelope:
        envelope = events.append(event, step_index)
        await self.publisher.publish(envelope)
        log.info("intent %s: %s seq %d", envelope.intent_id, envelope.event_type, envelope.sequence)
        return envelope
