"""Load pool state read from the chain into the Rust `ExecutionEngine`.

Pools are keyed by their address and tokens by their checksum address, so a route the
engine returns names exactly the pools and tokens an adapter builds swaps for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from platform_core.market.pool_state import PoolInfo, V3PoolState
from platform_core.rust_bindings import load_v3
from platform_rust import ExecutionEngine

if TYPE_CHECKING:
    from platform_core.execution.pool_registry import PoolRegistry


class PoolStateSource(Protocol):
    venue: str

    async def discover_pools(self) -> list[PoolInfo]: ...

    async def pool_state(self, pool: PoolInfo, block: int | None = None) -> V3PoolState: ...


async def sync_engine(
    source: PoolStateSource,
    engine: ExecutionEngine | PoolRegistry,
    pools: Sequence[PoolInfo] | None = None,
    block: int | None = None,
) -> list[V3PoolState]:
    """Read every pool (or the given ones) at one block and upsert it; return the states."""
    if pools is None:
        pools = await source.discover_pools()
    states = await asyncio.gather(*(source.pool_state(pool, block) for pool in pools))
    load_v3(engine, states, source.venue)
    return list(states)


def replace_venue(registry: PoolRegistry, states: Sequence[V3PoolState], venue: str) -> int:
    """Make `venue`'s pools in the registry exactly `states` (a snapshot): upsert each, and
    remove the venue's pools it does not hold (a pool whose creation a reorg undid)."""
    keep = {state.info.address for state in states}
    for pool_id, meta in list(registry.pools.items()):
        if meta.venue == venue and pool_id not in keep:
            registry.remove_pool(pool_id)
    return load_v3(registry, states, venue)
