"""Swaps on the devnet: balances move by exactly the amounts in the receipt logs; a swap
that cannot meet its minimum is stopped by pre-flight and never broadcast."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from platform_core.chain.client import ChainClient
from platform_core.chain.errors import SimulationReverted
from platform_core.chain.journal import Journal, StepState
from platform_core.chain.sender import StepOutcome, TransactionSender
from platform_core.market import contracts as c
from platform_core.market.adapter import Route, SwapOrder, deadline_from_window, min_amount_out
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from tests.integration.chain.quoter import quoted_out, send_order


def transfers(receipt: dict[str, Any], token: str) -> list[tuple[str, str, int]]:
    return [
        c.TRANSFER.decode(log["topics"], log["data"])
        for log in receipt["logs"]
        if log["address"].lower() == token.lower() and bytes(log["topics"][0]) == c.TRANSFER.topic
    ]


def swaps(receipt: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        c.SWAP.decode(log["topics"], log["data"])
        for log in receipt["logs"]
        if bytes(log["topics"][0]) == c.SWAP.topic
    ]


def gas_cost(receipt: dict[str, Any]) -> int:
    return receipt["gasUsed"] * receipt["effectiveGasPrice"]


async def quoted_order(
    uniswap: UniswapV3Adapter, route: Route, amount_in: int, recipient: str, **flags: bool
) -> tuple[SwapOrder, int]:
    quoted = await quoted_out(uniswap, route, amount_in)
    order = SwapOrder(
        route=route,
        amount_in=amount_in,
        min_amount_out=min_amount_out(quoted, Decimal("0.005")),
        recipient=recipient,
        deadline=deadline_from_window(300_000),
        **flags,
    )
    return order, quoted


def swap_of(outcomes: list[StepOutcome]) -> StepOutcome:
    assert [o.state for o in outcomes] == [StepState.CONFIRMED] * len(outcomes)
    assert outcomes[-1].step_key.endswith(":swap") and outcomes[-1].receipt is not None
    return outcomes[-1]


async def test_single_hop_swap_moves_exactly_the_logged_amounts(
    uniswap: UniswapV3Adapter, sender: TransactionSender, tokens: dict[str, str]
) -> None:
    weth, usdc, me = tokens["WETH"], tokens["USDC"], sender.address
    route = Route((weth, usdc), (500,))
    before = (await uniswap.balance_of(weth, me), await uniswap.balance_of(usdc, me))
    order, quoted = await quoted_order(uniswap, route, 3 * 10**18, me)

    outcomes = await send_order(uniswap, order, sender, "swap-1")
    assert [o.step_key for o in outcomes] == ["swap-1:approve", "swap-1:swap"]  # no allowance yet
    receipt = swap_of(outcomes).receipt
    assert receipt is not None

    (paid,) = transfers(receipt, weth)
    (received,) = transfers(receipt, usdc)
    assert paid[0] == me and paid[2] == order.amount_in
    assert received[1] == me and received[2] == quoted >= order.min_amount_out
    ((_, recipient, amount0, amount1, *_),) = swaps(receipt)  # WETH is token0, USDC token1
    assert recipient == me and amount0 == paid[2] and -amount1 == received[2]
    after = (await uniswap.balance_of(weth, me), await uniswap.balance_of(usdc, me))
    assert after == (before[0] - paid[2], before[1] + received[2])

    # The allowance now covers the next swap: no second approval.
    again, _ = await quoted_order(uniswap, route, 10**18, me)
    assert [r.step_key for r in await uniswap.build_swap_tx(again, me, "swap-2")] == ["swap-2:swap"]


async def test_multi_hop_swap(
    uniswap: UniswapV3Adapter, sender: TransactionSender, tokens: dict[str, str]
) -> None:
    usdc, weth, wbtc, me = tokens["USDC"], tokens["WETH"], tokens["WBTC"], sender.address
    route = Route((usdc, weth, wbtc), (500, 3000))
    before_usdc, before_wbtc = (
        await uniswap.balance_of(usdc, me),
        await uniswap.balance_of(wbtc, me),
    )
    order, quoted = await quoted_order(uniswap, route, 50_000 * 10**6, me)

    receipt = swap_of(await send_order(uniswap, order, sender, "hop")).receipt
    assert receipt is not None
    assert len(swaps(receipt)) == 2
    (paid,) = [t for t in transfers(receipt, usdc) if t[0] == me]
    (received,) = [t for t in transfers(receipt, wbtc) if t[1] == me]
    assert paid[2] == order.amount_in and received[2] == quoted
    assert await uniswap.balance_of(usdc, me) == before_usdc - paid[2]
    assert await uniswap.balance_of(wbtc, me) == before_wbtc + received[2]


async def test_native_eth_in_and_out(
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    client: ChainClient,
    tokens: dict[str, str],
) -> None:
    weth, usdc, me = tokens["WETH"], tokens["USDC"], sender.address
    eth0, weth0, usdc0 = (
        await client.balance(me),
        await uniswap.balance_of(weth, me),
        await uniswap.balance_of(usdc, me),
    )
    # ETH in: the router wraps msg.value; no approval is needed.
    order, _ = await quoted_order(
        uniswap, Route((weth, usdc), (500,)), 2 * 10**18, me, native_in=True
    )
    (out,) = await send_order(uniswap, order, sender, "eth-in")
    assert out.state == StepState.CONFIRMED and out.receipt is not None
    (received,) = transfers(out.receipt, usdc)
    assert await client.balance(me) == eth0 - order.amount_in - gas_cost(out.receipt)
    assert await uniswap.balance_of(weth, me) == weth0
    usdc1 = await uniswap.balance_of(usdc, me)
    assert usdc1 == usdc0 + received[2]

    # ETH out: the router receives WETH and unwraps it to us in the same transaction.
    eth1 = await client.balance(me)
    order, quoted = await quoted_order(
        uniswap, Route((usdc, weth), (500,)), 3_000 * 10**6, me, native_out=True
    )
    outcomes = await send_order(uniswap, order, sender, "eth-out")  # approve USDC, swap
    receipt = swap_of(outcomes).receipt
    assert receipt is not None
    (_, _, amount0, _, *_) = swaps(receipt)[0]  # WETH is token0: it left the pool
    assert -amount0 == quoted
    gas = sum(gas_cost(o.receipt) for o in outcomes if o.receipt is not None)
    assert await client.balance(me) == eth1 + quoted - gas
    assert await uniswap.balance_of(weth, me) == weth0
    assert await uniswap.balance_of(usdc, me) == usdc1 - order.amount_in


async def test_wrap_and_unwrap(
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    client: ChainClient,
    tokens: dict[str, str],
) -> None:
    weth, me = tokens["WETH"], sender.address
    eth0, weth0 = await client.balance(me), await uniswap.balance_of(weth, me)
    wrapped = await sender.execute(uniswap.build_wrap_tx(5 * 10**18, "w"))
    unwrapped = await sender.execute(uniswap.build_unwrap_tx(2 * 10**18, "w"))
    assert wrapped.receipt is not None and unwrapped.receipt is not None
    gas = gas_cost(wrapped.receipt) + gas_cost(unwrapped.receipt)
    assert await uniswap.balance_of(weth, me) == weth0 + 3 * 10**18
    assert await client.balance(me) == eth0 - 3 * 10**18 - gas


async def test_unmeetable_minimum_is_never_broadcast(
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    client: ChainClient,
    journal: Journal,
    tokens: dict[str, str],
) -> None:
    weth, usdc, me = tokens["WETH"], tokens["USDC"], sender.address
    # Approve first, so the only thing wrong with the swap is its minimum.
    order, quoted = await quoted_order(uniswap, Route((weth, usdc), (500,)), 10**18, me)
    (approve, _swap) = await uniswap.build_swap_tx(order, me, "greedy")
    assert (await sender.execute(approve)).state == StepState.CONFIRMED
    nonce_before = await client.nonce(me, "latest")

    greedy = SwapOrder(**{**order.__dict__, "min_amount_out": quoted + 1})
    (swap,) = await uniswap.build_swap_tx(greedy, me, "greedy")
    with pytest.raises(SimulationReverted, match="Too little received"):
        await sender.execute(swap)
    assert await client.nonce(me, "pending") == await client.nonce(me, "latest") == nonce_before
    record = journal.get("greedy:swap")
    assert record.state == StepState.REFUSED and not record.attempts
