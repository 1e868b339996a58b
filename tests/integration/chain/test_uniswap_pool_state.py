"""Pool state read from the chain is complete, and an exact Python simulation of a swap
from that state equals QuoterV2's quote to the wei."""

from __future__ import annotations

import pytest

from platform_core.market.adapter import Route
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from tests.integration.chain.quoter import decimals, quoted_out
from tests.uniswap_v3_reference import simulate_state

# From dust to amounts that push the price through several ranges (and, for the thinner
# pools, out of liquidity altogether: the quote is then a partial fill, equally exact).
WHOLE_TOKEN_AMOUNTS = (0.001, 1, 37, 1_000, 250_000, 10**7)


async def test_state_is_complete(uniswap: UniswapV3Adapter) -> None:
    for pool in await uniswap.discover_pools():
        state = await uniswap.pool_state(pool)
        assert state.ticks, pool
        assert all(t % pool.tick_spacing == 0 for t, _ in state.ticks)
        # Ticks net to zero, and the active liquidity is the sum of the nets at or below
        # the current tick: both fail if any initialised tick is missing.
        assert sum(net for _, net in state.ticks) == 0
        assert state.liquidity == sum(net for t, net in state.ticks if t <= state.tick)
        if pool.tick_spacing >= 10:  # the full bitmap scan is slow for spacing 1
            scanned = await uniswap.pool_state(pool, state.block_number, full_scan=True)
            assert scanned == state


@pytest.mark.parametrize("zero_for_one", [True, False])
async def test_simulation_equals_quoter_to_the_wei(
    uniswap: UniswapV3Adapter, zero_for_one: bool
) -> None:
    checked = 0
    for pool in await uniswap.discover_pools():
        state = await uniswap.pool_state(pool)
        token_in = pool.token0 if zero_for_one else pool.token1
        token_out = pool.other(token_in)
        units = 10 ** await decimals(uniswap, token_in)
        for whole in WHOLE_TOKEN_AMOUNTS:
            amount = max(1, int(whole * units))
            quoted = await quoted_out(
                uniswap, Route((token_in, token_out), (pool.fee_pips,)), amount
            )
            simulated = simulate_state(state, token_in, amount)
            assert simulated.amount_out == quoted, (pool, amount)
            checked += 1
    assert checked >= 40
