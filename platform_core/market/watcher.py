"""`MarketWatcher`: keeps an engine's pools as the chain has them, block by block.

The first `refresh` reads every pool of one venue. Later ones read only what changed since
the block last seen: pools named by a log of the venue's `pool_events` (a V3 pool's `Swap`,
`Mint` or `Burn`, a V2 pair's `Sync`) are read again at the new head, and a creation log
from the factory (`PoolCreated`, `PairCreated`) brings the new pool in. Between blocks a refresh
costs one `eth_blockNumber` (a new head: its header too, for its hash). A reorg that moves
the head backwards triggers a full read.

Each refresh returns the pool states it read (every pool after a full read), so a venue
adapter actor can publish exactly what changed (`platform_core/market/changes.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from platform_core.market.engine_sync import sync_engine
from platform_core.market.pool_state import PoolInfo, PoolState

if TYPE_CHECKING:
    from platform_core.market.adapter import VenueAdapter
    from platform_core.market.pool_registry import PoolRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refresh:
    block: int
    full: bool  # every pool was read (the first refresh, a reorg, a new pool)
    states: tuple[PoolState, ...] = ()  # the pools read, at `block`
    block_hash: str | None = None  # None: the head did not move

    @property
    def pools_read(self) -> int:
        """0: nothing changed since the last block seen."""
        return len(self.states)


class MarketWatcher:
    def __init__(
        self, adapter: VenueAdapter, registry: PoolRegistry, *, min_interval_s: float = 1.0
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
            if head == self.block:
                return Refresh(head, full=False)
            pools: list[PoolInfo] | None = None  # None: every pool
            if self.block is not None and head > self.block:
                changed, created = await self._changes(self.block + 1, head)
                if not created:
                    pools = [p for p in await self.adapter.pools() if p.address.lower() in changed]
            block_hash, states = await asyncio.gather(
                self._block_hash(head), sync_engine(self.adapter, self.registry, pools, block=head)
            )
            self.block = head
            return Refresh(head, pools is None, tuple(states), block_hash)

    async def refresh_if_due(self) -> Refresh | None:
        """`refresh`, unless one ran less than `min_interval_s` ago (a hot path's guard)."""
        if time.monotonic() - self._checked_at < self.min_interval_s:
            return None
        return await self.refresh()

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh every `min_interval_s` until `stop`; a failed read is retried next time."""
        await poll(self._refresh_logged, stop, self.min_interval_s)

    async def _refresh_logged(self) -> None:
        try:
            result = await self.refresh()
        except Exception as exc:  # the chain is down or slow: keep the last state
            log.warning("market: refresh failed (%r); keeping block %s", exc, self.block)
            return
        if result.pools_read:
            log.debug("market: block %d, %d pools read", result.block, result.pools_read)

    async def _block_hash(self, block: int) -> str:
        header = await self.adapter.client.get_block(block)
        return "0x" + bytes(header["hash"]).hex()

    async def _changes(self, first: int, last: int) -> tuple[set[str], bool]:
        """Lower-case addresses of known pools whose state moved in [first, last] (a log of
        the venue's `pool_events`), and whether the factory created a pool there."""
        known = [p.address for p in await self.adapter.pools()]
        topics = ["0x" + event.topic.hex() for event in self.adapter.pool_events]
        pool_logs, created = await asyncio.gather(
            self.adapter.client.get_logs(
                {"address": known, "topics": [topics], "fromBlock": first, "toBlock": last}
            ),
            self.adapter.client.get_logs(
                {
                    "address": self.adapter.factory,
                    "topics": ["0x" + self.adapter.creation_event.topic.hex()],
                    "fromBlock": first,
                    "toBlock": last,
                }
            ),
        )
        return {str(entry["address"]).lower() for entry in pool_logs}, bool(created)


async def poll(step: Callable[[], Awaitable[Any]], stop: asyncio.Event, interval_s: float) -> None:
    """Run `step` every `interval_s` until `stop` (`step` handles its own failures)."""
    while not stop.is_set():
        await step()
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except TimeoutError:
            pass
