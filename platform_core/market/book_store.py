"""The consolidated books as a Redis read model, and the keeper that keeps them current.

`BookKeeper` (what the MarketData actor runs) holds an engine fed by every venue's
`PoolStateChanged` (through a `MovedPools` registry, which notes the pairs each upsert or
removal touches); on each new block it waits `debounce_s` (every venue's message for the
block then counts once), rebuilds the books of the pairs that moved and writes them with
`BookStore`: `{prefix}book:{chain}:{base}:{quote}` (JSON, `PairBook.to_json`, both token
orders, lower-case addresses), and the hash `{prefix}book:{chain}:pairs` listing every pair
held (field `base:quote`, value the block). API replicas read a book with one GET: no actor
call on their hot path.

Redis is a cache: when the pairs hash is gone (Redis restarted empty) the keeper writes
every book again within `check_s`, and a pair no pool trades any more is deleted.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import redis.asyncio as aioredis

from platform_core.market.book import (
    MAX_IMPACT_BPS,
    POOL_LEVELS,
    PRICE_STEP_BPS,
    PairBook,
    Token,
    build_book,
    pairs_of,
)
from platform_core.market.pool_registry import PoolRegistry

log = logging.getLogger(__name__)

Pair = tuple[str, str]  # (base, quote), lower-case addresses


def deployment_tokens(deployment: Mapping[str, Any]) -> dict[str, Token]:
    """The tokens a deployment names, by lower-case address."""
    tokens = deployment.get("tokens", {})
    return {
        str(t["address"]).lower(): Token(str(t["address"]), symbol, int(t["decimals"]))
        for symbol, t in tokens.items()
    }


class MovedPools(PoolRegistry):
    """A registry that notes the token pairs of every pool upserted or removed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.moved: set[Pair] = set()

    def _note(self, token0: str, token1: str) -> None:
        a, b = token0.lower(), token1.lower()
        self.moved.update({(a, b), (b, a)})

    def upsert_v3_pool(self, pool_id: str, token0: str, token1: str, *args: Any,
                       **kwargs: Any) -> None:  # fmt: skip
        super().upsert_v3_pool(pool_id, token0, token1, *args, **kwargs)
        self._note(token0, token1)

    def upsert_v2_pool(self, pool_id: str, token0: str, token1: str, *args: Any,
                       **kwargs: Any) -> None:  # fmt: skip
        super().upsert_v2_pool(pool_id, token0, token1, *args, **kwargs)
        self._note(token0, token1)

    def remove_pool(self, pool_id: str) -> None:
        meta = self.pools.get(pool_id)
        super().remove_pool(pool_id)
        if meta is not None:
            self._note(meta.token0, meta.token1)

    def take(self) -> set[Pair]:
        moved, self.moved = self.moved, set()
        return moved


class BookReader(Protocol):
    """What the API reads of the books (`BookStore`)."""

    async def read(self, chain_id: int, base: str, quote: str) -> dict[str, Any] | None: ...

    async def listed(self, chain_id: int, base: str, quote: str) -> bool | None: ...


class BookWriter(Protocol):
    """What the keeper writes the books with (`BookStore`)."""

    async def write(
        self, chain_id: int, books: list[PairBook], gone: set[Pair], block: int
    ) -> None: ...

    async def held(self, chain_id: int) -> bool: ...


class BookStore:
    def __init__(self, client: aioredis.Redis, *, prefix: str = "") -> None:
        self._redis = client
        self._prefix = prefix

    def book_key(self, chain_id: int, base: str, quote: str) -> str:
        return f"{self._prefix}book:{chain_id}:{base.lower()}:{quote.lower()}"

    def pairs_key(self, chain_id: int) -> str:
        return f"{self._prefix}book:{chain_id}:pairs"

    async def write(
        self, chain_id: int, books: list[PairBook], gone: set[Pair], block: int
    ) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for book in books:
                base, quote = book.base.address, book.quote.address
                pipe.set(self.book_key(chain_id, base, quote), json.dumps(book.to_json()))
                pipe.hset(self.pairs_key(chain_id), f"{base.lower()}:{quote.lower()}", block)
            for base, quote in gone:
                pipe.delete(self.book_key(chain_id, base, quote))
                pipe.hdel(self.pairs_key(chain_id), f"{base}:{quote}")
            await pipe.execute()

    async def read(self, chain_id: int, base: str, quote: str) -> dict[str, Any] | None:
        raw = await self._redis.get(self.book_key(chain_id, base, quote))
        return None if raw is None else cast("dict[str, Any]", json.loads(raw))

    async def listed(self, chain_id: int, base: str, quote: str) -> bool | None:
        """Whether the pair has a book; None when no book of the chain is held (yet)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.exists(self.pairs_key(chain_id))
            pipe.hexists(self.pairs_key(chain_id), f"{base.lower()}:{quote.lower()}")
            held, listed = await pipe.execute()
        return bool(listed) if held else None

    async def held(self, chain_id: int) -> bool:
        return bool(await self._redis.exists(self.pairs_key(chain_id)))

    async def close(self) -> None:
        await self._redis.aclose()


class BookKeeper:
    """Rebuilds and writes the books of the pairs whose pools moved, once per block."""

    def __init__(
        self,
        registry: MovedPools,
        tokens: Mapping[str, Token],
        store: BookWriter,
        *,
        chain_id: int,
        debounce_s: float = 0.05,
        check_s: float = 1.0,
        pool_levels: int = POOL_LEVELS,
        max_impact_bps: float = MAX_IMPACT_BPS,
        price_step_bps: float = PRICE_STEP_BPS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = registry
        self.tokens = tokens
        self.store = store
        self.chain_id = chain_id
        self.debounce_s = debounce_s
        self.check_s = check_s
        self.block: int | None = None
        self.written: int | None = None  # the block of the last write
        self.pool_levels = pool_levels
        self.max_impact_bps = max_impact_bps
        self.price_step_bps = price_step_bps
        self._clock = clock
        self._full = True
        self._wake = asyncio.Event()

    async def on_head(self, block: int) -> None:
        """A feed's engine moved to `block` (`MarketFeed.on_head`)."""
        self.block = block if self.block is None else max(self.block, block)
        self._wake.set()

    async def publish(self) -> int:
        """Write the books of the moved pairs (all of them after a start or a lost Redis);
        return how many were written."""
        if self.block is None:
            return 0
        moved = self.registry.take()
        held = pairs_of(self.registry.pools, self.tokens)
        full = self._full or not await self.store.held(self.chain_id)
        todo = held if full else {p for p in moved if p in held}
        gone = {p for p in moved if p not in held}
        if not todo and not gone:
            self._full = False
            return 0
        as_of, books = self._clock(), []
        for base, quote in sorted(todo):
            book = build_book(
                self.registry.engine, self.registry.pools, self.tokens[base],
                self.tokens[quote], chain_id=self.chain_id, block_number=self.block,
                as_of=as_of, levels=self.pool_levels, max_impact_bps=self.max_impact_bps,
                price_step_bps=self.price_step_bps,
            )  # fmt: skip
            if book is not None:
                books.append(book)
        try:
            await self.store.write(self.chain_id, books, gone, self.block)
        except Exception:
            self.registry.moved |= moved  # written next time, with everything else
            self._full = True
            raise
        self._full = False
        self.written = self.block
        return len(books)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish after each new block (debounced), and check every `check_s` that Redis
        still holds the books; a failed write is retried then, with everything."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), self.check_s)
                await asyncio.sleep(self.debounce_s)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.publish()
            except Exception as exc:
                log.warning("market data: writing books at block %s failed (%r)", self.block, exc)
