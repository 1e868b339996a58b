"""Hand-built liquidity graphs and intents for the decomposer and planner tests.

Tokens are named by their Arbitrum addresses (steps carry checksum addresses); pools are
full-range, priced by the reserves given, so outcomes are easy to reason about.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from math import isqrt
from typing import Any

from eth_utils import to_checksum_address

from platform_core.market.pool_registry import PoolRegistry
from platform_core.types.intent import Intent
from platform_rust import ExecutionEngine
from tests import uniswap_v3_reference as v3_math
from tests.data_files import MAINNET_POOLS_SNAPSHOT as SNAPSHOT

WETH = to_checksum_address("0x82af49447d8a07e3bd95bd0d56f35241523fbab1")
USDC = to_checksum_address("0xaf88d065e77c8cc2239327c5edb3a432268e5831")
DAI = to_checksum_address("0xda10009cbd5d07dd0cecc66161fc93d7c9000da1")
WBTC = to_checksum_address("0x2f2a2543b76a4166549f7aab2e75bef0aefc5b0f")
LONELY = to_checksum_address("0x000000000000000000000000000000000000dead")
DECIMALS = {WETH: 18, USDC: 6, DAI: 18, WBTC: 8, LONELY: 18}
SYMBOLS = {WETH: "WETH", USDC: "USDC", DAI: "DAI", WBTC: "WBTC", LONELY: "DEAD"}
TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}
CREATED_AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def whole(token: str, amount: float | int) -> int:
    return int(amount * 10 ** DECIMALS[token])


def add_v3_pool(
    registry: PoolRegistry, pool_id: str, token_a: str, reserve_a: int, token_b: str,
    reserve_b: int, fee: int, venue: str = "uniswap_v3",
) -> None:  # fmt: skip
    """A full-range V3 pool with these (virtual) reserves; tokens sorted as on chain."""
    (t0, r0), (t1, r1) = sorted(
        [(token_a, reserve_a), (token_b, reserve_b)], key=lambda t: t[0].lower()
    )
    sqrt_price = isqrt(r1 * 2**192 // r0)
    spacing = TICK_SPACING[fee]
    edge = v3_math.MAX_TICK // spacing * spacing
    liquidity = isqrt(r0 * r1)
    registry.upsert_v3_pool(
        pool_id, t0, t1, fee, spacing, sqrt_price, liquidity,
        v3_math.tick_at_sqrt_ratio(sqrt_price), [(-edge, liquidity), (edge, -liquidity)],
        venue=venue,
    )  # fmt: skip


def small_graph(**engine_options: str) -> PoolRegistry:
    """WETH/USDC at 3000 in a deep 0.05 % pool and a shallower 0.3 % one; a WETH/DAI and
    a DAI/USDC pool (a two-hop path); a V2 WETH/USDC pool priced better than all of them,
    on another venue; and a V2-only token (LONELY)."""
    registry = PoolRegistry(ExecutionEngine(**engine_options))
    add_v3_pool(registry, "weth-usdc-500", WETH, whole(WETH, 2_000), USDC, whole(USDC, 6e6), 500)
    add_v3_pool(registry, "weth-usdc-3000", WETH, whole(WETH, 800), USDC, whole(USDC, 2.4e6), 3000)
    add_v3_pool(registry, "weth-dai-3000", WETH, whole(WETH, 500), DAI, whole(DAI, 1.5e6), 3000)
    add_v3_pool(registry, "dai-usdc-100", DAI, whole(DAI, 5e6), USDC, whole(USDC, 5e6), 100)
    registry.upsert_v2_pool("weth-usdc-v2", WETH, USDC, whole(WETH, 100_000), whole(USDC, 3.3e8))
    registry.upsert_v2_pool("lonely-weth-v2", LONELY, WETH, whole(LONELY, 1e6), whole(WETH, 1e3))
    return registry


def snapshot_graph() -> PoolRegistry:
    """The mainnet snapshot, tokens named by their checksum addresses, pools by name."""
    fee_pips = {"Lowest": 100, "Low": 500, "Medium": 3000, "High": 10000}
    registry = PoolRegistry(ExecutionEngine())
    for item in json.loads(SNAPSHOT.read_text()):
        t0, t1 = (to_checksum_address(t["address"]) for t in item["tokens"])
        name = "/".join(t["symbol"] for t in item["tokens"])
        state = item["state"]["state"]
        if item["state"]["protocol"] == "UniswapV2State":
            registry.upsert_v2_pool(
                f"{name}-v2", t0, t1, int(state["reserve0"], 16), int(state["reserve1"], 16)
            )
            continue
        fee = fee_pips[state["fee"]]
        ticks = [(t["index"], t["net_liquidity"]) for t in state["ticks"]["ticks"]]
        registry.upsert_v3_pool(
            f"{name}-{fee}", t0, t1, fee, state["ticks"]["tick_spacing"],
            int(state["sqrt_price"], 16), state["liquidity"], state["tick"], ticks,
        )  # fmt: skip
    return registry


def asset(token: str, **sizing: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "asset": {
            "symbol": SYMBOLS.get(token, "TKN"),
            "address": token,
            "decimals": DECIMALS.get(token, 18),
            "chain_id": 42161,
        }
    }
    spec.update(sizing)
    return spec


def make_intent(
    intent_type: str,
    assets: list[dict[str, Any]],
    *,
    style: str = "aggressive",
    window_ms: int = 300_000,
    slippage: str = "0.005",
    **constraints: Any,
) -> Intent:
    return Intent.model_validate(
        {
            "strategy_id": "a1b2c3d4-e5f6-7890-1234-567890abcdef",
            "intent_type": intent_type,
            "assets": assets,
            "constraints": {
                "max_slippage": slippage,
                "time_window_ms": window_ms,
                "execution_style": style,
                **constraints,
            },
            "created_at": CREATED_AT,
        }
    )
