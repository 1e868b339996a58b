"""Swap orders from plans: route and path encoding, minimum from slippage, deadline from the
time window, venue lookup."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from platform_core.config import Settings
from platform_core.market.adapter import (
    Route,
    deadline_from_window,
    min_amount_out,
    order_from_step,
)
from platform_core.market.uniswap_v2 import UniswapV2Adapter
from platform_core.market.uniswap_v3 import UniswapV3Adapter, encode_path
from platform_core.market.venue_manager import VenueManager
from platform_core.types import ExecutionStep, RouteHop

USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
WBTC = "0x2f2a2543B76A4166549F7aaB2e75Bef0aefC5B0f"


def test_min_amount_out_rounds_down() -> None:
    assert min_amount_out(1_000_000, Decimal("0.005")) == 995_000
    assert min_amount_out(999, Decimal("0.005")) == 994  # 994.005 rounded down
    assert min_amount_out(10**30, Decimal(0)) == 10**30
    with pytest.raises(ValueError):
        min_amount_out(1, Decimal(1))


def test_deadline_is_the_end_of_the_window() -> None:
    assert deadline_from_window(300_000, now=1_700_000_000.5) == 1_700_000_300


def test_path_encoding() -> None:
    path = encode_path(Route((USDC, WETH, WBTC), (500, 3000)))
    assert len(path) == 20 + 3 + 20 + 3 + 20
    assert path[:20] == bytes.fromhex(USDC[2:]) and path[20:23] == (500).to_bytes(3, "big")
    assert path[43:46] == (3000).to_bytes(3, "big") and path[-20:] == bytes.fromhex(WBTC[2:])
    with pytest.raises(ValueError):
        Route((USDC, WETH), (500, 3000))


def test_order_from_an_execution_step() -> None:
    deadline = datetime(2030, 1, 1, tzinfo=UTC)
    step = ExecutionStep(
        index=0,
        venue="uniswap_v3",
        chain_id=42161,
        token_in=USDC,
        token_out=WBTC,
        amount_in=5_000 * 10**6,
        expected_amount_out=8_000_000,
        min_amount_out=7_960_000,
        hops=[
            RouteHop(pool_id="a", token_in=USDC, token_out=WETH, fee_pips=500,
                     amount_in=5_000 * 10**6, amount_out=10**18),
            RouteHop(pool_id="b", token_in=WETH, token_out=WBTC, fee_pips=3000,
                     amount_in=10**18, amount_out=8_000_000),
        ],
        deadline=deadline,
    )  # fmt: skip
    order = order_from_step(step, recipient=WETH)
    assert order.route == Route((USDC, WETH, WBTC), (500, 3000))
    assert (order.amount_in, order.min_amount_out) == (5_000 * 10**6, 7_960_000)
    assert order.deadline == int(deadline.timestamp())
    assert order.meta["execution_step"]["step_id"] == str(step.step_id)  # journalled with it


def test_venue_manager_from_the_devnet_deployment() -> None:
    manager = VenueManager.from_settings(Settings())
    adapter = manager.get("uniswap_v3", 42161)
    assert isinstance(adapter, UniswapV3Adapter)
    assert adapter.addresses.weth == WETH
    assert manager.venues(42161) == ["sushiswap_v2", "uniswap_v3"]
    sushi = manager.get("sushiswap_v2", 42161)
    assert isinstance(sushi, UniswapV2Adapter) and sushi.venue == "sushiswap_v2"
    assert sushi.addresses.router == "0x1b02dA8Cb0d097eB8D57A175b88c7D8b47997506"
    assert sushi.addresses.fee_pips == 3000 and sushi.addresses.weth == WETH
    with pytest.raises(LookupError, match="no venue 'sushiswap' on chain 42161"):
        manager.get("sushiswap", 42161)
