"""What the gate checks an intent's payment against before the ledger reserves it: what a
DISPOSE pays without a route, and the balance and approval of each paid token."""

from __future__ import annotations

from typing import Any

from platform_core.intent.ledger import Need
from platform_core.intent.reservations import paid_amounts
from platform_core.intent.validator import funding_refusals
from platform_core.market.wallet_state import Holding
from platform_core.types.intent import Intent, IntentSubmission

WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
STRATEGY = "a1b2c3d4-e5f6-7890-1234-567890abcdef"


def asset(symbol: str) -> dict[str, Any]:
    address, decimals = (WETH, 18) if symbol == "WETH" else (USDC, 6)
    return {"symbol": symbol, "address": address, "decimals": decimals, "chain_id": 42161}


def intent(kind: str, **weth_size: str) -> Intent:
    body = {
        "strategy_id": STRATEGY,
        "intent_type": kind,
        "assets": [{"asset": asset("WETH"), **weth_size}, {"asset": asset("USDC")}],
        "constraints": {"max_slippage": "0.005", "time_window_ms": 300_000},
    }
    return Intent.from_submission(IntentSubmission.model_validate(body))


def test_dispose_pays_its_amount_or_its_share_of_the_balance() -> None:
    assert paid_amounts(intent("dispose", amount="2"), {}) == {WETH.lower(): 2 * 10**18}
    quarter = paid_amounts(intent("dispose", percentage="25"), {WETH.lower(): 10**18})
    assert quarter == {WETH.lower(): 25 * 10**16}


def test_an_acquire_pays_what_only_a_route_can_tell() -> None:
    assert paid_amounts(intent("acquire", amount="1.5"), {USDC.lower(): 10**12}) == {}


def test_each_paid_token_needs_the_balance_and_the_approval() -> None:
    sell = intent("dispose", amount="2")
    weth, usdc = WETH.lower(), USDC.lower()
    holdings = {weth: Holding(10**18, approvable=False, block=7), usdc: Holding(0, True, 7)}
    needs = [Need(weth, 2 * 10**18, 10**18, 7)]
    refusals = funding_refusals(sell, WALLET, needs, holdings)
    assert [r.code for r in refusals] == ["INSUFFICIENT_BALANCE", "CANNOT_APPROVE"]
    assert refusals[0].message == (f"WETH: needs {2 * 10**18} base units, wallet holds {10**18}")
    assert WALLET in refusals[1].message
    enough = {weth: Holding(2 * 10**18, True, 7)}
    assert funding_refusals(sell, WALLET, [Need(weth, 2 * 10**18, 2 * 10**18, 7)], enough) == []
