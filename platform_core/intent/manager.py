"""`IntentManager`: stage 2 of the lifecycle, the gate.

A submission becomes an `Intent`, is validated against the world (`IntentValidator`),
scored by the prioritiser when it passes, and answered by the first event of its life:
`IntentSubmitted` (sequence 0, with its priority) or `IntentDenied` (sequence 0, with the
reason codes). The event is published before the decision is returned, so a client is never
told "accepted" about an intent the event stream does not hold.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from platform_core.execution.planner import ExecutionPlanner
from platform_core.intent.features import FeatureError, MarketContext, build_features
from platform_core.intent.validator import (
    IntentValidator,
    Refusal,
    RoutedLeg,
    ValidationReport,
)
from platform_core.types.events import EventEnvelope, IntentDenied, IntentSubmitted
from platform_core.types.intent import Intent, IntentStatus, IntentSubmission, MLFeatures

# When no leg touches a USD token and no route prices one, the notional is unknown; this
# stand-in keeps the feature finite (and the intent scored) rather than refusing it.
UNKNOWN_NOTIONAL_USD = 1.0
# Impact below this is treated as this: a route through deep pools is not infinitely deep.
MIN_IMPACT = 1e-6


class EventPublisher(Protocol):
    async def publish(self, envelope: EventEnvelope) -> Any: ...


class Scorer(Protocol):
    """`OnnxPrioritizer` (sync) or a Serve handle's wrapper (async): features -> 1..10."""

    def score(self, features: MLFeatures) -> int | Awaitable[int]: ...


@dataclass(frozen=True)
class Signals:
    volatility: float = 0.0
    drawdown: float = 0.0


class MarketSignals(Protocol):
    async def signals(self, intent: Intent) -> Signals: ...


class NoSignals:
    """Calm market, no drawdown: what the gate assumes until a market watcher says more."""

    async def signals(self, intent: Intent) -> Signals:
        return Signals()


# Values `amount` of a token in base units of the USD token (None when no route does).
UsdQuote = Callable[[str, int], int | None]


@dataclass(frozen=True)
class UsdToken:
    address: str
    decimals: int
    quote: UsdQuote | None = None  # token, amount -> base units of this token

    def value(self, token: str, amount: int) -> float | None:
        if token.lower() == self.address.lower():
            units = amount
        elif self.quote is None or (units := self.quote(token, amount)) is None:
            return None
        return float(Decimal(units).scaleb(-self.decimals))


def routed_usd_quote(planner: ExecutionPlanner, usd_address: str) -> UsdQuote:
    """Values a token by routing it to the USD token on the planner's engine and venue."""

    def quote(token: str, amount: int) -> int | None:
        try:
            route = planner.engine.optimize_route(
                token, usd_address, amount, allowed_venues=[planner.venue]
            )
        except ValueError:  # NoRouteError included: no path, or none deep enough
            return None
        return route.amount_out

    return quote


@dataclass(frozen=True)
class ManagerDecision:
    envelope: EventEnvelope
    intent: Intent
    status: IntentStatus  # PENDING when accepted, DENIED when refused
    priority: int | None
    reason_codes: list[str]
    report: ValidationReport

    @property
    def accepted(self) -> bool:
        return self.status is IntentStatus.PENDING


def market_context(
    legs: tuple[RoutedLeg, ...], usd: UsdToken | None, signals: Signals
) -> MarketContext:
    """The market around a routed intent: its USD notional (the side a USD token prices,
    the paid side first), and the liquidity implied by its price impact: for a pool that
    moves price in proportion to size, impact ~ size / depth, so depth ~ size / impact."""
    notional = 0.0
    for leg in legs:
        value = None
        if usd is not None:
            value = usd.value(leg.token_in, leg.amount_in)
            if value is None:
                value = usd.value(leg.token_out, leg.amount_out)
        notional += value or 0.0
    if not notional > 0:
        notional = UNKNOWN_NOTIONAL_USD
    impact = max((leg.price_impact for leg in legs), default=0.0)
    return MarketContext(
        notional_usd=notional,
        available_liquidity_usd=notional / max(impact, MIN_IMPACT),
        volatility=signals.volatility,
        drawdown=signals.drawdown,
    )


class IntentManager:
    def __init__(
        self,
        validator: IntentValidator,
        scorer: Scorer,
        publisher: EventPublisher,
        *,
        usd_tokens: dict[int, UsdToken] | None = None,
        signals: MarketSignals | None = None,
    ) -> None:
        self.validator = validator
        self.scorer = scorer
        self.publisher = publisher
        self.usd_tokens = usd_tokens or {}
        self.signals = signals or NoSignals()
        # One submission per strategy at a time: each must see the reservations of the one
        # before it (across processes, only the read model's view is shared).
        self._locks: dict[UUID, asyncio.Lock] = {}

    async def submit(self, submission: IntentSubmission, strategy_id: UUID) -> ManagerDecision:
        if submission.strategy_id != strategy_id:
            # The API answers this with 403 before calling; reaching here is a wiring bug.
            raise ValueError("the submission names another strategy than the caller's")
        async with self._locks.setdefault(strategy_id, asyncio.Lock()):
            return await self._gate(Intent.from_submission(submission))

    async def _gate(self, intent: Intent) -> ManagerDecision:
        report = await self.validator.validate(intent)
        if not report.ok:
            return await self._deny(intent, report)

        signals = await self.signals.signals(intent)
        try:
            context = market_context(report.legs, self.usd_tokens.get(intent.chain_id), signals)
        except FeatureError as exc:
            report = ValidationReport(
                (*report.refusals, Refusal("MARKET_DATA_INVALID", str(exc))), report.wallet
            )
            return await self._deny(intent, report)
        features = build_features(intent, context)
        intent = intent.model_copy(update={"ml_features": features})
        priority = self.scorer.score(features)
        if inspect.isawaitable(priority):
            priority = await priority
        envelope = EventEnvelope.wrap(
            IntentSubmitted(intent=intent, priority=int(priority)),
            intent_id=intent.id,
            strategy_id=intent.strategy_id,
            sequence=0,
        )
        await self.publisher.publish(envelope)
        self.validator.reservations.hold(intent)
        return ManagerDecision(envelope, intent, IntentStatus.PENDING, int(priority), [], report)

    async def _deny(self, intent: Intent, report: ValidationReport) -> ManagerDecision:
        codes = report.reason_codes
        envelope = EventEnvelope.wrap(
            IntentDenied(
                reason_codes=codes, details=[f"{r.code}: {r.message}" for r in report.refusals]
            ),
            intent_id=intent.id,
            strategy_id=intent.strategy_id,
            sequence=0,
        )
        await self.publisher.publish(envelope)
        return ManagerDecision(envelope, intent, IntentStatus.DENIED, None, codes, report)
