"""The gate's pure rules: windows, venues, token facts, slippage, code mapping, and the
validator's collection of every failing check."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from eth_abi import encode as abi_encode

from platform_core.chain.errors import SimulationReverted
from platform_core.config import Settings
from platform_core.errors import ErrorCode
from platform_core.intent.validator import (
    GatePolicy,
    IntentValidator,
    Refusal,
    RoutedLeg,
    ValidationReport,
    route_refusal,
    slippage_refusal,
    token_refusals,
    venue_refusals,
    window_refusal,
)
from platform_core.market import contracts as c
from platform_core.market.wallet_state import TokenFacts, approval_succeeds, read_token_facts
from platform_core.types.intent import Intent, IntentConstraints, IntentSubmission

WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"


def constraints(**fields: Any) -> IntentConstraints:
    return IntentConstraints.model_validate(
        {"max_slippage": "0.005", "time_window_ms": 300_000, **fields}
    )


def test_passive_needs_two_slices_aggressive_a_minimum() -> None:
    policy = GatePolicy(min_aggressive_window_ms=10_000)
    assert window_refusal(constraints(execution_style="passive", time_window_ms=119_999), policy)
    assert (
        window_refusal(constraints(execution_style="passive", time_window_ms=120_000), policy)
        is None
    )
    short = window_refusal(constraints(time_window_ms=9_999), policy)
    assert short is not None and short.code == "WINDOW_TOO_SHORT"
    assert window_refusal(constraints(time_window_ms=10_000), policy) is None


def test_each_unknown_allowed_venue_is_named_and_an_empty_choice_refused() -> None:
    supported = ("uniswap_v3",)
    assert venue_refusals(constraints(), supported) == []
    assert venue_refusals(constraints(allowed_venues=["uniswap_v3"]), supported) == []
    refusals = venue_refusals(constraints(allowed_venues=["curve", "uniswap_v3"]), supported)
    assert [r.code for r in refusals] == ["UNSUPPORTED_VENUE"]
    assert "curve" in refusals[0].message
    # Only unknown venues allowed: each named, and nothing is left.
    assert len(venue_refusals(constraints(allowed_venues=["curve", "balancer"]), supported)) == 3
    excluded = venue_refusals(constraints(excluded_venues=["uniswap_v3"]), supported)
    assert [r.code for r in excluded] == ["UNSUPPORTED_VENUE"]


def test_token_facts_against_the_intents_claims() -> None:
    assert [r.code for r in token_refusals(WETH, "WETH", 18, TokenFacts(False))] == [
        "TOKEN_NOT_FOUND"
    ]
    assert token_refusals(WETH, "WETH", 18, TokenFacts(True, 18, "WETH")) == []
    both = token_refusals(WETH, "WETH", 6, TokenFacts(True, 18, "WETH9"))
    assert [r.code for r in both] == ["DECIMALS_MISMATCH", "SYMBOL_MISMATCH"]
    unreadable = token_refusals(WETH, "WETH", 18, TokenFacts(True, None, None))
    assert [r.code for r in unreadable] == ["DECIMALS_MISMATCH", "SYMBOL_MISMATCH"]


def leg(cost: float, fee: float = 0.0005) -> RoutedLeg:
    return RoutedLeg(USDC, WETH, 4_500 * 10**6, 15 * 10**17, fee, cost)


def test_slippage_below_fees_and_impact_could_never_fill() -> None:
    assert slippage_refusal(Decimal("0.005"), [leg(0.0006)]) is None
    assert slippage_refusal(Decimal("0.005"), []) is None
    refusal = slippage_refusal(Decimal("0.0001"), [leg(0.0002), leg(0.0006)])
    assert refusal is not None and refusal.code == "SLIPPAGE_TOO_TIGHT"
    assert "0.0600%" in refusal.message  # the worst leg is reported
    assert leg(0.0006).price_impact == 0.0006 - 0.0005


def test_planner_and_decomposer_codes_map_to_gate_codes() -> None:
    def refusal(code: ErrorCode, message: str = "x") -> Refusal:
        return route_refusal(code, message)

    assert refusal(ErrorCode.INSUFFICIENT_LIQUIDITY).code is ErrorCode.NO_ROUTE
    assert refusal(ErrorCode.INSUFFICIENT_LIQUIDITY).message == "INSUFFICIENT_LIQUIDITY: x"
    assert refusal(ErrorCode.NO_ROUTE).code is ErrorCode.NO_ROUTE
    assert refusal(ErrorCode.VENUE_NOT_ALLOWED).code is ErrorCode.UNSUPPORTED_VENUE
    kept = refusal(ErrorCode.AMOUNT_TOO_SMALL, "rounds to zero")
    assert kept == Refusal(ErrorCode.AMOUNT_TOO_SMALL, "rounds to zero")


def test_reason_codes_once_each_in_order() -> None:
    report = ValidationReport(
        (Refusal("B", "1"), Refusal("A", "2"), Refusal("B", "3")),
    )
    assert report.reason_codes == ["B", "A"] and not report.ok
    assert ValidationReport(()).ok


async def test_every_failing_check_is_reported(seed_intent: dict[str, Any]) -> None:
    body = {**seed_intent, "constraints": {**seed_intent["constraints"], "time_window_ms": 2_000}}
    intent = Intent.from_submission(IntentSubmission.model_validate(body))
    # No wallet for the strategy, a window too short, and no chain access at all.
    validator = IntentValidator(Settings(), {}, wallets={uuid4(): WETH})
    report = await validator.validate(intent)
    assert report.reason_codes == [
        "UNKNOWN_STRATEGY_WALLET",
        "WINDOW_TOO_SHORT",
        "UNSUPPORTED_CHAIN",
    ]


def test_wallets_come_from_the_environment_in_checksum_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    strategy = uuid4()
    monkeypatch.setenv("SEP_STRATEGY_WALLETS", json.dumps({str(strategy): WETH.lower()}))
    assert Settings().strategy_wallets == {strategy: WETH}
    monkeypatch.setenv("SEP_STRATEGY_WALLETS", json.dumps({str(strategy): "0x1234"}))
    with pytest.raises(ValueError):
        Settings()


class FakeClient:
    """Answers eth_getCode and eth_call from a table: bytes, or an exception to raise."""

    def __init__(self, code: str, answers: dict[bytes, bytes | Exception]) -> None:
        self.code = code
        self.answers = answers

    async def rpc(self, method: str, params: list[Any]) -> str:
        assert method == "eth_getCode"
        return self.code

    async def call(self, tx: dict[str, Any], block: int | str = "latest") -> bytes:
        answer = self.answers[tx["data"][:4]]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_token_facts_read_from_the_contract() -> None:
    erc20 = {
        c.DECIMALS.selector: abi_encode(["uint8"], [6]),
        c.SYMBOL.selector: abi_encode(["string"], ["USDC"]),
    }
    facts = await read_token_facts(FakeClient("0x6080", erc20), USDC)  # type: ignore[arg-type]
    assert facts == TokenFacts(True, 6, "USDC")
    empty = await read_token_facts(FakeClient("0x", erc20), USDC)  # type: ignore[arg-type]
    assert empty == TokenFacts(False)
    odd = {c.DECIMALS.selector: SimulationReverted("no"), c.SYMBOL.selector: b"\x01"}
    unreadable = await read_token_facts(FakeClient("0x6080", odd), USDC)  # type: ignore[arg-type]
    assert unreadable == TokenFacts(True)


async def test_approval_simulation_outcomes() -> None:
    async def approves(answer: bytes | Exception) -> bool:
        client = FakeClient("0x6080", {c.APPROVE.selector: answer})
        return await approval_succeeds(client, USDC, USDC, WETH)  # type: ignore[arg-type]

    assert await approves(abi_encode(["bool"], [True]))
    assert await approves(b"")  # returns nothing: fine
    assert not await approves(abi_encode(["bool"], [False]))
    assert not await approves(SimulationReverted("paused"))


def test_a_chain_with_two_venues_refuses_only_constraints_that_leave_neither() -> None:
    supported = ("uniswap_v3", "sushiswap_v2")  # the chain's default venues
    assert Settings().chains[42161].venues == supported
    assert venue_refusals(constraints(allowed_venues=["sushiswap_v2"]), supported) == []
    assert venue_refusals(constraints(excluded_venues=["uniswap_v3"]), supported) == []
    assert venue_refusals(constraints(excluded_venues=["sushiswap_v2"]), supported) == []
    neither = venue_refusals(constraints(excluded_venues=list(supported)), supported)
    assert [r.code for r in neither] == ["UNSUPPORTED_VENUE"]
    assert "leave no supported venue" in neither[0].message
    sushiswap = venue_refusals(constraints(allowed_venues=["sushiswap"]), supported)
    assert [r.code for r in sushiswap] == ["UNSUPPORTED_VENUE"] * 2  # unknown, and none left
