"""The gate of a chain with two venues (Uniswap V3 and SushiSwap V2) on a private devnet:
an intent's `allowed_venues` / `excluded_venues` are honoured, and constraints that leave
no venue of the chain are refused with UNSUPPORTED_VENUE (a denied event, nothing
reserved)."""

from __future__ import annotations

from typing import Any

from platform_core.types.events import IntentDenied
from platform_core.types.intent import IntentStatus
from tests.integration.chain.test_gate_devnet import Gate, gate, with_constraints

__all__ = ["gate"]  # the fixture, shared with test_gate_devnet


async def test_venue_constraints_of_a_two_venue_chain(
    gate: Gate, seed_intent: dict[str, Any], tokens: dict[str, str]
) -> None:
    assert gate.settings.chains[42161].venues == ("uniswap_v3", "sushiswap_v2")
    without_sushi = with_constraints(seed_intent, excluded_venues=["sushiswap_v2"])
    accepted = await gate.submit(without_sushi, gate.funded)
    assert accepted.accepted, accepted.report.refusals
    assert accepted.report.plan is not None
    assert {step.venue for step in accepted.report.plan.steps} == {"uniswap_v3"}

    neither = with_constraints(seed_intent, excluded_venues=["uniswap_v3", "sushiswap_v2"])
    denied = await gate.submit(neither, gate.funded)
    assert denied.status is IntentStatus.DENIED and denied.reason_codes == ["UNSUPPORTED_VENUE"]
    event = denied.envelope.event()
    assert isinstance(event, IntentDenied) and event.reason_codes == ["UNSUPPORTED_VENUE"]
    wallet = gate.settings.strategy_wallets[gate.funded]
    reserved = await gate.ledger.entries(wallet, tokens["USDC"])
    assert set(reserved) == {str(accepted.intent.id)}  # the accepted one's, not the denied
