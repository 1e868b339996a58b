"""Nonces per wallet, and the order in which a wallet's transactions reach the node.

A wallet's transactions are pipelined: each is signed and broadcast without waiting for the
receipt of the one before, up to `max_in_flight` broadcast and not yet mined. What keeps that
exact, per wallet and process (one execution actor owns a wallet: nobody else numbers it):

1. Strict order. A nonce is handed out only inside a *turn* (`NonceManager.turn`), which
   holds the wallet's lock from the reservation through signing, journalling and the
   broadcast call until the node has answered. Nonce n+1 is reserved only after the turn of
   n has ended, so it is never broadcast before n was handed to the node. (When the node's
   answer is lost in transport, n's bytes are in the journal and its receipt wait re-sends
   them until the node has them: a later nonce may wait in the pool, never be mined first.)
2. No gap. A turn ends in one of three ways. *Used*: its signed bytes were journalled; from
   then on the nonce belongs to those bytes (re-sent when the node loses them, sped up or
   cancelled at the same nonce, never handed out again), even when the broadcast's outcome
   is unknown. *Given back* (the default when `use` was not called; `give_back` after a
   broadcast the node refused): no later nonce exists yet (the turn holds the lock), so the
   counter steps back to it and the next transaction takes it: no gap is left behind. A
   nonce given back after its bytes were journalled comes with `Turn.reissue` (how many
   times so far): the signer raises its fees by that many wei, so that the new bytes never
   repeat refused ones the journal holds (one step per transaction hash). *Forgotten*
   (`forget`: the node disagreed about the nonce): the next turn re-reads the count.
3. Bound. A turn for nonce n starts only when n < mined + `max_in_flight`, `mined` being the
   chain's count of the wallet's mined transactions (re-read only when the bound seems
   reached). The wait happens outside the lock, polled, and ends after `room_timeout_s` with
   `InFlightFull` (retryable: nothing was signed).

The count a fresh counter starts from is the caller's `pending_count`; the sender's never
goes below its journal's highest open nonce + 1, so a journalled transaction the node
dropped keeps its nonce until it is mined or replaced.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import Enum

from platform_core.chain.errors import TransportError
from platform_core.errors import ErrorCode

Count = Callable[[str], Awaitable[int]]
PendingCount = Count


class InFlightFull(TransportError):
    """The wallet's earlier transactions were not mined within the bound, so no room opened
    for another: nothing was signed, and a later run tries again."""

    code = ErrorCode.IN_FLIGHT_FULL


class _End(Enum):
    GIVEN_BACK = "given back"
    USED = "used"
    FORGOTTEN = "forgotten"


@dataclass
class Turn:
    """One nonce, reserved for the holder of the wallet's turn; see the module docstring."""

    nonce: int
    reissue: int = 0  # times this nonce was given back after its bytes were journalled
    end: _End = _End.GIVEN_BACK
    journalled: bool = False

    def use(self) -> None:
        """Its signed bytes are journalled: the nonce is spent."""
        self.end = _End.USED
        self.journalled = True

    def give_back(self) -> None:
        """Nothing of it reached the node: the next transaction takes this nonce."""
        self.end = _End.GIVEN_BACK

    def forget(self) -> None:
        """The node disagreed about the nonce: read the count from the chain again."""
        self.end = _End.FORGOTTEN


@dataclass
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next: int | None = None  # None: read it from the chain at the next reservation
    mined: int = 0  # the chain's mined count as last read (it only grows)
    reissues: dict[int, int] = field(default_factory=dict)  # nonce -> times given back


class NonceManager:
    def __init__(
        self,
        pending_count: Count,
        mined_count: Count | None = None,
        *,
        max_in_flight: int = 8,
        poll_s: float = 0.1,
        room_timeout_s: float = 60.0,
    ) -> None:
        """`mined_count` (the chain's count of mined transactions) bounds the pipeline at
        `max_in_flight`; without it, turns are not bounded."""
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._pending_count = pending_count
        self._mined_count = mined_count
        self.max_in_flight = max_in_flight
        self.poll_s = poll_s
        self.room_timeout_s = room_timeout_s
        self._lanes: dict[str, _Lane] = {}

    def _lane(self, wallet: str) -> _Lane:
        return self._lanes.setdefault(wallet.lower(), _Lane())

    @asynccontextmanager
    async def turn(self, wallet: str) -> AsyncIterator[Turn]:
        """The wallet's next nonce, with the wallet to itself until the block ends: sign,
        journal and broadcast inside it, then say how it ended (`use`, `give_back`,
        `forget`)."""
        lane = self._lane(wallet)
        await self._enter(wallet, lane)
        try:
            assert lane.next is not None
            turn = Turn(lane.next, lane.reissues.get(lane.next, 0))
            try:
                yield turn
            finally:
                if turn.end is _End.USED:
                    lane.next = turn.nonce + 1
                    lane.reissues.pop(turn.nonce, None)
                elif turn.end is _End.FORGOTTEN:
                    lane.next = None
                elif turn.journalled:
                    lane.reissues[turn.nonce] = turn.reissue + 1
        finally:
            lane.lock.release()

    async def _enter(self, wallet: str, lane: _Lane) -> None:
        """Return holding the lane's lock, with room in the pipeline for its next nonce."""
        deadline = time.monotonic() + self.room_timeout_s
        while True:
            await lane.lock.acquire()
            try:
                if lane.next is None:
                    lane.next = await self._pending_count(wallet)
                if self._has_room(lane):
                    return
                assert self._mined_count is not None
                lane.mined = max(lane.mined, await self._mined_count(wallet))
                if self._has_room(lane):
                    return
            except BaseException:
                lane.lock.release()
                raise
            lane.lock.release()
            if time.monotonic() >= deadline:
                raise InFlightFull(
                    f"wallet {wallet}: {self.max_in_flight} transactions still in flight after"
                    f" {self.room_timeout_s:.0f} s (none mined above nonce {lane.mined - 1})"
                )
            await asyncio.sleep(self.poll_s)

    def _has_room(self, lane: _Lane) -> bool:
        assert lane.next is not None
        return self._mined_count is None or lane.next < lane.mined + self.max_in_flight

    async def reserve(self, wallet: str) -> int:
        """The next nonce for `wallet`, used at once (no turn, no bound): for callers that
        order their own broadcasts. The first call per wallet reads it from the chain."""
        lane = self._lane(wallet)
        async with lane.lock:
            if lane.next is None:
                lane.next = await self._pending_count(wallet)
            nonce = lane.next
            lane.next = nonce + 1
            return nonce

    async def resync(self, wallet: str) -> int:
        """Forget the local counter and read the chain's pending count again."""
        lane = self._lane(wallet)
        async with lane.lock:
            lane.next = await self._pending_count(wallet)
            return lane.next

    async def release(self, wallet: str, nonce: int) -> None:
        """Give back a nonce from `reserve` that was never signed. Only the latest one can be
        taken back; an earlier one leaves a gap, so the counter is re-read from the chain."""
        lane = self._lane(wallet)
        async with lane.lock:
            if lane.next == nonce + 1:
                lane.next = nonce
            else:
                lane.next = None  # the next reservation reads the chain
