"""From a transaction request to a receipt, with the journal between signing and sending.

    prepare (journal) -> pre-flight (eth_call + estimateGas) -> [the wallet's turn: nonce,
    fees -> sign -> decode and check -> journal the raw bytes -> broadcast] -> receipt wait

Pipelined: a step's receipt is not waited for before the wallet's next transaction goes out.
The bracket is the wallet's turn (`platform_core.chain.nonces`): nonces are broadcast in
nonce order, a refused broadcast gives its nonce back without leaving a gap, and at most
`max_in_flight` transactions of the wallet are broadcast and not yet mined.

A revert in pre-flight stops the step before a nonce is taken: nothing is broadcast. A
timeout or a transport error leaves the step "unknown"; `reconcile` settles it from the chain
(receipts of every attempt, the account nonce). Journalled bytes the node does not know while
their nonce is not mined (dropped from the pool, or never delivered) are re-sent as they are,
never signed again: by the receipt wait itself (every `redeliver_after_s`), by `reconcile`
and by `recover`. A transaction that reverts uses its nonce: the later ones go on. Stuck
transactions are sped up or cancelled at the same nonce.

The receipt wait polls every `poll_interval_s`; the chain monitor cuts a pause short
(`included`) when it sees a block that decides one of the step's hashes.

A step is "replaced" only when the chain shows another transaction (by hash) at its nonce;
a receipt that is late while the nonce has moved is waited for, never taken for a
replacement. Before anything is signed or re-sent, the journal is checked against the chain
(`journal_check`): a journal of another chain, or one whose mined steps the chain no longer
holds (a reset), raises `JournalChainMismatch`, and from then on nothing is signed. Mined
steps a reorg dropped (a few, from blocks the chain's head has not fallen below) are first
sent again as the journal holds them, the same bytes at the same nonces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from platform_core.chain.client import ChainClient
from platform_core.chain.decode import IntendedTx, check_matches, decode_signed
from platform_core.chain.errors import (
    BroadcastRejected,
    FeeCeilingExceeded,
    JournalChainMismatch,
    JournalError,
    NonceError,
    SimulationReverted,
    TransactionMismatch,
    TransportError,
)
from platform_core.chain.fees import Fees, check_ceiling, replacement_fees
from platform_core.chain.journal import (
    FINAL_STATES,
    Attempt,
    AttemptKind,
    Journal,
    StepRecord,
    StepState,
)
from platform_core.chain.journal_check import check_history, check_journal
from platform_core.chain.nonces import NonceManager, Turn
from platform_core.chain.signer import Signer
from platform_core.config import Settings

log = logging.getLogger(__name__)

CANCEL_GAS = 21_000
# At most this many of a wallet's mined transactions dropped at once are sent again: a reorg
# drops a few; a chain that lost more was not reorganised but replaced.
RESEND_AT_MOST = 16


@dataclass(frozen=True)
class TxRequest:
    """One transaction a step means to send; `step_key` identifies it across restarts."""

    step_key: str
    chain_id: int
    to: str
    data: bytes
    value: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepOutcome:
    step_key: str
    state: StepState
    tx_hash: bytes | None
    receipt: dict[str, Any] | None = None
    detail: str | None = None


@dataclass(frozen=True)
class SenderPolicy:
    fee_ceiling_wei: int
    receipt_timeout_s: float = 60.0
    poll_interval_s: float = 0.1
    gas_margin_pct: int = 20  # headroom over estimateGas: state can move before inclusion
    chain_check_settle_s: float = 5.0  # how long a journal/chain difference must persist
    max_in_flight: int = 8  # the wallet's transactions broadcast and not yet mined, at most
    redeliver_after_s: float = 1.0  # how often a receipt wait checks the node still has it

    @classmethod
    def from_settings(cls, settings: Settings) -> SenderPolicy:
        return cls(
            fee_ceiling_wei=settings.fee_ceiling_wei,
            receipt_timeout_s=settings.receipt_timeout_s,
            max_in_flight=settings.max_in_flight,
        )


class TransactionSender:
    """Sends for one wallet (the signer's) on one chain."""

    def __init__(
        self,
        client: ChainClient,
        signer: Signer,
        journal: Journal,
        *,
        chain_id: int,
        policy: SenderPolicy,
        nonces: NonceManager | None = None,
    ) -> None:
        self.client = client
        self.signer = signer
        self.journal = journal
        self.chain_id = chain_id
        self.policy = policy
        self.nonces = nonces or NonceManager(
            self._first_free_nonce,
            lambda address: client.nonce(address, "latest"),
            max_in_flight=policy.max_in_flight,
            poll_s=max(policy.poll_interval_s, 0.01),
            room_timeout_s=policy.receipt_timeout_s,
        )
        self._bound = False  # the journal was bound to this chain (chain id, genesis)
        self._mismatch: JournalChainMismatch | None = None  # found once: for good
        # The chain monitor's wake-ups (`included`): the receipt waits napping on each hash,
        # and the hashes it announced lately (one announced just before its wait naps).
        self._wakers: dict[bytes, set[asyncio.Event]] = {}
        self._announced: dict[bytes, None] = {}

    @property
    def address(self) -> str:
        return self.signer.address

    async def _first_free_nonce(self, address: str) -> int:
        """The node's pending count, never below the journal's highest open nonce + 1: a
        journalled transaction the node lost keeps its nonce (its wait re-sends it)."""
        pending = await self.client.nonce(address, "pending")
        steps = await asyncio.to_thread(self.journal.open_steps, self.chain_id)
        mine = [r for r in steps if r.sender.lower() == address.lower()]
        held = [r.nonce + 1 for r in mine if r.nonce is not None]
        return max([pending, *held])

    async def check_chain(self) -> None:
        """Raise `JournalChainMismatch` when the journal belongs to another chain or the
        chain no longer holds the steps it recorded as mined. The first call binds the
        journal to the chain; once a mismatch is found, every later call raises it.

        Once bound, transactions a reorg dropped are sent again first (`_resend_dropped`),
        and the chain is checked again after them."""
        if self._mismatch is None:
            try:
                await self._check()
            except JournalChainMismatch as exc:
                if not await self._resend_dropped():
                    self._found(exc)
                else:
                    try:
                        await self._check()
                    except JournalChainMismatch as again:
                        self._found(again)
        if self._mismatch is not None:
            raise JournalChainMismatch(str(self._mismatch))

    async def _check(self) -> None:
        check = check_history if self._bound else check_journal
        await check(
            self.journal,
            self.client,
            senders=[self.address],
            settle_s=self.policy.chain_check_settle_s,
            poll_s=self.policy.poll_interval_s,
        )
        self._bound = True

    def _found(self, exc: JournalChainMismatch) -> None:
        log.error("journal %s: %s", self.journal.path, exc)
        self._mismatch = exc

    async def _resend_dropped(self) -> bool:
        """Send again the signed bytes of this wallet's mined transactions that the chain no
        longer holds, when a reorg is what lost them: the journal was bound to this chain
        already, the chain's head is not below the blocks they were mined in (a chain
        restarted from older state is), and there are at most `RESEND_AT_MOST`. A node puts
        a reorg's dropped transactions back in its pool; anvil's `anvil_reorg` need not.
        The same bytes carry the same nonce and payload: they can be mined once at most.
        True when something was sent."""
        if not self._bound:
            return False
        count = await self.client.nonce(self.address, "latest")
        mined = await asyncio.to_thread(self.journal.mined_from, self.address, count)
        dropped = [
            (step, raw) for step, raw in mined if await self.client.receipt(step.tx_hash) is None
        ]
        head = await self.client.block_number()
        if not dropped or len(dropped) > RESEND_AT_MOST:
            return False
        if any(step.block_number is None or step.block_number > head for step, _ in dropped):
            return False
        sent = 0
        for step, raw in dropped:
            try:
                await self.client.send_raw(raw)
                sent += 1
            except (NonceError, BroadcastRejected, TransportError) as exc:
                log.warning("journal %s: resending 0x%s (nonce %d) failed: %r",
                            self.journal.path, step.tx_hash.hex(), step.nonce, exc)  # fmt: skip
        log.warning("journal %s: %d of %s's mined transactions left the chain (a reorg);"
                    " sent their signed bytes again: %d", self.journal.path, len(dropped),
                    self.address, sent)  # fmt: skip
        return sent > 0

    # -- the whole path -------------------------------------------------------------------

    async def execute(self, request: TxRequest) -> StepOutcome:
        record = await self.prepare(request)
        if record.state in FINAL_STATES:
            return _outcome(record)
        if record.attempts:  # signed before (a retried handler): never sign twice
            return await self.reconcile(record.step_key)
        gas_limit = await self.preflight(record)
        await self.sign_and_broadcast(record.step_key, gas_limit)
        return await self.wait(record.step_key)

    async def prepare(self, request: TxRequest) -> StepRecord:
        if request.chain_id != self.chain_id:
            raise ValueError(f"request for chain {request.chain_id}, sender on {self.chain_id}")
        return await asyncio.to_thread(
            self.journal.prepare,
            request.step_key,
            chain_id=request.chain_id,
            sender=self.address,
            to=request.to,
            value=request.value,
            data=request.data,
            max_fee_ceiling=self.policy.fee_ceiling_wei,
            meta=request.meta,
        )

    async def preflight(self, record: StepRecord) -> int:
        """Simulate the call and estimate its gas; a revert marks the step refused and raises
        `SimulationReverted` before any nonce is taken."""
        tx = {"from": self.address, "to": record.to, "value": record.value, "data": record.data}
        try:
            await self.client.call(tx, "pending")
            estimate = await self.client.estimate_gas(tx)
        except SimulationReverted as exc:
            await asyncio.to_thread(
                self.journal.set_state, record.step_key, StepState.REFUSED, detail=str(exc)
            )
            raise
        return estimate * (100 + self.policy.gas_margin_pct) // 100

    async def sign_and_broadcast(self, step_key: str, gas_limit: int) -> Attempt:
        """In the wallet's turn: take the next nonce, sign, check, journal and broadcast,
        without waiting for any receipt. A broadcast the node refuses marks the step REFUSED,
        gives the nonce back and raises `BroadcastRejected`; one whose outcome is unknown
        (transport, a nonce the node disputes) leaves the step UNKNOWN and keeps the nonce."""
        return await self._originate(step_key, gas_limit, send=True)

    async def sign_and_journal(self, step_key: str, gas_limit: int) -> Attempt:
        """Sign and journal without broadcasting (the nonce is spent): for a caller that
        broadcasts on its own (`broadcast`), or a crash simulated between the two."""
        return await self._originate(step_key, gas_limit, send=False)

    async def _originate(self, step_key: str, gas_limit: int, *, send: bool) -> Attempt:
        record = await asyncio.to_thread(self.journal.get, step_key)
        if record.state is not StepState.PREPARED or record.attempts:
            # A second original signature would take a second nonce: a double spend.
            raise JournalError(f"step {step_key!r} is {record.state}: it is signed only once")
        try:
            await self.check_chain()
        except JournalChainMismatch as exc:
            await self._set(step_key, StepState.REFUSED, str(exc))
            raise
        async with self.nonces.turn(self.address) as turn:
            try:
                fees = await self.client.fees(ceiling=self.policy.fee_ceiling_wei)
                if turn.reissue:  # never the bytes of a refused step at this nonce again
                    fees = Fees(
                        fees.max_fee_per_gas + turn.reissue,
                        fees.max_priority_fee_per_gas + turn.reissue,
                    )
                attempt = self._sign(record, turn.nonce, gas_limit, fees, AttemptKind.ORIGINAL)
                self.verify(record, attempt)
            except (FeeCeilingExceeded, TransactionMismatch) as exc:
                await self._set(step_key, StepState.REFUSED, str(exc))
                raise
            await self._journal_signed(step_key, attempt, gas_limit, turn)
            if send:
                await self._first_send(step_key, attempt, turn)
        return attempt

    async def _journal_signed(
        self, step_key: str, attempt: Attempt, gas_limit: int, turn: Turn
    ) -> None:
        """Journal the signed bytes; from then on the nonce is theirs (`turn.use`). A cancel
        that arrives during the write waits for it to land or fail: the nonce is spent when
        it landed."""
        write = asyncio.ensure_future(
            asyncio.to_thread(self.journal.record_signed, step_key, attempt, gas_limit)
        )
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            await asyncio.wait([write])
            if not write.cancelled() and write.exception() is None:  # it landed
                turn.use()
            raise
        turn.use()

    async def _first_send(self, step_key: str, attempt: Attempt, turn: Turn) -> None:
        """The first broadcast of an original, still in the wallet's turn."""
        try:
            await self.client.send_raw(attempt.raw)
        except TransportError as exc:  # the node may have it: the nonce stays used
            await self._set(step_key, StepState.UNKNOWN, f"broadcast: {exc}")
            return
        except NonceError as exc:  # our counter and the node disagree: re-read it
            turn.forget()
            await self._set(step_key, StepState.UNKNOWN, f"broadcast: {exc}")
            return
        except BroadcastRejected as exc:  # never in the pool: no later nonce exists yet
            turn.give_back()
            await self._set(step_key, StepState.REFUSED, f"broadcast refused: {exc}")
            raise
        await self._set(step_key, StepState.SUBMITTED, None)

    def _sign(
        self, record: StepRecord, nonce: int, gas_limit: int, fees: Fees, kind: AttemptKind
    ) -> Attempt:
        check_ceiling(fees, record.max_fee_ceiling)
        cancel = kind is AttemptKind.CANCEL
        signed = self.signer.sign(
            {
                "type": 2,
                "chainId": record.chain_id,
                "nonce": nonce,
                "to": self.address if cancel else record.to,
                "value": 0 if cancel else record.value,
                "data": b"" if cancel else record.data,
                "gas": CANCEL_GAS if cancel else gas_limit,
                "maxFeePerGas": fees.max_fee_per_gas,
                "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
            }
        )
        return Attempt(
            tx_hash=signed.hash,
            raw=signed.raw,
            kind=kind,
            nonce=nonce,
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
        )

    def verify(self, record: StepRecord, attempt: Attempt) -> None:
        """Decode the bytes about to go out and check them against the journalled intent."""
        decoded = decode_signed(attempt.raw)
        cancel = attempt.kind is AttemptKind.CANCEL
        intended = IntendedTx(
            chain_id=record.chain_id,
            sender=record.sender,
            nonce=attempt.nonce,
            to=record.sender if cancel else record.to,
            value=0 if cancel else record.value,
            data=b"" if cancel else record.data,
            max_fee_ceiling=record.max_fee_ceiling,
        )
        check_matches(decoded, intended)
        if decoded.hash != attempt.tx_hash:
            raise TransactionMismatch("signed bytes do not hash to the journalled hash")

    async def broadcast(self, step_key: str, attempt: Attempt) -> None:
        """Send journalled bytes (outside the wallet's turn: a replacement, or an original
        from `sign_and_journal`). Transport trouble leaves the step unknown (the node may
        have it); a nonce clash is reconciled; a refused original frees the nonce."""
        record = await asyncio.to_thread(self.journal.get, step_key)
        self.verify(record, attempt)
        try:
            await self.client.send_raw(attempt.raw)
        except TransportError as exc:
            await self._set(step_key, StepState.UNKNOWN, f"broadcast: {exc}")
            return
        except NonceError as exc:
            # "already known" / "nonce too low": maybe our own bytes, already in the pool
            # or mined. The receipt wait / reconcile decides; the counter is re-read.
            await self.nonces.resync(self.address)
            await self._set(step_key, StepState.UNKNOWN, f"broadcast: {exc}")
            return
        except BroadcastRejected as exc:
            if attempt.kind is AttemptKind.ORIGINAL and len(record.attempts) == 1:
                await self._set(step_key, StepState.REFUSED, f"broadcast refused: {exc}")
                await self.nonces.resync(self.address)
            raise
        if record.state in (StepState.SIGNED, StepState.UNKNOWN, StepState.SUBMITTED):
            await self._set(step_key, StepState.SUBMITTED, None)

    # -- receipts and reconciliation ------------------------------------------------------

    async def wait(self, step_key: str, timeout_s: float | None = None) -> StepOutcome:
        """Poll until the step is final or the bound passes; then it is unknown, not failed.
        Every `redeliver_after_s` it also checks that the node still has the step's
        transaction, and re-sends the journalled bytes when it does not."""
        timeout = self.policy.receipt_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        check_at = time.monotonic() + self.policy.redeliver_after_s
        while True:
            try:
                outcome = await self._settle(step_key)
                if outcome is not None:
                    return outcome
                if time.monotonic() >= check_at:
                    check_at = time.monotonic() + self.policy.redeliver_after_s
                    await self._redeliver(await asyncio.to_thread(self.journal.get, step_key))
            except TransportError as exc:
                log.warning("step %s: receipt poll failed: %s", step_key, exc)
            if time.monotonic() >= deadline:
                await self._set(step_key, StepState.UNKNOWN, f"no receipt within {timeout}s")
                return _outcome(await asyncio.to_thread(self.journal.get, step_key))
            await self._nap(step_key)

    def included(self, tx_hash: bytes) -> None:
        """The chain monitor saw a block that decides `tx_hash`'s nonce (it includes it, or
        another transaction at its nonce): a receipt wait on it looks at once."""
        tx_hash = bytes(tx_hash)
        self._announced[tx_hash] = None
        while len(self._announced) > 1024:
            del self._announced[next(iter(self._announced))]
        for waker in self._wakers.get(tx_hash, ()):
            waker.set()

    async def _nap(self, step_key: str) -> None:
        """The receipt wait's pause: `poll_interval_s`, or less when `included` names one of
        the step's attempts."""
        record = await asyncio.to_thread(self.journal.get, step_key)
        hashes = [attempt.tx_hash for attempt in record.attempts]
        if any(h in self._announced for h in hashes):
            for h in hashes:
                self._announced.pop(h, None)
            return
        waker = asyncio.Event()
        for h in hashes:
            self._wakers.setdefault(h, set()).add(waker)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waker.wait(), self.policy.poll_interval_s)
        finally:
            for h in hashes:
                waiting = self._wakers.get(h)
                if waiting is not None:
                    waiting.discard(waker)
                    if not waiting:
                        del self._wakers[h]

    async def _settle(self, step_key: str) -> StepOutcome | None:
        """A final outcome when the chain has decided this step's nonce, else None."""
        record = await asyncio.to_thread(self.journal.get, step_key)
        if record.state in FINAL_STATES:
            return _outcome(record)
        if record.nonce is None:
            return None
        # Read the nonce before the receipts: a transaction mined in between is then seen
        # in the receipts, never mistaken for a foreign replacement.
        mined_nonce = await self.client.nonce(self.address, "latest")
        for attempt in reversed(record.attempts):
            receipt = await self.client.receipt(attempt.tx_hash)
            if receipt is None:
                continue
            if attempt.kind is AttemptKind.CANCEL:
                state = StepState.DROPPED
            else:
                state = StepState.CONFIRMED if receipt["status"] == 1 else StepState.REVERTED
            await asyncio.to_thread(
                self.journal.set_state, step_key, state, final_tx_hash=attempt.tx_hash,
                block_number=int(receipt["blockNumber"]), block_hash=bytes(receipt["blockHash"]),
            )  # fmt: skip
            return StepOutcome(step_key, state, attempt.tx_hash, receipt)
        if mined_nonce <= record.nonce:
            return None
        taker = await self._nonce_taker(record)
        if taker is None:  # ours (its receipt is late), or the node cannot tell yet
            return None
        detail = (
            f"nonce {record.nonce} was used by transaction 0x{taker.hex()}, which this step"
            " did not sign"
        )
        await self._set(step_key, StepState.REPLACED, detail)
        return StepOutcome(step_key, StepState.REPLACED, None, None, detail)

    async def _nonce_taker(self, record: StepRecord) -> bytes | None:
        """The hash of the mined transaction at the step's nonce when it is none of the
        step's own attempts; None when one of them is in a block (its receipt will come)
        or the node does not show the transaction that took the nonce (yet)."""
        assert record.nonce is not None
        ours = {attempt.tx_hash for attempt in record.attempts}
        for tx_hash in ours:
            tx = await self.client.transaction(tx_hash)
            if tx is not None and tx.get("blockNumber") is not None:
                return None
        taker = await self.client.mined_transaction_at(self.address, record.nonce)
        return None if taker is None or taker in ours else taker

    async def reconcile(self, step_key: str) -> StepOutcome:
        """Settle a step from the chain; when the chain has not seen it, re-send the last
        journalled bytes (the same bytes, so at most one can ever be included)."""
        record = await asyncio.to_thread(self.journal.get, step_key)
        if record.state in FINAL_STATES:
            return _outcome(record)
        if not record.attempts:
            raise JournalError(f"step {step_key!r} was never signed: nothing to reconcile")
        outcome = await self._settle(step_key)
        if outcome is not None:
            return outcome
        await self._redeliver(await asyncio.to_thread(self.journal.get, step_key))
        return await self.wait(step_key)

    async def _redeliver(self, record: StepRecord) -> None:
        """Re-send the step's latest journalled bytes when the node knows none of its
        attempts and its nonce is not mined: dropped from the pool, or never delivered."""
        if record.state in FINAL_STATES or record.nonce is None or not record.attempts:
            return
        for attempt in record.attempts:
            if await self.client.transaction(attempt.tx_hash) is not None:
                return
        if await self.client.nonce(self.address, "latest") > record.nonce:
            return  # the nonce is taken: `_settle` finds by what
        await self.check_chain()  # never re-send onto a chain the journal does not match
        latest = record.attempts[-1]
        self.verify(record, latest)
        log.info("step %s: re-sending journalled tx 0x%s", record.step_key, latest.tx_hash.hex())
        try:
            await self.client.send_raw(latest.raw)
        except NonceError as exc:  # known after all, or mined meanwhile: the chain decides
            log.info("step %s: re-send: %s", record.step_key, exc)
            return
        except TransportError as exc:
            await self._set(record.step_key, StepState.UNKNOWN, f"re-send: {exc}")
            return
        except BroadcastRejected as exc:
            await self._set(record.step_key, StepState.UNKNOWN, f"re-send refused: {exc}")
            return
        if record.state is not StepState.SUBMITTED:
            await self._set(record.step_key, StepState.SUBMITTED, None)

    async def recover(self) -> list[StepOutcome]:
        """On start-up: check the journal against the chain (`JournalChainMismatch` when it
        does not match), re-deliver every open step of this wallet on this chain that the
        node lost, in nonce order (so none waits behind a gap), settle each, then re-read
        the nonce counter."""
        await self.check_chain()
        steps = await asyncio.to_thread(self.journal.open_steps, self.chain_id)
        mine = [record for record in steps if record.sender.lower() == self.address.lower()]
        for record in mine:
            await self._redeliver(record)
        outcomes = [await self.reconcile(record.step_key) for record in mine]
        await self.nonces.resync(self.address)
        return outcomes

    # -- stuck transactions ---------------------------------------------------------------

    async def speed_up(self, step_key: str) -> Attempt:
        """Re-sign the same payload at the same nonce with fees raised by at least 12.5 %."""
        return await self._replace(step_key, AttemptKind.SPEED_UP)

    async def cancel(self, step_key: str) -> Attempt:
        """Take the nonce back with a zero-value transfer to ourselves at higher fees."""
        return await self._replace(step_key, AttemptKind.CANCEL)

    async def _replace(self, step_key: str, kind: AttemptKind) -> Attempt:
        record = await asyncio.to_thread(self.journal.get, step_key)
        if record.state in FINAL_STATES or record.nonce is None or not record.attempts:
            raise JournalError(f"step {step_key!r} is {record.state}: nothing to replace")
        last = record.attempts[-1]
        current = await self.client.fees(ceiling=None)  # the bumped fees are checked below
        fees = replacement_fees(
            Fees(last.max_fee_per_gas, last.max_priority_fee_per_gas),
            current,
            ceiling=record.max_fee_ceiling,
        )
        gas_limit = record.gas_limit or 0
        await self.check_chain()
        attempt = self._sign(record, record.nonce, gas_limit, fees, kind)
        await asyncio.to_thread(self.journal.record_signed, step_key, attempt, gas_limit)
        await self.broadcast(step_key, attempt)
        return attempt

    async def _set(
        self, step_key: str, state: StepState, detail: str | None, tx_hash: bytes | None = None
    ) -> None:
        await asyncio.to_thread(
            self.journal.set_state, step_key, state, detail=detail, final_tx_hash=tx_hash
        )


def _outcome(record: StepRecord) -> StepOutcome:
    tx_hash = record.final_tx_hash or (record.attempts[-1].tx_hash if record.attempts else None)
    return StepOutcome(record.step_key, record.state, tx_hash, None, record.detail)
