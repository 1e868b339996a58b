"""The gate's chain cache (`WalletState`), the balances the ledger checks against: read
through once, then refreshed only by announced heads, always keeping the newest block."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from eth_abi import encode as abi_encode

from platform_core.market import contracts as c
from platform_core.market.wallet_state import Holding, TokenFacts, WalletState

WALLET = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
USDC = "0xaf88d065e77c8cc2239327c5edb3a432268e5831"
ROUTER = "0xE592427A0AEce92De3Edee1F18E0157C05861564"


class FakeChain:
    """A head, a balance per block, and a log of every read."""

    def __init__(self) -> None:
        self.head = 10
        self.reads: list[str] = []
        self.code = "0x6080"
        self.gates: dict[int, asyncio.Event] = {}  # block -> holds its balance reads until set

    def balance(self, block: int) -> int:
        return 1_000 + block

    async def block_number(self) -> int:
        self.reads.append("blockNumber")
        return self.head

    async def rpc(self, method: str, params: list[Any]) -> str:
        self.reads.append(method)
        return self.code

    async def call(self, tx: dict[str, Any], block: int | str = "latest") -> bytes:
        self.reads.append(f"call@{block}")
        if tx["data"][:4] == c.DECIMALS.selector:
            return abi_encode(["uint8"], [6])
        if tx["data"][:4] == c.SYMBOL.selector:
            return abi_encode(["string"], ["USDC"])
        return abi_encode(["bool"], [True])  # approve

    async def batch_call(self, calls: list[tuple[str, bytes]], block: int) -> list[bytes]:
        self.reads.append(f"batch@{block}")
        if block in self.gates:
            await self.gates[block].wait()
        return [abi_encode(["uint256"], [self.balance(block)]) for _ in calls]


def state(chain: FakeChain) -> WalletState:
    adapter = SimpleNamespace(client=chain, addresses=SimpleNamespace(swap_router=ROUTER))
    return WalletState(adapter)  # type: ignore[arg-type]


async def test_a_miss_reads_through_at_the_head_then_only_heads_read() -> None:
    chain = FakeChain()
    wallets = state(chain)
    assert await wallets.holdings(WALLET, [USDC]) == {USDC: Holding(1_010, True, 10)}
    assert sorted(chain.reads) == ["batch@10", "blockNumber", "call@10"]
    chain.reads.clear()
    shouted = "0x" + WALLET[2:].upper()  # the same wallet, spelled otherwise
    for _ in range(3):
        assert (await wallets.holdings(shouted, [USDC]))[USDC].block == 10
    assert chain.reads == []

    await wallets.on_head(12)
    assert sorted(chain.reads) == ["batch@12", "call@12"]
    assert (await wallets.holdings(WALLET, [USDC]))[USDC] == Holding(1_012, True, 12)
    chain.reads.clear()
    await wallets.on_head(11)  # an older head, or the same one again: nothing to read
    await wallets.on_head(12)
    assert chain.reads == [] and wallets.head == 12


async def test_lookups_answer_from_the_previous_block_while_a_head_is_read() -> None:
    chain = FakeChain()
    wallets = state(chain)
    await wallets.holdings(WALLET, [USDC])
    chain.gates[13] = asyncio.Event()
    refresh = asyncio.create_task(wallets.on_head(13))
    await asyncio.sleep(0)  # its reads are under way
    assert (await wallets.holdings(WALLET, [USDC]))[USDC].block == 10
    chain.gates[13].set()
    await refresh
    assert (await wallets.holdings(WALLET, [USDC]))[USDC].block == 13


async def test_an_earlier_head_read_last_does_not_overwrite_a_later_one() -> None:
    chain = FakeChain()
    wallets = state(chain)
    await wallets.holdings(WALLET, [USDC])
    chain.gates[14] = asyncio.Event()
    earlier = asyncio.create_task(wallets.on_head(14))
    await asyncio.sleep(0)
    await wallets.on_head(15)
    chain.gates[14].set()
    await earlier
    assert (await wallets.holdings(WALLET, [USDC]))[USDC] == Holding(1_015, True, 15)
    assert wallets.head == 15


async def test_token_facts_are_kept_for_contracts_only() -> None:
    chain = FakeChain()
    wallets = state(chain)
    chain.code = "0x"
    assert await wallets.token_facts(USDC) == TokenFacts(False)
    chain.code = "0x6080"  # deployed since: read again, then kept
    assert await wallets.token_facts(USDC) == TokenFacts(True, 6, "USDC")
    reads = len(chain.reads)
    assert await wallets.token_facts("0x" + USDC[2:].upper()) == TokenFacts(True, 6, "USDC")
    assert len(chain.reads) == reads
