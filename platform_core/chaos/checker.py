"""The history checker: every rule a chaos run must keep, over everything the run left.

Pure: no Ray, no I/O. `collect.py` gathers an `Evidence` from a platform; `check` returns
every `Violation` it finds, one function per rule, each rule under a stable name (`RULES`).

What the rules rely on, as the platform records it:

- An intent's events are numbered 0, 1, 2, ... and each is caused by the one before it:
  `IntentAggregate` is their only writer, `causation_id` of sequence 0 is None and that of
  sequence n is the `event_id` of sequence n - 1 (`platform_core/intent/aggregate.py`).
- A journal step is keyed `<plan id>:<step index>:swap` (its approval, when one is sent,
  `<plan id>:<step index>:approve`); its attempts are `original`, `speed_up` (the same
  payload, the same nonce, higher fees) and `cancel` (a zero-value transfer to the sender
  at the same nonce, higher fees). A broadcast the node refused gives its nonce back: the
  step ends `refused` ("broadcast refused: ...") and the next step signs that nonce again
  with fees raised (`Turn.reissue`), so its bytes differ.
- `ExecutionStepSubmitted` carries the original's hash; `ExecutionStepConfirmed` and
  `ExecutionStepFailed` the hash of the attempt that was mined (a speed-up's, a cancel's).
  An approval is no event of its own: the step's `ExecutionStepSubmitted` names it in
  `prerequisites` (hash, block, gas used and price, reverted or not), or, when the swap was
  never broadcast, the step's `ExecutionStepFailed` does (events written before that field
  name none).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any
from uuid import UUID

from platform_core.chain.decode import decode_signed
from platform_core.chain.journal import AttemptKind, StepRecord, StepState
from platform_core.chaos.history import ApiCall
from platform_core.state.projection import IntentView, OutOfOrder, fold
from platform_core.types.events import (
    EventEnvelope,
    ExecutionCompleted,
    ExecutionStepConfirmed,
    ExecutionStepFailed,
    ExecutionStepSubmitted,
    IntentDecomposed,
    IntentDenied,
    IntentSubmitted,
    PlanCreated,
    PrerequisiteTx,
)

ETH = "eth"  # the balances' key for the native coin
EXECUTION_EVENTS = frozenset(
    cls.event_type()
    for cls in (
        IntentDecomposed,
        PlanCreated,
        ExecutionStepSubmitted,
        ExecutionStepConfirmed,
        ExecutionStepFailed,
        ExecutionCompleted,
    )
)
# Answers that settle an idempotent submission (a transient one, 429 or 5xx, does not).
DEFINITIVE = frozenset({200, 201, 202, 409, 422})
REFUSED_BROADCAST = "broadcast refused"


@dataclass(frozen=True)
class Violation:
    rule: str
    subject: str  # what broke it: an intent, a wallet and nonce, a transaction, a call
    detail: str


@dataclass(frozen=True)
class WalletJournal:
    """One journal file's steps (each with its attempts), as `Journal.get` reads them."""

    path: str
    chain_id: int | None
    steps: list[StepRecord]


@dataclass(frozen=True)
class ChainTx:
    """A transaction of one of our wallets as the chain holds it, with its receipt."""

    hash: str  # 0x, lower case
    sender: str
    nonce: int
    block_number: int
    status: int  # 1 success, 0 reverted
    gas_used: int
    effective_gas_price: int
    to: str | None
    value: int = 0
    input: bytes = b""


@dataclass(frozen=True)
class Balance:
    start: int
    end: int


@dataclass
class Evidence:
    """Everything a run left. `events` is the whole log in store order; `balances` is
    wallet -> token (lower-case address, or `ETH`) -> start and end; `views` is intent id ->
    the read model's view (None: Redis has none)."""

    api_calls: list[ApiCall] = field(default_factory=list)
    events: list[EventEnvelope] = field(default_factory=list)
    journals: list[WalletJournal] = field(default_factory=list)
    chain_txs: list[ChainTx] = field(default_factory=list)
    balances: dict[str, dict[str, Balance]] = field(default_factory=dict)
    views: dict[str, IntentView | None] = field(default_factory=dict)
    wallets: list[str] = field(default_factory=list)  # ours, besides those the log names
    start_block: int | None = None
    end_block: int | None = None
    # The blocks each injected reorg replaced (first, last): a transaction mined in them
    # came back in one of the new blocks, maybe at another gas price.
    reorgs: list[tuple[int, int]] = field(default_factory=list)

    def moved_by_reorg(self, recorded: int, mined: int) -> bool:
        """Whether a transaction recorded as mined in block `recorded` and now in block
        `mined` was moved there by an injected reorg."""
        return any(first <= recorded <= last and first <= mined <= last
                   for first, last in self.reorgs)  # fmt: skip


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class _Index:
    """What the rules look up, built once."""

    def __init__(self, ev: Evidence) -> None:
        self.by_intent: dict[str, list[EventEnvelope]] = defaultdict(list)
        for env in ev.events:
            self.by_intent[str(env.intent_id)].append(env)
        for events in self.by_intent.values():
            events.sort(key=lambda e: e.sequence)
        self.plan_intent: dict[str, str] = {}  # plan id -> intent id
        self.step_tokens: dict[tuple[str, str], tuple[str, str]] = {}  # (plan, step) -> in, out
        self.step_wallet: dict[tuple[str, str], str] = {}
        self.intent_wallet: dict[str, str] = {}
        self.evented_hashes: set[str] = set()
        # (event, plan id, what it names as mined before the step's swap)
        self.prerequisites: list[tuple[EventEnvelope, str, PrerequisiteTx]] = []
        for env in ev.events:
            event = _event(env)
            intent = str(env.intent_id)
            match event:
                case IntentSubmitted() if event.wallet:
                    self.intent_wallet[intent] = event.wallet.lower()
                case PlanCreated():
                    plan = str(event.plan.plan_id)
                    self.plan_intent[plan] = intent
                    for planned in event.plan.steps:
                        self.step_tokens[(plan, str(planned.step_id))] = (
                            planned.token_in.lower(),
                            planned.token_out.lower(),
                        )
                case ExecutionStepSubmitted():
                    self.step_wallet[(str(event.plan_id), str(event.step_id))] = (
                        event.wallet.lower()
                    )
                    self.evented_hashes.add(event.tx_hash.lower())
                case ExecutionStepConfirmed():
                    self.evented_hashes.add(event.tx_hash.lower())
                case ExecutionStepFailed():
                    if event.tx_hash:
                        self.evented_hashes.add(event.tx_hash.lower())
                case _:
                    pass
            if isinstance(event, ExecutionStepSubmitted | ExecutionStepFailed):
                for named in event.prerequisites:
                    self.evented_hashes.add(named.tx_hash.lower())
                    self.prerequisites.append((env, str(event.plan_id), named))
        self.steps: list[StepRecord] = [s for j in ev.journals for s in j.steps]
        self.attempt_step: dict[str, StepRecord] = {}
        for step in self.steps:
            for attempt in step.attempts:
                self.attempt_step[_hex(attempt.tx_hash)] = step
        self.chain_by_hash = {tx.hash.lower(): tx for tx in ev.chain_txs}
        self.wallets = {w.lower() for w in ev.wallets}
        self.wallets |= {s.sender.lower() for s in self.steps}
        self.wallets |= set(self.step_wallet.values()) | set(self.intent_wallet.values())


def _event(env: EventEnvelope) -> Any:
    try:
        return env.event()
    except ValueError:
        return None


def _terminal(env: EventEnvelope) -> bool:
    event = _event(env)
    status = None if event is None else type(event).status_after
    return status is not None and status.is_terminal


def _call_intent(call: ApiCall) -> str | None:
    if call.intent_id:
        return str(call.intent_id)
    if isinstance(call.body, dict) and isinstance(call.body.get("intent_id"), str):
        return str(call.body["intent_id"])
    return None


# -- the rules ------------------------------------------------------------------------------


def check_final_status(ev: Evidence, ix: _Index) -> list[Violation]:
    """Every intent a submission got 202 for has exactly one final event, as its last
    event, and the read model shows that status. Any other intent of the log has at most
    one final event, and nothing after it."""
    out: list[Violation] = []
    accepted = {
        intent
        for call in ev.api_calls
        if call.op == "submit" and call.status == 202
        for intent in [_call_intent(call)]
        if intent is not None
    }
    for intent in sorted(accepted | set(ix.by_intent)):
        events = ix.by_intent.get(intent, [])
        finals = [e for e in events if _terminal(e)]
        if intent in accepted and not finals:
            last = events[-1].event_type if events else "no event at all"
            out.append(Violation("final_status", intent, f"answered 202, never ended ({last})"))
            continue
        if len(finals) > 1:
            kinds = ", ".join(f"{e.event_type}#{e.sequence}" for e in finals)
            out.append(Violation("final_status", intent, f"{len(finals)} final events: {kinds}"))
        if finals and events[-1].sequence != finals[0].sequence:
            after = ", ".join(
                f"{e.event_type}#{e.sequence}" for e in events if e.sequence > finals[0].sequence
            )
            out.append(Violation("final_status", intent, f"events after the final one: {after}"))
        if intent in accepted and finals:
            status = type(_event(finals[0])).status_after
            view = ev.views.get(intent)
            if view is None:
                out.append(Violation("final_status", intent, "the read model has no view"))
            elif status is not None and view.status is not status:
                out.append(
                    Violation(
                        "final_status",
                        intent,
                        f"the log ends {status.value}, the read model shows {view.status.value}",
                    )
                )
    return out


def check_sequence(ev: Evidence, ix: _Index) -> list[Violation]:
    """Per intent: sequences 0..n-1, each once; sequence 0 is IntentSubmitted or
    IntentDenied and has no cause; sequence k > 0 is caused by the event at k - 1; one
    strategy throughout. Event ids are unique in the log."""
    out: list[Violation] = []
    seen: dict[UUID, EventEnvelope] = {}
    for env in ev.events:
        if env.event_id in seen:
            out.append(
                Violation("sequence", str(env.intent_id), f"event id {env.event_id} stored twice")
            )
        seen[env.event_id] = env
    for intent, events in sorted(ix.by_intent.items()):
        sequences = [e.sequence for e in events]
        if sequences != list(range(len(events))):
            out.append(
                Violation("sequence", intent, f"sequences {sequences}, not 0..{len(events) - 1}")
            )
            continue
        first = events[0]
        if first.event_type not in (IntentSubmitted.event_type(), IntentDenied.event_type()):
            out.append(Violation("sequence", intent, f"starts with {first.event_type}"))
        if first.causation_id is not None:
            out.append(
                Violation("sequence", intent, f"sequence 0 has a cause {first.causation_id}")
            )
        for before, env in pairwise(events):
            if env.causation_id != before.event_id:
                out.append(
                    Violation(
                        "sequence",
                        intent,
                        f"sequence {env.sequence} ({env.event_type}) caused by"
                        f" {env.causation_id}, not by sequence {before.sequence}"
                        f" ({before.event_id})",
                    )
                )
        strategies = {e.strategy_id for e in events}
        if len(strategies) > 1:
            out.append(
                Violation("sequence", intent, f"several strategies {sorted(map(str, strategies))}")
            )
    return out


def check_idempotency(ev: Evidence, ix: _Index) -> list[Violation]:
    """Submissions under one (strategy, Idempotency-Key): every definitive answer to the
    same body is the first one (status, intent and body); another body gets 422
    IDEMPOTENCY_KEY_REUSED, never an intent of its own."""
    out: list[Violation] = []
    groups: dict[tuple[str, str], list[ApiCall]] = defaultdict(list)
    for call in ev.api_calls:
        if call.op == "submit" and call.idempotency_key is not None:
            groups[(call.strategy_id, call.idempotency_key)].append(call)
    for (strategy, key), calls in sorted(groups.items()):
        calls = sorted(calls, key=lambda c: (c.started, c.attempt))
        answered = [c for c in calls if c.status in DEFINITIVE]
        if not answered:
            continue
        first = answered[0]
        subject = f"strategy {strategy} key {key}"
        for call in answered[1:]:
            if call.request != first.request:
                if call.status != 422 or "IDEMPOTENCY_KEY_REUSED" not in str(call.body):
                    out.append(
                        Violation(
                            "idempotency", subject, f"another body got {call.status} {call.body!r}"
                        )
                    )
                continue
            if call.status != first.status or _call_intent(call) != _call_intent(first):
                out.append(
                    Violation(
                        "idempotency",
                        subject,
                        f"first answer {first.status} intent {_call_intent(first)}, later"
                        f" {call.status} intent {_call_intent(call)}",
                    )
                )
            elif call.body != first.body:
                out.append(
                    Violation(
                        "idempotency",
                        subject,
                        f"same intent, another body: {first.body!r} then {call.body!r}",
                    )
                )
    # One key, one intent: the log never holds two intents submitted under one key.
    intents_per_key: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (strategy, key), calls in groups.items():
        for call in calls:
            if call.status == 202 and (intent := _call_intent(call)) is not None:
                intents_per_key[(strategy, key)].add(intent)
    for (strategy, key), intents in sorted(intents_per_key.items()):
        if len(intents) > 1:
            out.append(
                Violation(
                    "idempotency",
                    f"strategy {strategy} key {key}",
                    f"202 for several intents {sorted(intents)}",
                )
            )
    return out


def _payload(step: StepRecord, kind: AttemptKind) -> tuple[str, int, bytes]:
    if kind is AttemptKind.CANCEL:
        return step.sender.lower(), 0, b""
    return step.to.lower(), step.value, step.data


def _refused_reissue(step: StepRecord, ix: _Index) -> bool:
    """A step whose only broadcast the node refused: its nonce was given back (never on
    chain, never in an event)."""
    return (
        step.state is StepState.REFUSED
        and (step.detail or "").startswith(REFUSED_BROADCAST)
        and not any(_hex(a.tx_hash) in ix.chain_by_hash for a in step.attempts)
        and not any(_hex(a.tx_hash) in ix.evented_hashes for a in step.attempts)
    )


def check_nonce_payload(ev: Evidence, ix: _Index) -> list[Violation]:
    """Every signed attempt decodes to its step's sender, nonce and hash; an original or a
    speed-up carries the step's payload (to, value, data), a cancel a zero-value transfer
    to the sender; a speed-up or a cancel raises both fees over the attempt before it.
    Two steps at one (wallet, nonce) only when all but one were refused at broadcast (the
    nonce given back). Two `ExecutionStepSubmitted` at one (wallet, nonce) are one step's."""
    out: list[Violation] = []
    by_nonce: dict[tuple[str, int], list[StepRecord]] = defaultdict(list)
    for step in ix.steps:
        subject = f"{step.sender.lower()} step {step.step_key}"
        previous = None
        for attempt in step.attempts:
            where = f"{subject} nonce {attempt.nonce}"
            if step.nonce is not None and attempt.nonce != step.nonce:
                out.append(
                    Violation(
                        "nonce_payload",
                        where,
                        f"attempt at nonce {attempt.nonce}, step at {step.nonce}",
                    )
                )
            try:
                decoded = decode_signed(attempt.raw)
            except ValueError as exc:
                out.append(Violation("nonce_payload", where, f"undecodable attempt: {exc}"))
                continue
            expected = _payload(step, attempt.kind)
            got = ((decoded.to or "").lower(), decoded.value, decoded.input)
            if decoded.sender.lower() != step.sender.lower() or decoded.nonce != attempt.nonce:
                out.append(
                    Violation(
                        "nonce_payload",
                        where,
                        f"signed by {decoded.sender} at nonce {decoded.nonce}",
                    )
                )
            if decoded.hash != attempt.tx_hash:
                out.append(
                    Violation("nonce_payload", where, "bytes do not hash to the journalled hash")
                )
            if got != expected:
                out.append(
                    Violation(
                        "nonce_payload",
                        where,
                        f"{attempt.kind.value} 0x{attempt.tx_hash.hex()} signs another payload"
                        f" (to {got[0]}, value {got[1]}, {len(got[2])} bytes of data)",
                    )
                )
            if attempt.kind is AttemptKind.ORIGINAL and previous is not None:
                out.append(Violation("nonce_payload", where, "a second original at the same nonce"))
            if attempt.kind is not AttemptKind.ORIGINAL:
                if previous is None:
                    out.append(
                        Violation(
                            "nonce_payload", where, f"a {attempt.kind.value} replaces nothing"
                        )
                    )
                elif (
                    attempt.max_fee_per_gas <= previous.max_fee_per_gas
                    or attempt.max_priority_fee_per_gas <= previous.max_priority_fee_per_gas
                ):
                    out.append(
                        Violation(
                            "nonce_payload", where, f"{attempt.kind.value} does not raise the fees"
                        )
                    )
            previous = attempt
        if step.attempts:
            by_nonce[(step.sender.lower(), step.attempts[0].nonce)].append(step)
    for (wallet, nonce), steps in sorted(by_nonce.items()):
        payloads = {_payload(s, AttemptKind.ORIGINAL) for s in steps}
        live = [s for s in steps if not _refused_reissue(s, ix)]
        if len(steps) > 1 and len(payloads) > 1 and len(live) > 1:
            keys = ", ".join(f"{s.step_key} ({s.state.value})" for s in steps)
            out.append(
                Violation(
                    "nonce_payload",
                    f"{wallet} nonce {nonce}",
                    f"signed for several payloads: {keys}",
                )
            )
    submitted: dict[tuple[str, int], set[tuple[str, str]]] = defaultdict(set)
    for env in ev.events:
        event = _event(env)
        if isinstance(event, ExecutionStepSubmitted):
            submitted[(event.wallet.lower(), event.nonce)].add((str(event.step_id), event.tx_hash))
    for (wallet, nonce), steps_sent in sorted(submitted.items()):
        if len(steps_sent) > 1:
            out.append(
                Violation(
                    "nonce_payload",
                    f"{wallet} nonce {nonce}",
                    f"submitted as several transactions: {sorted(steps_sent)}",
                )
            )
    return out


def check_chain_accounted(ev: Evidence, ix: _Index) -> list[Violation]:
    """Every transaction of our wallets on chain is a journalled attempt (same sender and
    nonce) and is named by an event (an approval by its step's event, in `prerequisites`).
    Conversely, what the log and the journals say was mined is on chain: a confirmed step's
    transaction succeeded, a reverted one reverted, and a prerequisite an event names is a
    transaction its plan journalled, in the block, with the gas and the status it says."""
    out: list[Violation] = []
    for tx in sorted(ev.chain_txs, key=lambda t: (t.block_number, t.sender, t.nonce)):
        if tx.sender.lower() not in ix.wallets:
            continue
        subject = f"tx {tx.hash} ({tx.sender.lower()} nonce {tx.nonce}, block {tx.block_number})"
        step = ix.attempt_step.get(tx.hash.lower())
        if step is None:
            out.append(Violation("chain_accounted", subject, "in no journal"))
        elif step.sender.lower() != tx.sender.lower() or step.nonce != tx.nonce:
            out.append(
                Violation(
                    "chain_accounted", subject, f"journalled for {step.sender} nonce {step.nonce}"
                )
            )
        if tx.hash.lower() not in ix.evented_hashes:
            what = "in no event"
            if step is not None:
                kind = step.meta.get("kind") if isinstance(step.meta, dict) else None
                what += f" (journal step {step.step_key}, kind {kind or 'unknown'})"
            out.append(Violation("chain_accounted", subject, what))
    for env in ev.events:
        event = _event(env)
        expect: int | None = None
        if isinstance(event, ExecutionStepConfirmed):
            tx_hash, expect = event.tx_hash, 1
        elif isinstance(event, ExecutionStepFailed) and event.reverted and event.tx_hash:
            tx_hash, expect = event.tx_hash, 0
        if expect is None:
            continue
        mined = ix.chain_by_hash.get(tx_hash.lower())
        subject = f"intent {env.intent_id} tx {tx_hash}"
        if mined is None:
            out.append(Violation("chain_accounted", subject, f"{env.event_type} but not on chain"))
        elif mined.status != expect:
            out.append(
                Violation(
                    "chain_accounted",
                    subject,
                    f"{env.event_type} but the chain's status is {mined.status}",
                )
            )
        elif (
            isinstance(event, ExecutionStepConfirmed)
            and (
                event.block_number != mined.block_number
                or event.gas_used != mined.gas_used
                or event.effective_gas_price != mined.effective_gas_price
            )
            and not _reorged(ev, event.block_number, event.gas_used, mined)
        ):
            out.append(
                Violation(
                    "chain_accounted",
                    subject,
                    f"event says block {event.block_number} gas {event.gas_used} x"
                    f" {event.effective_gas_price}, chain block {mined.block_number} gas"
                    f" {mined.gas_used} x {mined.effective_gas_price}",
                )
            )
    for env, plan, named in ix.prerequisites:
        subject = f"intent {env.intent_id} {named.kind} tx {named.tx_hash}"
        step = ix.attempt_step.get(named.tx_hash.lower())
        if step is None or step.step_key.split(":", 1)[0] != plan:
            where = "in no journal" if step is None else f"journal step {step.step_key}"
            out.append(
                Violation(
                    "chain_accounted",
                    subject,
                    f"{env.event_type} names it for plan {plan}: {where}",
                )
            )
        mined = ix.chain_by_hash.get(named.tx_hash.lower())
        if mined is None:
            out.append(Violation("chain_accounted", subject, f"{env.event_type} but not on chain"))
        elif mined.status != (0 if named.reverted else 1) or (
            (
                named.block_number != mined.block_number
                or named.gas_used != mined.gas_used
                or named.effective_gas_price != mined.effective_gas_price
            )
            and not _reorged(ev, named.block_number, named.gas_used, mined)
        ):
            out.append(
                Violation(
                    "chain_accounted",
                    subject,
                    f"{env.event_type} says block {named.block_number} gas {named.gas_used} x"
                    f" {named.effective_gas_price} reverted {named.reverted}, chain block"
                    f" {mined.block_number} gas {mined.gas_used} x {mined.effective_gas_price}"
                    f" status {mined.status}",
                )
            )
    for step in ix.steps:
        if step.state not in (StepState.CONFIRMED, StepState.REVERTED, StepState.DROPPED):
            continue
        if step.final_tx_hash is None:
            continue
        mined = ix.chain_by_hash.get(_hex(step.final_tx_hash))
        subject = f"{step.sender.lower()} step {step.step_key}"
        if mined is None:
            out.append(
                Violation(
                    "chain_accounted", subject, f"journal says {step.state.value}, tx not on chain"
                )
            )
        elif (step.state is StepState.CONFIRMED) != (mined.status == 1) and (
            step.state is not StepState.DROPPED
        ):
            out.append(
                Violation(
                    "chain_accounted",
                    subject,
                    f"journal says {step.state.value}, chain status {mined.status}",
                )
            )
    return out


def _reorged(ev: Evidence, recorded_block: int, gas_used: int, mined: ChainTx) -> bool:
    """An event written before an injected reorg moved its transaction: the block and the
    gas price it names are the ones the chain showed then; the transaction, its status and
    the gas it used are the same (amounts: the `balance` rule)."""
    return gas_used == mined.gas_used and ev.moved_by_reorg(recorded_block, mined.block_number)


def moved_by_reorgs(ev: Evidence) -> int:
    """How many confirmations name a block an injected reorg replaced (the report says so)."""
    by_hash = {tx.hash.lower(): tx for tx in ev.chain_txs}
    count = 0
    for env in ev.events:
        event = _event(env)
        if isinstance(event, ExecutionStepConfirmed):
            mined = by_hash.get(event.tx_hash.lower())
            if mined is not None and mined.block_number != event.block_number:
                count += _reorged(ev, event.block_number, event.gas_used, mined)
    return count


def check_balance(ev: Evidence, ix: _Index) -> list[Violation]:
    """Per wallet and token: end - start = what its confirmed steps received in that token
    less what they paid in it; in ETH: less gas_used x effective_gas_price and the value of
    every mined transaction of the wallet (reverted ones included)."""
    out: list[Violation] = []
    expected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen_steps: set[tuple[str, str]] = set()
    for env in ev.events:
        event = _event(env)
        if not isinstance(event, ExecutionStepConfirmed):
            continue
        key = (str(event.plan_id), str(event.step_id))
        if key in seen_steps:
            continue
        seen_steps.add(key)
        wallet = ix.step_wallet.get(key) or ix.intent_wallet.get(str(env.intent_id))
        tokens = ix.step_tokens.get(key)
        if wallet is None or tokens is None:
            out.append(
                Violation(
                    "balance",
                    f"intent {env.intent_id} step {event.step_id}",
                    "confirmed step of unknown wallet or tokens",
                )
            )
            continue
        expected[wallet][tokens[0]] -= event.amount_in
        expected[wallet][tokens[1]] += event.amount_out
    for tx in ev.chain_txs:
        wallet = tx.sender.lower()
        if wallet in ix.wallets:
            expected[wallet][ETH] -= tx.gas_used * tx.effective_gas_price + tx.value
    balances = {
        w.lower(): {t.lower(): b for t, b in tokens.items()} for w, tokens in ev.balances.items()
    }
    for wallet in sorted(set(expected) | set(balances)):
        have = balances.get(wallet, {})
        want = expected.get(wallet, {})
        for token in sorted(set(want) | set(have)):
            change = want.get(token, 0)
            balance = have.get(token)
            if balance is None:
                if change:
                    out.append(
                        Violation(
                            "balance",
                            f"{wallet} {token}",
                            f"expected a change of {change}, no balance read",
                        )
                    )
                continue
            if balance.end - balance.start != change:
                out.append(
                    Violation(
                        "balance",
                        f"{wallet} {token}",
                        f"changed by {balance.end - balance.start}, the steps and gas account"
                        f" for {change} (difference {balance.end - balance.start - change})",
                    )
                )
    return out


def check_read_model(ev: Evidence, ix: _Index) -> list[Violation]:
    """Every intent's view in the read model equals the fold of its events in the log; the
    read model holds no view of an intent the log does not have."""
    out: list[Violation] = []
    for intent, events in sorted(ix.by_intent.items()):
        try:
            replayed = fold(events)
        except (OutOfOrder, ValueError) as exc:
            out.append(Violation("read_model", intent, f"the log does not fold: {exc}"))
            continue
        if intent not in ev.views:
            out.append(Violation("read_model", intent, "no view collected"))
            continue
        view = ev.views[intent]
        if view is None:
            out.append(Violation("read_model", intent, "the read model has no view"))
            continue
        if replayed is None:
            continue
        want, have = replayed.to_hash(), view.to_hash()
        differ = sorted(k for k in want.keys() | have.keys() if want.get(k) != have.get(k))
        if differ:
            detail = "; ".join(f"{k}: log {want.get(k)!r}, view {have.get(k)!r}" for k in differ)
            out.append(Violation("read_model", intent, detail[:2000]))
    for intent, view in sorted(ev.views.items()):
        if view is not None and intent not in ix.by_intent:
            out.append(Violation("read_model", intent, "a view of an intent the log lacks"))
    return out


def check_denied_sent_nothing(ev: Evidence, ix: _Index) -> list[Violation]:
    """An intent denied (IntentDenied in the log, or a 4xx answer to its submission) has no
    execution event and no journal step (by the plan ids of its PlanCreated)."""
    out: list[Violation] = []
    denied: dict[str, str] = {}
    for intent, events in ix.by_intent.items():
        if any(e.event_type == IntentDenied.event_type() for e in events):
            denied[intent] = "IntentDenied"
    for call in ev.api_calls:
        if call.op == "submit" and call.status is not None and 400 <= call.status < 500:
            target = _call_intent(call)
            if target is not None:
                denied.setdefault(target, f"answered {call.status}")
    plans_of: dict[str, set[str]] = defaultdict(set)
    for plan, intent in ix.plan_intent.items():
        plans_of[intent].add(plan)
    for intent, why in sorted(denied.items()):
        executed = [e for e in ix.by_intent.get(intent, []) if e.event_type in EXECUTION_EVENTS]
        if executed:
            kinds = ", ".join(f"{e.event_type}#{e.sequence}" for e in executed)
            out.append(Violation("denied_sent_nothing", intent, f"{why}, yet {kinds}"))
        plans = plans_of.get(intent, set())
        steps = [s.step_key for s in ix.steps if s.step_key.split(":", 1)[0] in plans]
        if steps:
            out.append(
                Violation("denied_sent_nothing", intent, f"{why}, yet journal steps {steps}")
            )
    return out


Rule = Callable[[Evidence, _Index], list[Violation]]
RULES: dict[str, Rule] = {
    "final_status": check_final_status,
    "sequence": check_sequence,
    "idempotency": check_idempotency,
    "nonce_payload": check_nonce_payload,
    "chain_accounted": check_chain_accounted,
    "balance": check_balance,
    "read_model": check_read_model,
    "denied_sent_nothing": check_denied_sent_nothing,
}


def check(evidence: Evidence, rules: Iterable[str] | None = None) -> list[Violation]:
    """Every violation of `rules` (all of them by default), rule by rule."""
    index = _Index(evidence)
    found: list[Violation] = []
    for name in RULES if rules is None else rules:
        found.extend(RULES[name](evidence, index))
    return found
