"""Two venues end to end, over HTTP against `sep up`: an order too large for one venue's
pools is split by the planner across Uniswap V3 and SushiSwap V2, each step goes out
through its own venue's router from the wallet's one execution actor, and the wallet
receives what the plan quoted, within the intent's slippage."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx

from tests.e2e.conftest import auth, erc20_balance, events_of, rpc, wait_for_status

WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
STRATEGY = "a1b2c3d4-e5f6-7890-1234-567890abcdef"
SLIPPAGE = Decimal("0.01")
DEPLOYMENT = json.loads((Path(__file__).parents[2] / "devnet" / "deployment.json").read_text())
ROUTERS = {
    "uniswap_v3": DEPLOYMENT["uniswap_v3"]["swap_router"].lower(),
    "sushiswap_v2": DEPLOYMENT["sushiswap_v2"]["router"].lower(),
}


def _dispose_weth(amount: str) -> dict:
    return {
        "strategy_id": STRATEGY,
        "intent_type": "dispose",
        "assets": [
            {"asset": {"symbol": "WETH", "address": WETH, "decimals": 18, "chain_id": 42161},
             "amount": amount},
            {"asset": {"symbol": "USDC", "address": USDC, "decimals": 6, "chain_id": 42161}},
        ],
        "constraints": {"max_slippage": str(SLIPPAGE), "time_window_ms": 120_000,
                        "execution_style": "aggressive"},
    }  # fmt: skip


def test_a_large_order_splits_across_both_venues_and_gets_its_quote(
    platform: tuple[str, dict],
) -> None:
    base, env = platform
    usdc_before, weth_before = erc20_balance(env, USDC), erc20_balance(env, WETH)
    response = httpx.post(
        f"{base}/intents", json=_dispose_weth("250"), headers=auth(env), timeout=60
    )
    assert response.status_code == 202, response.text
    view = wait_for_status(base, env, response.json()["intent_id"], {"completed"}, timeout_s=180)
    assert view["status"] == "completed", view
    events = events_of(base, env, view["intent_id"])
    plan = next(e for e in events if e["event_type"] == "PlanCreated")["payload"]["plan"]
    venues = {step["venue"] for step in plan["steps"]}
    assert venues == {"uniswap_v3", "sushiswap_v2"}, plan["steps"]

    # Every step was mined through its venue's router, successfully.
    confirmed = [e["payload"] for e in events if e["event_type"] == "ExecutionStepConfirmed"]
    by_step = {c["step_id"]: c for c in confirmed}
    assert len(by_step) == len(plan["steps"])
    for step in plan["steps"]:
        tx = rpc(env, "eth_getTransactionByHash", [by_step[step["step_id"]]["tx_hash"]])
        assert tx["to"].lower() == ROUTERS[step["venue"]], (step["venue"], tx["to"])

    # The wallet paid exactly 250 WETH and received the plan's quote less at most its slippage.
    quoted = sum(int(step["expected_amount_out"]) for step in plan["steps"])
    received = erc20_balance(env, USDC) - usdc_before
    assert weth_before - erc20_balance(env, WETH) == 250 * 10**18
    assert quoted * (1 - SLIPPAGE) <= received
    assert received == sum(int(c["amount_out"]) for c in confirmed)
