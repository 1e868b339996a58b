"""An `ExecutionEngine` and what was upserted into it.

The engine's routes name pools by id only, but a Uniswap V3 swap path needs each pool's
fee tier, and a step is built by its pool's venue. Upserting through this wrapper keeps a
pool id -> (fee, venue, kind) map beside the graph, so `sync_engine(adapter,
PoolRegistry(engine))` fills both at once (V2 pairs and V3 pools alike). Routing and
quoting go to the engine itself (`registry.engine`), as its stub describes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from platform_core.market.pool_state import PoolKind
from platform_rust import ExecutionEngine


@dataclass(frozen=True)
class PoolMeta:
    token0: str
    token1: str
    fee_pips: int
    venue: str
    kind: PoolKind = PoolKind.V3


class PoolRegistry:
    """Forwards upserts and removals to `engine` and records each pool's metadata. Queries
    (`optimize_route`, `quote`, ...) are made on `engine` directly."""

    def __init__(self, engine: ExecutionEngine) -> None:
        self.engine = engine
        self._pools: dict[str, PoolMeta] = {}

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
        ticks: Sequence[tuple[int, int]],
        venue: str = "uniswap_v3",
    ) -> None:
        self.engine.upsert_v3_pool(
            pool_id, token0, token1, fee_pips, tick_spacing, sqrt_price_x96, liquidity, tick,
            ticks, venue=venue,
        )  # fmt: skip
        self._pools[pool_id] = PoolMeta(token0, token1, fee_pips, venue)

    def upsert_v2_pool(
        self,
        pool_id: str,
        token0: str,
        token1: str,
        reserve0: int,
        reserve1: int,
        fee_pips: int = 3000,
        venue: str = "uniswap_v2",
    ) -> None:
        self.engine.upsert_v2_pool(
            pool_id, token0, token1, reserve0, reserve1, fee_pips=fee_pips, venue=venue
        )
        self._pools[pool_id] = PoolMeta(token0, token1, fee_pips, venue, PoolKind.V2)

    def remove_pool(self, pool_id: str) -> None:
        self.engine.remove_pool(pool_id)
        self._pools.pop(pool_id, None)

    @property
    def pools(self) -> Mapping[str, PoolMeta]:
        return self._pools

    def fee_pips(self, pool_id: str) -> int | None:
        meta = self._pools.get(pool_id)
        return None if meta is None else meta.fee_pips

    def venue_of(self, pool_id: str) -> str | None:
        meta = self._pools.get(pool_id)
        return None if meta is None else meta.venue
