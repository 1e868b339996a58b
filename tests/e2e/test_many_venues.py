"""Two venues end to end, over HTTP against `sep up`: an order too large for one venue's
pools is split by the planner across Uniswap V3 and SushiSwap V2, and a path may hop from
one venue to the other (one step per venue, the later leg spending what the earlier one
received); each step goes out through its own venue's router from the wallet's one
execution actor, and the wallet receives what the plan quoted, within the intent's
slippage."""

from __future__ import annotations

import json
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from platform_core.market import contracts as c
from tests.e2e.conftest import auth, dev_account, erc20_balance, events_of, rpc, wait_for_status

WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
WBTC = "0x2f2a2543B76A4166549F7aaB2e75Bef0aefC5B0f"
STRATEGY = "a1b2c3d4-e5f6-7890-1234-567890abcdef"
SLIPPAGE = Decimal("0.01")
DEPLOYMENT = json.loads((Path(__file__).parents[2] / "devnet" / "deployment.json").read_text())
ROUTERS = {
    "uniswap_v3": DEPLOYMENT["uniswap_v3"]["swap_router"].lower(),
    "sushiswap_v2": DEPLOYMENT["sushiswap_v2"]["router"].lower(),
}


OTHER = dev_account(2).address  # a funded devnet wallet the platform does not trade from


def _dispose(symbol: str, token: str, decimals: int, amount: str) -> dict:
    return {
        "strategy_id": STRATEGY,
        "intent_type": "dispose",
        "assets": [
            {"asset": {"symbol": symbol, "address": token, "decimals": decimals,
                       "chain_id": 42161}, "amount": amount},
            {"asset": {"symbol": "USDC", "address": USDC, "decimals": 6, "chain_id": 42161}},
        ],
        "constraints": {"max_slippage": str(SLIPPAGE), "time_window_ms": 120_000,
                        "execution_style": "aggressive"},
    }  # fmt: skip


def _dispose_weth(amount: str) -> dict:
    return _dispose("WETH", WETH, 18, amount)


def _final_steps(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The paths' last legs: the steps whose output no later step spends."""
    spent = {spend["step"] for step in plan["steps"] for spend in step["spends"]}
    return [step for step in plan["steps"] if step["index"] not in spent]


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

    # The wallet paid exactly 250 WETH and received the plan's quote less at most its slippage
    # (a path hopping across venues: what its last leg received).
    finals = _final_steps(plan)
    quoted = sum(int(step["expected_amount_out"]) for step in finals)
    received = erc20_balance(env, USDC) - usdc_before
    assert weth_before - erc20_balance(env, WETH) == 250 * 10**18
    assert quoted * (1 - SLIPPAGE) <= received
    assert received == sum(int(by_step[step["step_id"]]["amount_out"]) for step in finals)


def _send_as(env: dict[str, str], sender: str, to: str, data: bytes) -> int:
    """A transaction from a devnet wallet (anvil impersonation, devnet only); its block."""
    rpc(env, "anvil_impersonateAccount", [sender])
    try:
        tx = rpc(
            env, "eth_sendTransaction", [{"from": sender, "to": to, "data": "0x" + data.hex()}]
        )
        receipt = rpc(env, "eth_getTransactionReceipt", [tx])
        assert int(receipt["status"], 16) == 1, receipt
        return int(receipt["blockNumber"], 16)
    finally:
        rpc(env, "anvil_stopImpersonatingAccount", [sender])


def _book_block(
    base: str, env: dict[str, str], pair: str, block: int, timeout_s: float = 60
) -> None:
    """Wait until the platform's market data shows `pair` as of `block` or later: the venue
    actors have published the pool change every engine (gate, planner) follows."""
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/markets/42161/{pair}/book", headers=auth(env), timeout=10)
        if answer.status_code == 200:
            seen = answer.json()["block_number"]
            if seen >= block:
                return
        time.sleep(0.25)
    raise AssertionError(f"{pair} book at block {seen}, not {block}")


def test_a_path_hopping_across_venues_runs_as_legs_and_gets_its_quote(
    platform: tuple[str, dict],
) -> None:
    """WBTC -(SushiSwap)-> WETH -(Uniswap V3)-> USDC: another wallet first buys WBTC on
    SushiSwap, so selling WBTC there and the WETH it fetches in V3's deep pool is the best
    path. The plan's hopping path is two steps on two venues; the second, sent once the
    first was confirmed, spends all the WETH the first received."""
    base, env = platform
    router = DEPLOYMENT["sushiswap_v2"]["router"]
    held = erc20_balance(env, WBTC, OTHER)
    _send_as(env, OTHER, WETH, c.APPROVE.encode(router, 2**256 - 1))
    push = c.SWAP_EXACT_TOKENS_FOR_TOKENS.encode(
        30 * 10**18, 1, [WETH, WBTC], OTHER, int(time.time()) + 600
    )
    _book_block(base, env, "WBTC/WETH", _send_as(env, OTHER, router, push))
    time.sleep(1.0)  # the planner's engine follows the same venue actors as the book
    try:
        _sell_a_hop_and_check_its_legs(base, env)
    finally:  # the platform is shared by the module's tests: take the price gap back
        bought = erc20_balance(env, WBTC, OTHER) - held
        _send_as(env, OTHER, WBTC, c.APPROVE.encode(router, 2**256 - 1))
        back = c.SWAP_EXACT_TOKENS_FOR_TOKENS.encode(
            bought, 1, [WBTC, WETH], OTHER, int(time.time()) + 600
        )
        _book_block(base, env, "WBTC/WETH", _send_as(env, OTHER, router, back))
        time.sleep(1.0)


def _sell_a_hop_and_check_its_legs(base: str, env: dict[str, str]) -> None:
    before = {token: erc20_balance(env, token) for token in (WBTC, WETH, USDC)}
    response = httpx.post(
        f"{base}/intents", json=_dispose("WBTC", WBTC, 8, "0.2"), headers=auth(env), timeout=60
    )
    assert response.status_code == 202, response.text
    view = wait_for_status(base, env, response.json()["intent_id"], {"completed"}, timeout_s=180)
    assert view["status"] == "completed", view
    events = events_of(base, env, view["intent_id"])
    plan = next(e for e in events if e["event_type"] == "PlanCreated")["payload"]["plan"]
    steps = plan["steps"]
    legs = [(steps[spend["step"]], s) for s in steps for spend in s["spends"]]
    assert legs, [(s["venue"], s["token_in"], s["token_out"]) for s in steps]
    first, last = legs[0]
    assert (first["venue"], first["token_in"], first["token_out"]) == ("sushiswap_v2", WBTC, WETH)
    assert (last["venue"], last["token_in"], last["token_out"]) == ("uniswap_v3", WETH, USDC)

    confirmed = {e["payload"]["step_id"]: e["payload"] for e in events
                 if e["event_type"] == "ExecutionStepConfirmed"}  # fmt: skip
    assert len(confirmed) == len(steps)
    for step in steps:  # every leg through its own venue's router
        tx = rpc(env, "eth_getTransactionByHash", [confirmed[step["step_id"]]["tx_hash"]])
        assert tx["to"].lower() == ROUTERS[step["venue"]], (step["venue"], tx["to"])
    # The later legs spent exactly what the earlier ones received, token by token: no WETH
    # left over, none taken.
    handed_on, spent = Counter[str](), Counter[str]()
    for step in steps:
        if step["spends"]:
            spent[step["token_in"]] += int(confirmed[step["step_id"]]["amount_in"])
        if step["index"] in {spend["step"] for s in steps for spend in s["spends"]}:
            handed_on[step["token_out"]] += int(confirmed[step["step_id"]]["amount_out"])
    assert spent == handed_on and spent
    assert erc20_balance(env, WETH) == before[WETH]

    # Paid exactly 0.2 WBTC; received the plan's quote (its last legs') within its slippage.
    finals = _final_steps(plan)
    quoted = sum(int(step["expected_amount_out"]) for step in finals)
    received = erc20_balance(env, USDC) - before[USDC]
    assert before[WBTC] - erc20_balance(env, WBTC) == 2 * 10**7
    assert quoted * (1 - SLIPPAGE) <= received
    assert received == sum(int(confirmed[step["step_id"]]["amount_out"]) for step in finals)
    completed = events[-1]["payload"]
    assert events[-1]["event_type"] == "ExecutionCompleted"
    assert (int(completed["amount_in"]), int(completed["amount_out"])) == (2 * 10**7, received)
