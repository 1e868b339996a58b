"""Carry out an `ExecutionPlan` on chain, in waves of pipelined steps, and publish what
happened.

A wave is launched, then reported. Launching, step by step in order: stop if the intent has
expired or was cancelled; wait for the first step's start time (a later step whose start
time has not come ends the wave); build the swap (and an approval when the allowance is
short, which is followed to its receipt) with the adapter of the step's venue; simulate,
sign, check, journal and broadcast it through the sender, without waiting for its receipt,
so the wave's transactions are in flight together, in nonce order (the sender bounds how
many). A step refused before broadcast ends the wave. Reporting, in step order:
`ExecutionStepSubmitted`, then the receipt, then `ExecutionStepConfirmed` with the amounts
the receipt's logs show, or `ExecutionStepFailed`. After a failure nothing new is launched;
the steps already in flight are followed to their true end and reported; the intent ends
`IntentFailed` with the first failure (`IntentExpired` when that was a swap mined past its
deadline).

A step that spends earlier steps' outputs (`spends`: a path hopping across venues, or a leg
that several paths share) is launched only once those steps are confirmed: the wave ends
before it. It spends its part of what they received (`ExecutionPlan.funding`), as their
`ExecutionStepConfirmed` report it (read from the receipts the journal names), with its
planned floor as its minimum; so a re-run derives the same amount and prepares the same
payload. When one of them failed, the step is never sent. The intent's totals count what
the first steps paid and the final steps received.

An approval is no event of its own: the step's `ExecutionStepSubmitted` names it
(`prerequisites`: kind, hash, block, gas used and price, reverted or not), or, when the
swap was never broadcast, the step's `ExecutionStepFailed` does, so every transaction a
step put on chain is in an event. It is read back from the journal (`<step key>:approve`),
so a re-run names it too, even when the allowance no longer calls for it.

The events come in step order whatever the order of the receipts, and a wave is a function
of the journal and the clock: steps signed in an earlier run form a wave of their own,
reported before anything new is launched. So a re-run publishes the same events at the same
sequences.

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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from platform_core.chain.errors import (
    BroadcastRejected,
    FeeCeilingExceeded,
    JournalError,
    SimulationReverted,
)
from platform_core.chain.journal import MINED_STATES, StepRecord, StepState
from platform_core.chain.monitor import FrontRunSource, ask_front_run
from platform_core.chain.sender import StepOutcome, TransactionSender, TxRequest
from platform_core.errors import ErrorCode, PlatformError
from platform_core.execution.event_chain import EventChain
from platform_core.execution.receipts import summarize_receipt
from platform_core.execution.step_gate import Gate, decide, step_deadline
from platform_core.intent.aggregate import IntentAggregate
from platform_core.market.adapter import SwapBuilder, order_from_step
from platform_core.types.events import (
    EventEnvelope,
    ExecutionCompleted,
    ExecutionStepConfirmed,
    ExecutionStepFailed,
    ExecutionStepSubmitted,
    IntentCancelled,
    IntentExpired,
    IntentFailed,
    PrerequisiteTx,
)
from platform_core.types.intent import Intent, IntentStatus
from platform_core.types.plan import ExecutionPlan, ExecutionStep

log = logging.getLogger(__name__)

UNDECIDED_STATES = (StepState.PREPARED, StepState.SIGNED, StepState.SUBMITTED, StepState.UNKNOWN)
# What a step may send before its swap, each journalled as `<step key>:<kind>`: the keys a
# re-run reads back, so no other prerequisite is ever sent (it could go unreported).
PREREQUISITE_KINDS = ("approve",)


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


@dataclass(frozen=True)
class _Launched:
    """A step whose swap is signed: by this run (`fresh`: its receipt is waited for) or by
    an earlier one (reconciled first)."""

    record: StepRecord
    fresh: bool


_Launch = _Launched | _StepFailure


@dataclass
class _Tally:
    """What the steps reported so far did: confirmed count and amounts, first failure."""

    done: int = 0
    amount_in: int = 0
    amount_out: int = 0
    failure: tuple[ExecutionStep, _StepFailure] | None = None
    received: dict[int, int] = field(default_factory=dict)  # step index -> confirmed out

    def add(
        self, plan: ExecutionPlan, step: ExecutionStep, confirmed: ExecutionStepConfirmed
    ) -> None:
        """Count a confirmed step: its input when it spends the intent's tokens, its output
        when no later step spends it."""
        self.done += 1
        self.received[step.index] = confirmed.amount_out
        if not step.spends:
            self.amount_in += confirmed.amount_in
        if plan.is_final(step):
            self.amount_out += confirmed.amount_out


def step_key(plan: ExecutionPlan, step: ExecutionStep) -> str:
    """Journal key of a step: stable across re-runs of the same plan."""
    return f"{plan.plan_id}:{step.index}"


def prerequisite_keys(key: str) -> tuple[str, ...]:
    """The journal keys of what the step `key` may send before its swap."""
    return tuple(f"{key}:{kind}" for kind in PREREQUISITE_KINDS)


def _hex(tx_hash: bytes) -> str:
    return "0x" + bytes(tx_hash).hex()


class ExecutionOrchestrator:
    """Executes plans for one wallet (the sender's) on one chain, on every venue it has an
    adapter for."""

    def __init__(
        self,
        adapter: SwapBuilder,
        sender: TransactionSender,
        publisher: EventPublisher,
        *,
        wallet: str,
        venues: Mapping[str, SwapBuilder] | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        reconcile_rounds: int = 3,
        front_runs: FrontRunSource | None = None,
    ) -> None:
        """`adapter` builds the steps of its venue, `venues` those of others (by name).
        `clock` and `sleep` are the orchestrator's time: a backtest passes a simulated
        clock whose `sleep` advances it, so waiting for a step's start time takes no time."""
        if wallet.lower() != sender.address.lower():
            raise ValueError("the wallet must be the sender's: it signs the steps")
        self.adapter = adapter
        self.venues = {adapter.venue: adapter, **(venues or {})}
        self.sender = sender
        self.publisher = publisher
        self.wallet = sender.address
        self.clock = clock
        self.sleep = sleep
        self.reconcile_rounds = reconcile_rounds
        self.front_runs = front_runs  # the chain monitor: a confirmation's front-run indicator

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
        tally = _Tally()

        async def finish(status: IntentStatus, event: Any) -> ExecutionResult:
            await self._publish(events, event)
            return ExecutionResult(
                status, tally.done, tally.amount_in, tally.amount_out, tuple(events.envelopes),
                events.next_sequence,
            )  # fmt: skip

        index = 0
        while index < len(plan.steps):
            wave, gate = await self._wave(intent, plan, index, cancelled, tally)
            for step, launch in wave:
                await self._report(events, plan, step, launch, tally)
            if tally.failure is not None or gate in (Gate.EXPIRED, Gate.CANCELLED):
                await self._unsent(events, plan, plan.steps[index + len(wave) :])
            if tally.failure is not None:
                step, failure = tally.failure
                if await self._mined_past(failure, step):
                    # The swap's own deadline guard reverted it: the window ran out while it
                    # waited for inclusion. The intent expired; nothing else is sent.
                    deadline = step_deadline(intent, step)
                    expired = IntentExpired(deadline=deadline, steps_completed=tally.done)
                    return await finish(IntentStatus.EXPIRED, expired)
                reason = failure.describe(f"step {step.index}: ")
                return await finish(IntentStatus.FAILED, IntentFailed(reason=reason))
            if gate is Gate.EXPIRED:
                deadline = step_deadline(intent, plan.steps[index + len(wave)])
                expired = IntentExpired(deadline=deadline, steps_completed=tally.done)
                return await finish(IntentStatus.EXPIRED, expired)
            if gate is Gate.CANCELLED:
                cancel = IntentCancelled(steps_cancelled=len(plan.steps) - tally.done)
                return await finish(IntentStatus.CANCELLED, cancel)
            index += len(wave)
        completed = ExecutionCompleted(
            plan_id=plan.plan_id, amount_in=tally.amount_in, amount_out=tally.amount_out
        )
        return await finish(IntentStatus.COMPLETED, completed)

    # -- launching ------------------------------------------------------------------------

    async def _wave(
        self,
        intent: Intent,
        plan: ExecutionPlan,
        start: int,
        cancelled: asyncio.Event | None,
        tally: _Tally,
    ) -> tuple[list[tuple[ExecutionStep, _Launch]], Gate]:
        """The steps launched from `start` on, and the gate that ended the wave (GO: it
        ended otherwise). Steps signed in an earlier run make a wave of their own: a step
        already signed is followed to its end whatever the clock says. A step spending the
        output of a step of this wave ends it: it waits for that step's confirmation."""
        wave: list[tuple[ExecutionStep, _Launch]] = []
        if await self._signed_swap(step_key(plan, plan.steps[start])) is not None:
            for step in plan.steps[start:]:
                record = await self._signed_swap(step_key(plan, step))
                if record is None:
                    break
                wave.append((step, _Launched(record, fresh=False)))
            return wave, Gate.GO
        for step in plan.steps[start:]:
            if any(spend.step >= start for spend in step.spends):
                return wave, Gate.GO  # its input is not confirmed yet
            deadline = step_deadline(intent, step)
            if not wave:
                gate = await self._wait_for_turn(step, deadline, cancelled)
            else:
                gate = decide(
                    now=self.clock(), deadline=deadline, not_before=step.not_before,
                    cancelled=cancelled is not None and cancelled.is_set(),
                ).gate  # fmt: skip
            key = step_key(plan, step)
            if gate is not Gate.GO or await self._signed_swap(key) is not None:
                return wave, gate if gate is not Gate.WAIT else Gate.GO
            launch = await self._launch(plan, step, key, tally)
            wave.append((step, launch))
            if isinstance(launch, _StepFailure):
                break
        return wave, Gate.GO

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

    @staticmethod
    def _funded(plan: ExecutionPlan, step: ExecutionStep, tally: _Tally) -> ExecutionStep:
        """The step as it is sent: with its part of what the steps it spends from received
        (reported confirmed before its wave), whatever the plan simulated; its floor stays."""
        if not step.spends:
            return step
        for source in (spend.step for spend in step.spends):
            if source not in tally.received:  # a failed step ends the run before: never seen
                raise PlatformError(
                    f"step {step.index} spends the output of step {source}, which is not confirmed",
                    code=ErrorCode.INTERNAL,
                )
        amount = plan.funding(step, tally.received)
        if amount <= 0:
            raise PlatformError(
                f"step {step.index} has nothing to spend: the steps it spends from received"
                " too little",
                code=ErrorCode.INTERNAL,
            )
        return step.model_copy(update={"amount_in": amount})

    async def _launch(
        self, plan: ExecutionPlan, step: ExecutionStep, key: str, tally: _Tally
    ) -> _Launch:
        """Build the step (one spending earlier outputs: with its part of what they
        received), send its prerequisites (each to its receipt) and broadcast its swap; a
        failure before the swap's broadcast is the step's outcome."""
        try:
            step = self._funded(plan, step, tally)
            adapter = self.venues.get(step.venue)
            if adapter is None:
                raise PlatformError(
                    f"no adapter for venue {step.venue!r} here (have {sorted(self.venues)})",
                    code=ErrorCode.UNSUPPORTED_VENUE,
                )
            order = order_from_step(step, self.wallet)
            *prerequisites, swap = await adapter.build_swap_tx(order, self.wallet, key)
            unknown = [
                r.step_key for r in prerequisites if r.step_key not in prerequisite_keys(key)
            ]
            if unknown:  # never sent: the step's events could not name it on a re-run
                return _StepFailure(None, f"unexpected prerequisite(s) {unknown}: not sent")
            for request in prerequisites:  # named in the step's events (`_prerequisites`)
                failure = await self._send_prerequisite(request)
                if failure is not None:
                    return failure
            return await self._send_swap(swap)
        except PlatformError as exc:
            if exc.retryable:
                raise
            return _StepFailure(None, str(exc), code=exc.code)

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

    async def _send_swap(self, request: TxRequest) -> _Launch:
        record = await self.sender.prepare(request)
        if record.state is StepState.REFUSED:  # in an earlier run, before any broadcast
            return _StepFailure(None, f"refused: {record.detail}")
        if not record.attempts:
            try:
                gas_limit = await self.sender.preflight(record)
                await self.sender.sign_and_broadcast(record.step_key, gas_limit)
            except (SimulationReverted, FeeCeilingExceeded, BroadcastRejected) as exc:
                # Worded from the journal, as a re-run (the branch above) words it.
                refused = await asyncio.to_thread(self.sender.journal.get, record.step_key)
                return _StepFailure(None, f"refused: {refused.detail or exc}")
        record = await asyncio.to_thread(self.sender.journal.get, record.step_key)
        return _Launched(record, fresh=True)

    # -- reporting ------------------------------------------------------------------------

    async def _report(
        self,
        events: EventChain,
        plan: ExecutionPlan,
        step: ExecutionStep,
        launch: _Launch,
        tally: _Tally,
    ) -> None:
        """Publish what became of a launched step, once the chain has decided it. What
        the step had mined before its swap is named by its `ExecutionStepSubmitted`, or by
        its `ExecutionStepFailed` when there is none."""
        named: list[PrerequisiteTx] = []
        submitted = False  # an ExecutionStepSubmitted of the step was published
        outcome: _StepFailure | ExecutionStepConfirmed
        try:
            named = await self._prerequisites(step_key(plan, step))
            if isinstance(launch, _StepFailure):
                outcome = launch
            elif launch.record.state is StepState.REFUSED:  # refused at its broadcast
                outcome = _StepFailure(None, f"refused: {launch.record.detail}")
            else:
                await self._submitted(events, plan, step, launch.record, named)
                submitted = True
                outcome = await self._follow(events, plan, step, launch)
        except PlatformError as exc:
            if exc.retryable:
                raise
            outcome = _StepFailure(None, str(exc), code=exc.code)
        if isinstance(outcome, ExecutionStepConfirmed):
            tally.add(plan, step, outcome)
            return
        await self._publish(
            events,
            ExecutionStepFailed(
                plan_id=plan.plan_id,
                step_id=step.step_id,
                tx_hash=None if outcome.tx_hash is None else _hex(outcome.tx_hash),
                reason=outcome.describe(),
                reverted=outcome.reverted,
                prerequisites=[] if submitted else named,
            ),
            step.index,
        )
        if tally.failure is None:
            tally.failure = (step, outcome)

    async def _follow(
        self, events: EventChain, plan: ExecutionPlan, step: ExecutionStep, launch: _Launched
    ) -> _StepFailure | ExecutionStepConfirmed:
        record = launch.record
        first = await self.sender.wait(record.step_key) if launch.fresh else None
        outcome = await self._settled(record.step_key, first)
        if outcome.state is StepState.CONFIRMED:
            return await self._confirm(events, plan, step, outcome)
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

    async def _unsent(
        self, events: EventChain, plan: ExecutionPlan, steps: list[ExecutionStep]
    ) -> None:
        """Steps the intent ends without sending although they had an approval mined (an
        earlier run sent it and stopped, or the window closed between the two): each
        fails, naming it, so that every transaction of the wallet is in an event."""
        for step in steps:
            named = await self._prerequisites(step_key(plan, step))
            if named:
                unsent = ExecutionStepFailed(
                    plan_id=plan.plan_id, step_id=step.step_id, tx_hash=None,
                    reason="not sent: the intent ended before the swap was broadcast",
                    prerequisites=named,
                )  # fmt: skip
                await self._publish(events, unsent, step.index)

    async def _prerequisites(self, key: str) -> list[PrerequisiteTx]:
        """What the step `key` had mined before its swap, in nonce order, from the journal
        and the receipts: the same on every run (a re-run's adapter may ask for no approval
        any more, the allowance being there). One still undecided is settled first."""
        found: list[tuple[int, PrerequisiteTx]] = []
        for kind, prerequisite in zip(PREREQUISITE_KINDS, prerequisite_keys(key), strict=True):
            try:
                record = await asyncio.to_thread(self.sender.journal.get, prerequisite)
            except JournalError:  # never prepared
                continue
            if not record.attempts:  # never signed: never on chain
                continue
            outcome = await self._settled(prerequisite, None)
            if outcome.state not in MINED_STATES or outcome.tx_hash is None:
                continue  # refused at its broadcast, or another transaction took its nonce
            receipt = outcome.receipt or await self.sender.client.receipt(outcome.tx_hash)
            if receipt is None:  # the journal says mined; a node that forgot it is a reorg
                raise ExecutionUndecided(f"no receipt for mined tx {_hex(outcome.tx_hash)}")
            mined = PrerequisiteTx(
                kind="cancel" if outcome.state is StepState.DROPPED else kind,
                tx_hash=_hex(outcome.tx_hash),
                block_number=int(receipt["blockNumber"]),
                gas_used=int(receipt["gasUsed"]),
                effective_gas_price=int(receipt.get("effectiveGasPrice") or 0),
                reverted=int(receipt["status"]) != 1,
            )
            found.append((record.attempts[0].nonce, mined))
        return [mined for _, mined in sorted(found, key=lambda pair: pair[0])]

    async def _submitted(
        self,
        events: EventChain,
        plan: ExecutionPlan,
        step: ExecutionStep,
        record: StepRecord,
        prerequisites: list[PrerequisiteTx],
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
                prerequisites=prerequisites,
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
            front_run=await ask_front_run(
                self.front_runs, receipt, [hop.pool_id for hop in step.hops]
            ),
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

    async def _signed_swap(self, key: str) -> StepRecord | None:
        """The journal's record of the step's swap when it was signed (in any run)."""
        try:
            record = await asyncio.to_thread(self.sender.journal.get, f"{key}:swap")
        except JournalError:  # never prepared
            return None
        return record if record.attempts else None

    async def _publish(
        self, events: EventChain, event: Any, step_index: int | None = None
    ) -> EventEnvelope:
        envelope = events.append(event, step_index)
        await self.publisher.publish(envelope)
        log.info("intent %s: %s seq %d", envelope.intent_id, envelope.event_type, envelope.sequence)
        return envelope
