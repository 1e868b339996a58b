"""`IntentManager`: the gate, the first stage of the lifecycle, run by the API before it
answers `POST /intents`.

A submission becomes an `Intent` and is validated against the world (`IntentValidator`: the
strategy's wallet, the window, the chain and its venues, each token's contract, the
balance, the approval, a route, the slippage). What the plan pays is then reserved in the
`ReservationLedger`, atomically against the wallet's balance less what open intents (of any
strategy trading from it) already reserve there (`INSUFFICIENT_BALANCE` when it does not
fit). A refused intent gets `IntentDenied` with every reason code. An accepted one gets its
`MLFeatures` (the routed legs' USD notional, the liquidity the consolidated book holds for
them within the intent's slippage on its allowed venues, or for a leg with no book the one
its price impact implies, the market signals; values no real market has deny it with
`MARKET_DATA_INVALID`, and release the reservation), a priority from 1 to 10 from the
scorer, and `IntentSubmitted` with that priority and what it reserved. Either event is the
first of the intent's life, appended through its new `IntentAggregate` (sequence 0, no
cause, a fresh time-ordered id).

No lock: the ledger's check-and-reserve is one atomic step, so concurrent submissions, in
this process or in other API replicas, cannot over-commit a wallet. The event goes to
`publisher` before the decision is returned. The API gives a publisher that does nothing
and publishes the decision's event itself once its idempotency claim is recorded
(`platform_core/api/routes.py`), so a client is never told "accepted" about an intent the
event stream does not hold; a request that loses that claim releases its reservation.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from platform_core.errors import ErrorCode
from platform_core.execution.planner import ExecutionPlanner
from platform_core.intent.aggregate import IntentAggregate
from platform_core.intent.features import FeatureError, MarketContext, build_features
from platform_core.intent.ledger import ReservationLedger, Shortfall
from platform_core.intent.validator import (
    IntentValidator,
    Refusal,
    RoutedLeg,
    ValidationReport,
)
from platform_core.market.book import Token
from platform_core.types.events import EventEnvelope, IntentDenied, IntentSubmitted
from platform_core.types.ids import uuid7
from platform_core.types.intent import Intent, IntentStatus, IntentSubmission, MLFeatures

# When no leg touches a USD token and no route prices one, the notional is unknown; this
# stand-in keeps the feature finite (and the intent scored) rather than refusing it.
UNKNOWN_NOTIONAL_USD = 1.0
# Impact below this is treated as this: a route through deep pools is not infinitely deep.
MIN_IMPACT = 1e-6


class EventPublisher(Protocol):
    async def publish(self, envelope: EventEnvelope) -> Any: ...


class Scorer(Protocol):
    """`OnnxPrioritizer` (sync), or any scorer that answers asynchronously: features ->
    a priority from 1 to 10."""

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


class DepthSource(Protocol):
    """The consolidated book's depth (`platform_core/market/book.py`, `BookDepth`): how much
    of `sell` (whole tokens) its book against `buy` takes within `max_slippage` of mid, on
    `venues` only when given; None when no pool trades the pair directly."""

    def depth(
        self, sell: Token, buy: Token, max_slippage: float, venues: Iterable[str] | None
    ) -> float | None: ...


def leg_depths(
    intent: Intent, legs: Sequence[RoutedLeg], source: DepthSource, venues: Iterable[str]
) -> list[float | None]:
    """Each leg's depth in whole `token_in`, within the intent's slippage, on the venues
    (of `venues`, the chain's) the intent allows; None where the book cannot say."""
    tokens = {s.asset.address.lower(): s.asset for s in intent.assets}
    allowed = [v for v in venues if intent.constraints.venue_allowed(v)]
    restricted = bool(intent.constraints.allowed_venues or intent.constraints.excluded_venues)
    slippage = float(intent.constraints.max_slippage)
    depths: list[float | None] = []
    for leg in legs:
        sell, buy = tokens.get(leg.token_in.lower()), tokens.get(leg.token_out.lower())
        if sell is None or buy is None:
            depths.append(None)
            continue
        depths.append(source.depth(
            Token(leg.token_in, sell.symbol, sell.decimals),
            Token(leg.token_out, buy.symbol, buy.decimals),
            slippage, allowed if restricted else None,
        ))  # fmt: skip
    return depths


# Values `amount` of a token in base units of the USD token (None when no route does).
UsdQuote = Callable[[str, int], int | None]


@dataclass(frozen=True)
class UsdToken:
    address: str
    decimals: int
    quote: UsdQuote | None = None  # token, amount -> base units of this token

    def value(self, token: str, amount: int) -> float | None:
        units: int | None = amount
        if token.lower() != self.address.lower():
            units = None if self.quote is None else self.quote(token, amount)
        if units is None:
            return None
        return float(Decimal(units).scaleb(-self.decimals))


def routed_usd_quote(planner: ExecutionPlanner, usd_address: str) -> UsdQuote:
    """Values a token by routing it to the USD token on the planner's engine and venues."""

    def quote(token: str, amount: int) -> int | None:
        try:
            route = planner.engine.optimize_route(
                token, usd_address, amount, allowed_venues=planner.known_venues()
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
    reason_codes: list[ErrorCode]
    report: ValidationReport

    @property
    def accepted(self) -> bool:
        return self.status is IntentStatus.PENDING


def shortfall_refusal(intent: Intent, shortfall: Shortfall) -> Refusal:
    symbol = next(
        (s.asset.symbol for s in intent.assets if s.asset.address.lower() == shortfall.token),
        shortfall.token,
    )
    return Refusal(
        ErrorCode.INSUFFICIENT_BALANCE,
        f"{symbol}: needs {shortfall.need} base units, wallet holds {shortfall.balance} of "
        f"which open intents reserve {shortfall.reserved}",
    )


def market_context(
    legs: tuple[RoutedLeg, ...],
    usd: UsdToken | None,
    signals: Signals,
    depths: Sequence[float | None] = (),
    decimals: Sequence[int] = (),
) -> MarketContext:
    """The market around a routed intent: its USD notional (the side a USD token prices,
    the paid side first), and the liquidity available to it. A leg with a depth from the
    consolidated book (`depths[i]`, whole `token_in` within the intent's slippage, on its
    allowed venues; `decimals[i]` of `token_in`) has size-to-liquidity `amount_in / depth`;
    one without (a multi-hop pair, no book) the one its price impact implies: for a pool
    that moves price in proportion to size, impact ~ size / depth. The liquidity is the
    notional over the largest leg's ratio."""
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
    ratio = max((_size_to_depth(leg, i, depths, decimals) for i, leg in enumerate(legs)),
                default=0.0)  # fmt: skip
    return MarketContext(
        notional_usd=notional,
        available_liquidity_usd=notional / max(ratio, MIN_IMPACT),
        volatility=signals.volatility,
        drawdown=signals.drawdown,
    )


def _size_to_depth(
    leg: RoutedLeg, index: int, depths: Sequence[float | None], decimals: Sequence[int]
) -> float:
    depth = depths[index] if index < len(depths) else None
    if depth is None or not depth > 0 or index >= len(decimals):
        return leg.price_impact
    return float(Decimal(leg.amount_in).scaleb(-decimals[index])) / depth


class IntentManager:
    def __init__(
        self,
        validator: IntentValidator,
        scorer: Scorer,
        publisher: EventPublisher,
        ledger: ReservationLedger,
        *,
        usd_tokens: dict[int, UsdToken] | None = None,
        signals: MarketSignals | None = None,
        depth: DepthSource | None = None,
        venues: Sequence[str] = (),
    ) -> None:
        self.validator = validator
        self.scorer = scorer
        self.publisher = publisher
        self.ledger = ledger
        self.usd_tokens = usd_tokens or {}
        self.signals = signals or NoSignals()
        self.depth = depth  # None: liquidity from the route's impact alone
        self.venues = tuple(venues)  # the chain's venues, for the intent's allowed ones

    async def submit(self, submission: IntentSubmission, strategy_id: UUID) -> ManagerDecision:
        if submission.strategy_id != strategy_id:
            # The API answers this with 403 before calling; reaching here is a wiring bug.
            raise ValueError("the submission names another strategy than the caller's")
        intent = Intent.from_submission(submission)
        report = await self.validator.validate(intent)
        if not report.ok:
            return await self._deny(intent, report)
        assert report.wallet is not None, "an accepted report names the wallet"
        shortfalls = await self.ledger.reserve(
            intent.id, report.wallet, report.needs, deadline=intent.deadline
        )
        if shortfalls:
            refusals = (shortfall_refusal(intent, s) for s in shortfalls)
            return await self._deny(intent, report.refused(*refusals))
        try:
            scored = await self._score(intent, report)
        except FeatureError as exc:
            await self.ledger.release(intent.id)
            return await self._deny(intent, report.refused(Refusal(exc.code, exc.message)))
        except BaseException:
            await self.ledger.release(intent.id)
            raise
        intent, priority = scored
        submitted = IntentSubmitted(
            intent=intent,
            priority=priority,
            reserved={need.token: need.amount for need in report.needs if need.amount > 0},
            wallet=report.wallet,
        )
        envelope = IntentAggregate.start(intent).append(submitted, event_id=uuid7())
        # A publish that raises may still have reached the stream: the reservation stays,
        # released when the intent ends, or expiring after its deadline if it never runs.
        await self.publisher.publish(envelope)
        return ManagerDecision(envelope, intent, IntentStatus.PENDING, priority, [], report)

    async def _score(self, intent: Intent, report: ValidationReport) -> tuple[Intent, int]:
        """The intent with its features, and its priority; `FeatureError` for values no
        real market has."""
        signals = await self.signals.signals(intent)
        depths: list[float | None] = []
        if self.depth is not None:
            depths = leg_depths(intent, report.legs, self.depth, self.venues)
        decimals = [next((s.asset.decimals for s in intent.assets
                          if s.asset.address.lower() == leg.token_in.lower()), 0)
                    for leg in report.legs]  # fmt: skip
        context = market_context(
            report.legs, self.usd_tokens.get(intent.chain_id), signals, depths, decimals
        )
        features = build_features(intent, context)
        priority = self.scorer.score(features)
        if inspect.isawaitable(priority):
            priority = await priority
        return intent.model_copy(update={"ml_features": features}), int(priority)

    async def _deny(self, intent: Intent, report: ValidationReport) -> ManagerDecision:
        codes = report.reason_codes
        denied = IntentDenied(
            reason_codes=[str(code) for code in codes],
            details=[f"{r.code}: {r.message}" for r in report.refusals],
        )
        envelope = IntentAggregate.start(intent).append(denied, event_id=uuid7())
        await self.publisher.publish(envelope)
        return ManagerDecision(envelope, intent, IntentStatus.DENIED, None, codes, report)
