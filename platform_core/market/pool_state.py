"""Plain pool-state records: what the chain says, ready for the Rust ExecutionEngine
(`upsert_v3_pool(pool_id, token0, token1, fee_pips, tick_spacing, sqrt_price_x96,
liquidity, tick, ticks)`, see `platform_core/rust_bindings.py`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PoolInfo:
    """A pool as discovered from the factory; never changes."""

    address: str
    token0: str
    token1: str
    fee_pips: int
    tick_spacing: int

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
