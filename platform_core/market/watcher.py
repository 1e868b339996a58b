"""`MarketWatcher`: keeps an engine's pools as the chain has them, block by block.

The first `refresh` reads every pool. Later ones read only what changed since the block
last seen: pools named by a `Swap`, `Mint` or `Burn` log are read again at the new head,
and a `PoolCreated` log from the factory brings the new pool in. Between blocks a refresh
costs one `eth_blockNumber`. A reorg that moves the head backwards triggers a full read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from platform_core.market import contracts as c
from platform_core.market.engine_sync import sync_engine

if TYPE_CHECKING:
    from platform_core.execution.pool_registry import PoolRegistry
    from platform_core.market.uniswap_v3 import UniswapV3Adapter

log = logging.getLogger(__name__)

_POOL_TOPICS = ["0x" + event.topic.hex() for event in (c.SWAP, c.MINT, c.BURN)]


@dataclass(frozen=True)
class Refresh:
    block: int
    pools_read: int  # 0: nothing changed since the last block seen
    full: bool


class MarketWatcher:
    def __init__(
        self, adapter: UniswapV3Adapter, registry: PoolRegistry, *, min_interval_s: float = 1.0
    ) -> None:
        self.adapter = adapter
        self.registry = registry
        self.min_interval_s = min_interval_s
        self.block: int | None = None  # the block the engine reflects
        self._lock = asyncio.Lock()
        self._checked_at = float("-inf")

    async def refresh(self) -> Refresh:
        """Bring the engine to the chain's head; one refresh at a time."""
        async with self._lock:
            head = await self.adapter.client.block_number()
            self._checked_at = time.monotonic()
            if self.block is None or head < self.block:
                states = await sync_engine(self.adapter, self.registry, block=head)
                self.block = head
                return Refresh(head, len(states), full=True)
            if head == self.block:
                return Refresh(head, 0, full=False)
            changed, created = await self._changes(self.block + 1, head)
            if created:
                states = await sync_engine(self.adapter, self.registry, block=head)
                self.block = head
                return Refresh(head, len(states), full=True)
            pools = [p for p in await self.adapter.pools() if p.address.lower() in changed]
            if pools:
                await sync_engine(self.adapter, self.registry, pools, block=head)
            self.block = head
            return Refresh(head, len(pools), full=False)

    async def refresh_if_due(self) -> Refresh | None:
        """`refresh`, unless one ran less than `min_interval_s` ago (a hot path's guard)."""
        if time.monotonic() - self._checked_at < self.min_interval_s:
            return None
        return await self.refresh()

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh every `min_interval_s` until `stop`; a failed read is retried next time."""
        while not stop.is_set():
            try:
                result = await self.refresh()
                if result.pools_read:
                    log.debug("market: block %d, %d pools read", result.block, result.pools_read)
            except Exception as exc:  # the chain is down or slow: keep the last state
                log.warning("market: refresh failed (%r); keeping block %s", exc, self.block)
            try:
                await asyncio.wait_for(stop.wait(), self.min_interval_s)
            except TimeoutError:
                pass

    async def _changes(self, first: int, last: int) -> tuple[set[str], bool]:
        """Lower-case addresses of known pools with a swap, mint or burn in [first, last],
        and whether the factory created a pool there."""
        known = [p.address for p in await self.adapter.pools()]
        pool_logs, created = await asyncio.gather(
            self.adapter.client.get_logs(
                {"address": known, "topics": [_POOL_TOPICS], "fromBlock": first, "toBlock": last}
            ),
            self.adapter.client.get_logs(
                {
                    "address": self.adapter.addresses.factory,
                    "topics": ["0x" + c.POOL_CREATED.topic.hex()],
                    "fromBlock": first,
                    "toBlock": last,
                }
            ),
        )
        return {str(entry["address"]).lower() for entry in pool_logs}, bool(created)
