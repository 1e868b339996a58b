"""Nonces per wallet: consecutive under concurrency, re-read after errors; and turns, which
hand nonces to the node in order, give a refused one back without a gap and bound how many
are in flight."""

from __future__ import annotations

import asyncio

import pytest

from platform_core.chain.nonces import InFlightFull, NonceManager
from platform_core.errors import ErrorCode

WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


class FakeChain:
    """The pending count a node would report (no chain involved: pure counter logic)."""

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.reads = 0

    async def count(self, wallet: str) -> int:
        self.reads += 1
        await asyncio.sleep(0)  # let other reservations interleave
        return self.pending


async def test_concurrent_reservations_are_consecutive_and_read_the_chain_once() -> None:
    chain = FakeChain(7)
    nonces = NonceManager(chain.count)
    got = await asyncio.gather(*(nonces.reserve(WALLET) for _ in range(20)))
    assert sorted(got) == list(range(7, 27))
    assert chain.reads == 1


async def test_wallets_are_independent_and_case_insensitive() -> None:
    nonces = NonceManager(FakeChain(0).count)
    assert await nonces.reserve(WALLET) == 0
    assert await nonces.reserve(WALLET.lower()) == 1
    assert await nonces.reserve("0x" + "11" * 20) == 0


async def test_resync_after_a_nonce_error() -> None:
    chain = FakeChain(3)
    nonces = NonceManager(chain.count)
    assert [await nonces.reserve(WALLET) for _ in range(3)] == [3, 4, 5]
    chain.pending = 10  # another process used the wallet
    assert await nonces.resync(WALLET) == 10
    assert await nonces.reserve(WALLET) == 10


async def test_release_gives_back_only_the_latest_nonce() -> None:
    chain = FakeChain(0)
    nonces = NonceManager(chain.count)
    first, second = await nonces.reserve(WALLET), await nonces.reserve(WALLET)
    await nonces.release(WALLET, second)
    assert await nonces.reserve(WALLET) == second
    # An older one leaves a gap: the counter is dropped and the chain decides.
    await nonces.release(WALLET, first)
    chain.pending = first
    assert await nonces.reserve(WALLET) == first
    assert chain.reads == 2


# -- turns: the pipeline's order, gaps and bound ------------------------------------------


class Node:
    """What a node would say: the pending and mined counts, and the order in which it was
    handed each nonce."""

    def __init__(self, pending: int = 0) -> None:
        self.pending = pending
        self.mined = pending
        self.handed: list[int] = []

    async def pending_count(self, wallet: str) -> int:
        await asyncio.sleep(0)
        return self.pending

    async def mined_count(self, wallet: str) -> int:
        await asyncio.sleep(0)
        return self.mined


async def test_turns_hand_nonces_to_the_node_in_order_whatever_each_one_takes() -> None:
    node = Node(pending=4)
    nonces = NonceManager(node.pending_count, node.mined_count, max_in_flight=100)

    async def send(delay: float) -> int:
        async with nonces.turn(WALLET) as turn:
            await asyncio.sleep(delay)  # signing and journalling: slower for some than others
            node.handed.append(turn.nonce)
            turn.use()
            return turn.nonce

    got = await asyncio.gather(*(send(d) for d in (0.03, 0.0, 0.02, 0.0, 0.01)))
    assert sorted(got) == [4, 5, 6, 7, 8]
    assert node.handed == [4, 5, 6, 7, 8]  # n+1 never before n


async def test_a_refused_nonce_is_given_back_and_taken_by_the_next_leaving_no_gap() -> None:
    nonces = NonceManager(Node(pending=10).pending_count)
    async with nonces.turn(WALLET) as turn:
        turn.use()
    async with nonces.turn(WALLET) as refused:
        refused.use()  # journalled, then the node refused the broadcast
        refused.give_back()
    async with nonces.turn(WALLET) as nothing_signed:
        pass  # an error before journalling: given back by default
    async with nonces.turn(WALLET) as turn:
        turn.use()
    assert (refused.nonce, nothing_signed.nonce, turn.nonce) == (11, 11, 11)
    # The refused bytes are in the journal: the nonce comes back marked, so that it is
    # signed at other fees (one bump per refusal), never into the same bytes.
    assert (refused.reissue, nothing_signed.reissue, turn.reissue) == (0, 1, 1)
    async with nonces.turn(WALLET) as after:
        assert (after.nonce, after.reissue) == (12, 0)


async def test_an_error_after_the_journal_write_keeps_the_nonce_spent() -> None:
    nonces = NonceManager(Node(pending=0).pending_count)
    with pytest.raises(RuntimeError):
        async with nonces.turn(WALLET) as turn:
            turn.use()
            raise RuntimeError("the broadcast went wrong in an unexpected way")
    async with nonces.turn(WALLET) as turn:
        assert turn.nonce == 1


async def test_a_forgotten_counter_is_read_from_the_chain_again() -> None:
    node = Node(pending=3)
    nonces = NonceManager(node.pending_count)
    async with nonces.turn(WALLET) as turn:
        turn.use()
        turn.forget()  # "nonce too low": someone else used the wallet
    node.pending = 9
    async with nonces.turn(WALLET) as turn:
        assert turn.nonce == 9


async def test_the_bound_waits_for_mined_transactions_then_gives_up() -> None:
    node = Node(pending=0)
    nonces = NonceManager(
        node.pending_count, node.mined_count, max_in_flight=2, poll_s=0.001, room_timeout_s=5
    )
    for _ in range(2):
        async with nonces.turn(WALLET) as turn:
            turn.use()

    async def third() -> int:
        async with nonces.turn(WALLET) as turn:
            turn.use()
            return turn.nonce

    waiting = asyncio.create_task(third())
    for _ in range(20):
        await asyncio.sleep(0.002)
    assert not waiting.done()  # nonces 0 and 1 in flight: no room for 2
    node.mined = 1  # nonce 0 mined
    assert await asyncio.wait_for(waiting, 5) == 2

    impatient = NonceManager(
        node.pending_count, node.mined_count, max_in_flight=1, poll_s=0.001, room_timeout_s=0
    )
    node.pending = 3  # 1 and 2 in flight, one allowed
    with pytest.raises(InFlightFull) as full:
        async with impatient.turn(WALLET):
            pass
    assert full.value.retryable and full.value.code is ErrorCode.IN_FLIGHT_FULL
    node.mined = 3
    async with impatient.turn(WALLET) as turn:  # the lock was not left held
        assert turn.nonce == 3
