"""Nonces per wallet: consecutive under concurrency, re-read after errors."""

from __future__ import annotations

import asyncio

from platform_core.chain.nonces import NonceManager

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
