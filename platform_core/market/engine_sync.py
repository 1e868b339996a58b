"""Load pool state read from the chain into the Rust `ExecutionEngine`.

Pools are keyed by their address and tokens by their checksum address, so a route the
engine returns names exactly the pools and tokens an adapter builds swaps for. Each pool
goes in with its math (a V2 pair's reserves, a V3 pool's ticks) and its venue, so one
engine holds every venue of a chain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Protocol

from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.pool_state import PoolInfo, PoolState, V3PoolState
from platform_core.rust_bindings import load_v3
from platform_rust import ExecutionEngine


class PoolStateSource(Protocol):
    venue: str

    async def discover_pools(self) -> list[PoolInfo]: ...

    async def pool_states(self, pools: Sequence[PoolInfo], block: int) -> list[PoolState]: ...

    async def pool_state(self, pool: PoolInfo, block: int | None = None) -> PoolState: ...


def load_states(
    engine: ExecutionEngine | PoolRegistry, states: Iterable[PoolState], venue: str
) -> int:
    """Upsert pool states of `venue`, V2 and V3 alike; pools are keyed by address."""
    v3: list[V3PoolState] = []
    count = 0
    for state in states:
        if isinstance(state, V3PoolState):
            v3.append(state)
            continue
        info = state.info
        engine.upsert_v2_pool(
            info.address, info.token0, info.token1, state.reserve0, state.reserve1,
            fee_pips=info.fee_pips, venue=venue,
        )  # fmt: skip
        count += 1
    return count + load_v3(engine, v3, venue)


async def sync_engine(
    source: PoolStateSource,
    engine: ExecutionEngine | PoolRegistry,
    pools: Sequence[PoolInfo] | None = None,
    block: int | None = None,
) -> list[PoolState]:
    """Read every pool (or the given ones) at one block (each at the head, without one)
    and upsert it; return the states."""
    if pools is None:
        pools = await source.discover_pools()
    if block is None:
        states = list(await asyncio.gather(*(source.pool_state(pool) for pool in pools)))
    else:
        states = await source.pool_states(pools, block)
    load_states(engine, states, source.venue)
    return states


def replace_venue(registry: PoolRegistry, states: Sequence[PoolState], venue: str) -> int:
    """Make `venue`'s pools in the registry exactly `states` (a snapshot): upsert each, and
    remove the venue's pools it does not hold (a pool whose creation a reorg undid)."""
    keep = {state.info.address for state in states}
    for pool_id, meta in list(registry.pools.items()):
        if meta.venue == venue and pool_id not in keep:
            registry.remove_pool(pool_id)
    return load_states(registry, states, venue)
