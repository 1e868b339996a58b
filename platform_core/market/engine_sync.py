"""Load pool state read from the chain into the Rust `ExecutionEngine`.

Pools are keyed by their address and tokens by their checksum address, so a route the
engine returns names exactly the pools and tokens an adapter builds swaps for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from platform_core.market.pool_state import PoolInfo, V3PoolState


class V3Graph(Protocol):
    """The part of `platform_rust.ExecutionEngine` the sync writes to."""

    def upsert_v3_pool(
        self,
        pool_id: str,
        token0: str,
        token1: str,
        fee_pips: int,
        tick_spacing: int,
        sqrt_price_x96: int,
        liquidity: int,
        tick: int,
        ticks: list[tuple[int, int]],
        venue: str = ...,
    ) -> None: ...


class PoolStateSource(Protocol):
    venue: str

    async def discover_pools(self) -> list[PoolInfo]: ...

    async def pool_state(self, pool: PoolInfo, block: int | None = None) -> V3PoolState: ...


def upsert_state(engine: V3Graph, state: V3PoolState, venue: str) -> None:
    info = state.info
    engine.upsert_v3_pool(
        info.address, info.token0, info.token1, info.fee_pips, info.tick_spacing,
        state.sqrt_price_x96, state.liquidity, state.tick, list(state.ticks), venue=venue,
    )  # fmt: skip


async def sync_engine(
    source: PoolStateSource,
    engine: V3Graph,
    pools: Sequence[PoolInfo] | None = None,
    block: int | None = None,
) -> list[V3PoolState]:
    """Read every pool (or the given ones) at one block and upsert it; return the states."""
    if pools is None:
        pools = await source.discover_pools()
    states = await asyncio.gather(*(source.pool_state(pool, block) for pool in pools))
    for state in states:
        upsert_state(engine, state, source.venue)
    return list(states)
