"""The manager's market context, and its decisions with a stub validator, an in-memory
ledger and publisher (the devnet and ledger integration tests drive the real ones)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from platform_core.intent.ledger import Need, Shortfall
from platform_core.intent.manager import IntentManager, Signals, UsdToken, market_context
from platform_core.intent.validator import Refusal, RoutedLeg, ValidationReport
from platform_core.types.events import EventEnvelope, IntentDenied, IntentSubmitted
from platform_core.types.intent import Intent, IntentStatus, IntentSubmission, MLFeatures

WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
ARB = "0x912CE59144191C1204E64559FE8253a0e49E6548"

WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

BUY = RoutedLeg(USDC, WETH, 4_500 * 10**6, 15 * 10**17, fee=0.0005, cost=0.0007)
PAYS = (Need(USDC.lower(), 4_500 * 10**6, 10_000 * 10**6, 17),)


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


class MemoryLedger:
    """Reserves unless told to fall short; remembers what it reserved and released."""

    def __init__(self, shortfalls: tuple[Shortfall, ...] = ()) -> None:
        self.shortfalls = shortfalls
        self.reserved: dict[UUID, tuple[str, list[Need]]] = {}
        self.released: list[UUID] = []

    async def reserve(
        self,
        intent_id: UUID,
        wallet: str,
        needs: Sequence[Need],
        *,
        deadline: datetime,
    ) -> tuple[Shortfall, ...]:
        if not self.shortfalls:
            self.reserved[intent_id] = (wallet, list(needs))
        return self.shortfalls

    async def release(self, intent_id: UUID, *, block: int | None = None) -> int:
        self.released.append(intent_id)
        return 1


class BadSignals:
    async def signals(self, intent: Intent) -> Signals:
        return Signals(volatility=float("nan"))


def manager(
    report: ValidationReport, ledger: MemoryLedger | None = None, **options: Any
) -> tuple[IntentManager, Recorder, FixedScorer]:
    recorder, scorer = Recorder(), FixedScorer()
    gate = IntentManager(
        StubValidator(report),  # type: ignore[arg-type]
        scorer,
        recorder,
        ledger or MemoryLedger(),
        usd_tokens={42161: UsdToken(USDC, 6)},
        **options,
    )
    return gate, recorder, scorer


def ledger_of(gate: IntentManager) -> MemoryLedger:
    assert isinstance(gate.ledger, MemoryLedger)
    return gate.ledger


async def test_accepted_intent_is_scored_and_published(seed_intent: dict[str, Any]) -> None:
    gate, recorder, scorer = manager(ValidationReport((), WALLET, legs=(BUY,), needs=PAYS))
    submission = IntentSubmission.model_validate(seed_intent)
    decision = await gate.submit(submission, submission.strategy_id)
    assert decision.accepted and decision.priority == 7 and decision.reason_codes == []
    assert recorder.envelopes == [decision.envelope]
    event = decision.envelope.event()
    assert isinstance(event, IntentSubmitted) and event.priority == 7
    assert decision.envelope.sequence == 0
    assert event.intent.ml_features == scorer.features[0]
    assert scorer.features[0].log10_notional_usd == pytest.approx(math.log10(4_500))
    # What the plan pays is reserved, and the event records it for a rebuild.
    assert ledger_of(gate).reserved == {decision.intent.id: (WALLET, list(PAYS))}
    assert (event.reserved, event.wallet) == ({USDC.lower(): 4_500 * 10**6}, WALLET)
    assert ledger_of(gate).released == []


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
    assert ledger_of(gate).reserved == {}


async def test_what_the_ledger_cannot_fit_is_denied(seed_intent: dict[str, Any]) -> None:
    short = (Shortfall(USDC.lower(), 4_500 * 10**6, 10_000 * 10**6, 6_000 * 10**6),)
    report = ValidationReport((), WALLET, legs=(BUY,), needs=PAYS)
    gate, recorder, scorer = manager(report, MemoryLedger(short))
    submission = IntentSubmission.model_validate(seed_intent)
    decision = await gate.submit(submission, submission.strategy_id)
    assert decision.reason_codes == ["INSUFFICIENT_BALANCE"]
    event = decision.envelope.event()
    assert isinstance(event, IntentDenied)
    assert event.details == [
        "INSUFFICIENT_BALANCE: USDC: needs 4500000000 base units, wallet holds 10000000000 of "
        "which open intents reserve 6000000000"
    ]
    assert recorder.envelopes == [decision.envelope] and scorer.features == []


async def test_a_reservation_is_released_when_scoring_fails(seed_intent: dict[str, Any]) -> None:
    report = ValidationReport((), WALLET, legs=(BUY,), needs=PAYS)
    gate, recorder, _ = manager(report, signals=BadSignals())
    submission = IntentSubmission.model_validate(seed_intent)
    decision = await gate.submit(submission, submission.strategy_id)
    assert decision.reason_codes == ["MARKET_DATA_INVALID"]
    assert ledger_of(gate).released == [decision.intent.id]
    assert [env.event_type for env in recorder.envelopes] == ["IntentDenied"]


class BrokenScorer:
    async def score(self, features: MLFeatures) -> int:
        raise RuntimeError("the scorer is down")


async def test_a_reservation_is_released_when_the_scorer_raises(
    seed_intent: dict[str, Any],
) -> None:
    report = ValidationReport((), WALLET, legs=(BUY,), needs=PAYS)
    gate, recorder, _ = manager(report)
    gate.scorer = BrokenScorer()
    submission = IntentSubmission.model_validate(seed_intent)
    with pytest.raises(RuntimeError):
        await gate.submit(submission, submission.strategy_id)
    (reserved,) = ledger_of(gate).reserved
    assert ledger_of(gate).released == [reserved] and recorder.envelopes == []


async def test_another_strategys_submission_is_a_wiring_error(seed_intent: dict[str, Any]) -> None:
    gate, recorder, _ = manager(ValidationReport(()))
    with pytest.raises(ValueError):
        await gate.submit(IntentSubmission.model_validate(seed_intent), uuid4())
    assert recorder.envelopes == []
