"""The manager's market context, and its decisions with a stub validator and an in-memory
publisher (the devnet test drives the real ones)."""

from __future__ import annotations

import math
from typing import Any
from uuid import uuid4

import pytest

from platform_core.intent.manager import IntentManager, Signals, UsdToken, market_context
from platform_core.intent.validator import Refusal, RoutedLeg, ValidationReport
from platform_core.types.events import EventEnvelope, IntentDenied, IntentSubmitted
from platform_core.types.intent import Intent, IntentStatus, IntentSubmission, MLFeatures

WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
ARB = "0x912CE59144191C1204E64559FE8253a0e49E6548"

BUY = RoutedLeg(USDC, WETH, 4_500 * 10**6, 15 * 10**17, fee=0.0005, cost=0.0007)


def test_notional_from_the_usd_side_and_depth_from_impact() -> None:
    usd = UsdToken(USDC, 6)
    context = market_context((BUY,), usd, Signals(volatility=0.1, drawdown=0.2))
    assert context.notional_usd == 4_500.0
    assert math.isclose(context.available_liquidity_usd, 4_500.0 / 0.0002)
    assert (context.volatility, context.drawdown) == (0.1, 0.2)
    sell = RoutedLeg(WETH, USDC, 15 * 10**17, 4_400 * 10**6, fee=0.0005, cost=0.0005)
    assert market_context((sell,), usd, Signals()).notional_usd == 4_400.0


def test_notional_through_a_quote_or_a_stand_in() -> None:
    leg = RoutedLeg(ARB, WETH, 1_000 * 10**18, 25 * 10**16, fee=0.01, cost=0.011)
    priced = UsdToken(USDC, 6, quote=lambda token, amount: 750 * 10**6)
    assert market_context((leg,), priced, Signals()).notional_usd == 750.0
    unpriced = market_context((leg,), UsdToken(USDC, 6), Signals())
    assert unpriced.notional_usd == 1.0  # no way to value it: scored, not refused


class StubValidator:
    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        self.reservations = self  # holds what the manager accepted
        self.held: list[Intent] = []

    def hold(self, intent: Intent) -> None:
        self.held.append(intent)

    async def validate(self, intent: Intent) -> ValidationReport:
        return self.report


class Recorder:
    def __init__(self) -> None:
        self.envelopes: list[EventEnvelope] = []

    async def publish(self, envelope: EventEnvelope) -> None:
        self.envelopes.append(envelope)


class FixedScorer:
    def __init__(self) -> None:
        self.features: list[MLFeatures] = []

    async def score(self, features: MLFeatures) -> int:  # async, like a Serve handle
        self.features.append(features)
        return 7


def manager(report: ValidationReport) -> tuple[IntentManager, Recorder, FixedScorer]:
    recorder, scorer = Recorder(), FixedScorer()
    gate = IntentManager(
        StubValidator(report),  # type: ignore[arg-type]
        scorer,
        recorder,
        usd_tokens={42161: UsdToken(USDC, 6)},
    )
    return gate, recorder, scorer


async def test_accepted_intent_is_scored_and_published(seed_intent: dict[str, Any]) -> None:
    gate, recorder, scorer = manager(ValidationReport((), legs=(BUY,)))
    submission = IntentSubmission.model_validate(seed_intent)
    decision = await gate.submit(submission, submission.strategy_id)
    assert decision.accepted and decision.priority == 7 and decision.reason_codes == []
    assert recorder.envelopes == [decision.envelope]
    event = decision.envelope.event()
    assert isinstance(event, IntentSubmitted) and event.priority == 7
    assert decision.envelope.sequence == 0
    assert event.intent.ml_features == scorer.features[0]
    assert scorer.features[0].log10_notional_usd == pytest.approx(math.log10(4_500))
    assert gate.validator.held == [decision.intent]  # reserved until the read model shows it


async def test_refused_intent_is_denied_with_every_code(seed_intent: dict[str, Any]) -> None:
    refusals = (Refusal("NO_ROUTE", "none"), Refusal("INSUFFICIENT_BALANCE", "short"))
    gate, recorder, scorer = manager(ValidationReport(refusals))
    submission = IntentSubmission.model_validate(seed_intent)
    decision = await gate.submit(submission, submission.strategy_id)
    assert decision.status is IntentStatus.DENIED and decision.priority is None
    assert decision.reason_codes == ["NO_ROUTE", "INSUFFICIENT_BALANCE"]
    event = decision.envelope.event()
    assert isinstance(event, IntentDenied)
    assert event.reason_codes == decision.reason_codes
    assert event.details == ["NO_ROUTE: none", "INSUFFICIENT_BALANCE: short"]
    assert recorder.envelopes == [decision.envelope] and scorer.features == []
    assert gate.validator.held == []


async def test_another_strategys_submission_is_a_wiring_error(seed_intent: dict[str, Any]) -> None:
    gate, recorder, _ = manager(ValidationReport(()))
    with pytest.raises(ValueError):
        await gate.submit(IntentSubmission.model_validate(seed_intent), uuid4())
    assert recorder.envelopes == []
