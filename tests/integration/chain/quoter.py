"""What the devnet tests check the platform against, read from the chain directly: QuoterV2's
quotes, a pool's mid price, a token's decimals. The platform itself routes on its own engine
and never asks the quoter; these are the independent answers its numbers must match.

`send_order` sends a swap as the execution actor does: the adapter's transactions, in order,
each through the sender, stopping at the first that does not confirm.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from platform_core.chain.abi import Function
from platform_core.chain.journal import StepState
from platform_core.chain.sender import StepOutcome, TransactionSender
from platform_core.market import contracts as c
from platform_core.market.adapter import Route, SwapOrder
from platform_core.market.uniswap_v3 import UniswapV3Adapter, encode_path

QUOTE_EXACT_INPUT_SINGLE = Function(
    "quoteExactInputSingle((address,address,uint256,uint24,uint160))",
    ("uint256", "uint160", "uint32", "uint256"),
)
QUOTE_EXACT_INPUT = Function(
    "quoteExactInput(bytes,uint256)", ("uint256", "uint160[]", "uint32[]", "uint256")
)


async def quoted_out(uniswap: UniswapV3Adapter, route: Route, amount_in: int) -> int:
    """QuoterV2's exact-input output along `route` (a partial fill when a pool runs dry)."""
    if len(route.fees) == 1:
        function = QUOTE_EXACT_INPUT_SINGLE
        data = function.encode((route.tokens[0], route.tokens[1], amount_in, route.fees[0], 0))
    else:
        function = QUOTE_EXACT_INPUT
        data = function.encode(encode_path(route), amount_in)
    raw = await uniswap.client.call({"to": uniswap.addresses.quoter_v2, "data": data})
    return int(function.decode_output(raw)[0])


async def best_direct_out(
    uniswap: UniswapV3Adapter, token_in: str, token_out: str, amount_in: int
) -> int:
    """The best QuoterV2 output through any single pool of the pair."""
    pair = {token_in.lower(), token_out.lower()}
    pools = [p for p in await uniswap.pools() if {p.token0.lower(), p.token1.lower()} == pair]
    assert pools, f"no pool for {token_in}/{token_out}"
    outs = await asyncio.gather(
        *(quoted_out(uniswap, Route((token_in, token_out), (p.fee_pips,)), amount_in)
          for p in pools)
    )  # fmt: skip
    return max(outs)


async def decimals(uniswap: UniswapV3Adapter, token: str) -> int:
    raw = await uniswap.client.call({"to": token, "data": c.DECIMALS.encode()})
    return int(c.DECIMALS.decode_output(raw)[0])


async def mid_price(uniswap: UniswapV3Adapter, base: str, quote: str) -> Decimal:
    """Whole `quote` tokens per whole `base` token, in the pair's pool with the most active
    liquidity (from its slot0)."""
    pair = {base.lower(), quote.lower()}
    pools = [p for p in await uniswap.pools() if {p.token0.lower(), p.token1.lower()} == pair]
    states = await asyncio.gather(*(uniswap.pool_state(p) for p in pools))
    deepest = max(states, key=lambda s: s.liquidity)
    pool = deepest.info
    raw = Decimal(deepest.sqrt_price_x96) ** 2 / Decimal(2**192)  # token1 units per token0
    dec0, dec1 = await decimals(uniswap, pool.token0), await decimals(uniswap, pool.token1)
    whole = raw * Decimal(10) ** (dec0 - dec1)
    return whole if pool.token0.lower() == base.lower() else 1 / whole


async def send_order(
    uniswap: UniswapV3Adapter, order: SwapOrder, sender: TransactionSender, step_key: str
) -> list[StepOutcome]:
    outcomes = []
    for request in await uniswap.build_swap_tx(order, sender.address, step_key):
        outcome = await sender.execute(request)
        outcomes.append(outcome)
        if outcome.state != StepState.CONFIRMED:
            break
    return outcomes
