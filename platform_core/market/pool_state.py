"""Plain pool-state records: what the chain says, ready for the Rust ExecutionEngine
(`upsert_v3_pool(pool_id, token0, token1, fee_pips, tick_spacing, sqrt_price_x96,
liquidity, tick, ticks)`) or for the exact Python simulation."""

from __future__ import annotations

from dataclasses import dataclass

from platform_core.market import v3_math


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

    def simulate_exact_input(self, token_in: str, amount_in: int) -> v3_math.SwapResult:
        zero_for_one = token_in.lower() == self.info.token0.lower()
        if not zero_for_one and token_in.lower() != self.info.token1.lower():
            raise ValueError(f"{token_in} is not in pool {self.info.address}")
        return v3_math.simulate_exact_input(
            sqrt_price_x96=self.sqrt_price_x96,
            tick=self.tick,
            liquidity=self.liquidity,
            fee_pips=self.info.fee_pips,
            tick_spacing=self.info.tick_spacing,
            ticks=self.ticks,
            zero_for_one=zero_for_one,
            amount_in=amount_in,
        )
