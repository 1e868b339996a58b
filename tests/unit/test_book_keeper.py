"""`BookKeeper` (what the MarketData actor runs) over a `MovedPools` registry and an
in-memory store: the first write holds every pair, later ones only the pairs whose pools
moved, a pair no pool trades any more is deleted, and a store that lost everything (Redis
restarted empty) gets every book again."""

from __future__ import annotations

import asyncio

from platform_core.market.book import PairBook, Token
from platform_core.market.book_store import BookKeeper, MovedPools, Pair
from platform_rust import ExecutionEngine
from tests.unit.pool_graphs import DAI, USDC, WETH, add_v3_pool, whole

TOKENS = {t.address.lower(): t for t in (Token(WETH, "WETH", 18), Token(USDC, "USDC", 6),
                                        Token(DAI, "DAI", 18))}  # fmt: skip
ETH_USD = (WETH.lower(), USDC.lower())
USD_ETH = (USDC.lower(), WETH.lower())
ETH_DAI = (WETH.lower(), DAI.lower())
DAI_ETH = (DAI.lower(), WETH.lower())


class MemoryStore:
    def __init__(self) -> None:
        self.books: dict[Pair, PairBook] = {}
        self.writes: list[tuple[set[Pair], set[Pair], int]] = []

    async def write(self, chain_id: int, books: list[PairBook], gone: set[Pair],
                    block: int) -> None:  # fmt: skip
        written = {(b.base.address.lower(), b.quote.address.lower()) for b in books}
        self.writes.append((written, set(gone), block))
        for book in books:
            self.books[(book.base.address.lower(), book.quote.address.lower())] = book
        for pair in gone:
            self.books.pop(pair, None)

    async def held(self, chain_id: int) -> bool:
        return bool(self.books)


def registry() -> MovedPools:
    pools = MovedPools(ExecutionEngine())
    add_v3_pool(pools, "eth-usd", WETH, whole(WETH, 1_000), USDC, whole(USDC, 3_000_000), 500)
    add_v3_pool(pools, "eth-dai", WETH, whole(WETH, 100), DAI, whole(DAI, 300_000), 3000)
    return pools


async def test_first_write_everything_then_only_what_moved() -> None:
    pools, store = registry(), MemoryStore()
    keeper = BookKeeper(pools, TOKENS, store, chain_id=1)
    assert await keeper.publish() == 0  # no block yet: nothing to be "as of"
    await keeper.on_head(10)
    assert await keeper.publish() == 4
    assert store.writes[-1] == ({ETH_USD, USD_ETH, ETH_DAI, DAI_ETH}, set(), 10)
    assert store.books[ETH_USD].block_number == 10 and keeper.written == 10

    pools.upsert_v2_pool("v2", USDC, WETH, whole(USDC, 300_000), whole(WETH, 100),
                         venue="sushiswap_v2")  # fmt: skip
    await keeper.on_head(11)
    assert await keeper.publish() == 2
    assert store.writes[-1] == ({ETH_USD, USD_ETH}, set(), 11)
    assert store.books[ETH_USD].venues == ("uniswap_v3", "sushiswap_v2")
    assert store.books[ETH_DAI].block_number == 10  # not moved, not rewritten

    pools.remove_pool("eth-dai")
    await keeper.on_head(12)
    assert await keeper.publish() == 0
    assert store.writes[-1] == (set(), {ETH_DAI, DAI_ETH}, 12)
    assert set(store.books) == {ETH_USD, USD_ETH}
    writes = len(store.writes)
    assert await keeper.publish() == 0 and len(store.writes) == writes  # nothing moved


async def test_a_store_that_lost_everything_gets_every_book_again() -> None:
    pools, store = registry(), MemoryStore()
    keeper = BookKeeper(pools, TOKENS, store, chain_id=1)
    await keeper.on_head(10)
    await keeper.publish()
    store.books.clear()  # Redis restarted empty
    assert await keeper.publish() == 4
    assert set(store.books) == {ETH_USD, USD_ETH, ETH_DAI, DAI_ETH}


async def test_run_writes_once_per_burst_of_heads() -> None:
    pools, store = registry(), MemoryStore()
    keeper = BookKeeper(pools, TOKENS, store, chain_id=1, debounce_s=0.05,
                        check_s=30)  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    await keeper.on_head(10)
    await keeper.on_head(10)  # a second venue's message for the same block
    for _ in range(200):
        if store.writes:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    stop.set()
    await keeper.on_head(11)  # wakes the loop, which then sees `stop`
    await asyncio.wait_for(task, 5)
    assert store.writes[0][2] == 10
    assert len([w for w in store.writes if w[2] == 10]) == 1
