"""Plain pool-state records: what the chain says, ready for the Rust ExecutionEngine
(`upsert_v3_pool(pool_id, token0, token1, fee_pips, tick_spacing, sqrt_price_x96,
liquidity, tick, ticks)` for a concentrated-liquidity pool, `upsert_v2_pool(pool_id, token0,
token1, reserve0, reserve1, fee_pips)` for a constant-product pair; see
`platform_core/market/engine_sync.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PoolKind(StrEnum):
    """The pool's math: constant product (Uniswap V2 and its forks) or concentrated
    liquidity (Uniswap V3)."""

    V2 = "v2"
    V3 = "v3"


@dataclass(frozen=True)
class PoolInfo:
    """A pool as discovered from its venue's factory; never changes. A V2 pair has no tick
    spacing (0)."""

    address: str
    token0: str
    token1: str
    fee_pips: int
    tick_spacing: int
    venue: str = "uniswap_v3"
    kind: PoolKind = PoolKind.V3

    def other(self, token: str) -> str:
        if token.lower() == self.token0.lower():
            return self.token1
        if token.lower() == self.token1.lower():
            return self.token0
        raise ValueError(f"{token} is not in pool {self.address}")


@dataclass(frozen=True)
class V3PoolState:
    info: PoolInfo
    block_number: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    ticks: tuple[tuple[int, int], ...]  # every initialised tick: (tick, liquidity_net)


@dataclass(frozen=True)
class V2PoolState:
    info: PoolInfo
    block_number: int
    reserve0: int
    reserve1: int


PoolState = V2PoolState | V3PoolState
