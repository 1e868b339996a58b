"""What a strategy's open intents already commit of each token.

A wallet's on-chain balance is not all spendable: intents accepted earlier (PENDING) or
being executed (PROCESSING) will pay from it too. The gate subtracts their reservations.

What an intent pays
    DISPOSE pays its sized assets: the amount asked, exactly (a percentage is a share of
    the balance at execution time, so it is reserved as that share of `balance`).
    ACQUIRE pays the counter asset, an amount only a route can tell. The read model keeps
    the intent, not its quote, so the amount is estimated with the pools as they are when
    this gate first sees the intent (`PaidEstimate`, normally the planner's exact-output
    sizer), and remembered while the intent stays open: a submission routes only the
    intents it has not priced before, not every open one. It is an approximation: prices
    move, and a PROCESSING intent that has already swapped part of its input is still
    counted in full (conservative: it over-reserves).

Where open intents come from
    The read model's views of the strategy (PENDING and PROCESSING, with their intent
    JSON), plus the intents this process accepted that the state coordinator has not
    projected yet (`hold`). Another process's just-accepted intents are only seen once
    projected: two gates accepting for one strategy in the same instant can over-commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

from platform_core.errors import PlanningError
from platform_core.intent.decomposer import InputSizer, decompose
from platform_core.state.projection import IntentView
from platform_core.state.read_model import ReadModel
from platform_core.types.intent import Intent, IntentStatus, IntentType

OPEN_STATUSES = frozenset({IntentStatus.PENDING, IntentStatus.PROCESSING})
# An ACQUIRE's counter-asset cost in base units, or None when no route prices it now.
PaidEstimate = Callable[[Intent], int | None]


class Reservations(Protocol):
    async def reserved(self, strategy_id: UUID, token: str, *, balance: int = 0) -> int: ...

    def hold(self, intent: Intent) -> None:
        """Count `intent`, just accepted, before the read model has caught up with it."""


def paid_amounts(
    intent: Intent, *, balances: dict[str, int], estimate: PaidEstimate | None
) -> dict[str, int]:
    """Token address (lower case) -> base units the intent pays. `balances` (lower case
    addresses) sizes percentage disposals; without `estimate` an ACQUIRE reserves nothing."""
    paid: dict[str, int] = {}
    if intent.type is IntentType.DISPOSE:
        for spec in intent.sized_assets:
            key = spec.asset.address.lower()
            if spec.amount is not None:
                amount = spec.base_units()
            else:
                assert spec.percentage is not None
                numerator, denominator = spec.percentage.as_integer_ratio()
                amount = balances.get(key, 0) * numerator // (denominator * 100)
            paid[key] = paid.get(key, 0) + amount
        return paid
    counter = intent.counter_asset
    if counter is None or estimate is None:
        return paid
    cost = estimate(intent)
    if cost:
        paid[counter.asset.address.lower()] = cost
    return paid


def open_intents(views: Iterable[IntentView]) -> list[Intent]:
    return [
        Intent.model_validate(view.intent)
        for view in views
        if view.status in OPEN_STATUSES and view.intent is not None
    ]


def reserved_by(
    intents: Iterable[Intent], token: str, *, balance: int, estimate: PaidEstimate | None
) -> int:
    """The sum of what `intents` pay in `token`."""
    key = token.lower()
    return sum(
        paid_amounts(intent, balances={key: balance}, estimate=estimate).get(key, 0)
        for intent in intents
    )


class ReadModelReservations:
    """Reservations read from the Redis read model's views of the strategy's intents."""

    def __init__(
        self, read_model: ReadModel, *, estimate: PaidEstimate | None = None, limit: int = 1000
    ) -> None:
        self.read_model = read_model
        self.estimate = estimate
        self.limit = limit  # open intents per strategy looked at; the newest first
        # Accepted here, not yet in the read model: strategy -> intent id -> intent.
        self._held: dict[UUID, dict[str, Intent]] = {}
        # ACQUIRE costs already estimated: strategy -> intent id -> cost (open intents only).
        self._costs: dict[UUID, dict[UUID, int | None]] = {}

    def hold(self, intent: Intent) -> None:
        """The state coordinator projects `IntentSubmitted` a moment after it is published;
        until then a second submission of the same strategy must still see this one."""
        self._held.setdefault(intent.strategy_id, {})[str(intent.id)] = intent

    async def reserved(self, strategy_id: UUID, token: str, *, balance: int = 0) -> int:
        views = await self.read_model.list_for_strategy(strategy_id, limit=self.limit)
        intents = open_intents(views) + self._still_held(strategy_id, views)
        # Estimates route on the engine (CPU work): off the event loop.
        return await asyncio.to_thread(
            reserved_by,
            intents,
            token,
            balance=balance,
            estimate=self._remembered(strategy_id, intents),
        )

    def _remembered(self, strategy_id: UUID, intents: list[Intent]) -> PaidEstimate | None:
        """`estimate`, computed once per open intent; closed intents are forgotten."""
        if self.estimate is None:
            return None
        estimate = self.estimate
        open_ids = {intent.id for intent in intents}
        costs = {k: v for k, v in self._costs.get(strategy_id, {}).items() if k in open_ids}
        self._costs[strategy_id] = costs

        def remembered(intent: Intent) -> int | None:
            if intent.id not in costs:
                costs[intent.id] = estimate(intent)
            return costs[intent.id]

        return remembered

    def _still_held(self, strategy_id: UUID, views: list[IntentView]) -> list[Intent]:
        """Held intents the read model does not show yet. Shown ones are dropped, and so are
        those past their window (never shown: the coordinator lost them, or is down)."""
        held = self._held.get(strategy_id, {})
        shown = {view.intent_id for view in views}
        now = datetime.now(UTC)
        for intent_id, intent in list(held.items()):
            if intent_id in shown or intent.deadline <= now:
                del held[intent_id]
        return list(held.values())


def sized_input_estimate(sizer_for: Callable[[Intent], InputSizer]) -> PaidEstimate:
    """An ACQUIRE's cost as the decomposer sizes it now (slippage cover included), with
    `sizer_for` normally `ExecutionPlanner.sizer`. Decided as at the intent's creation, so
    an intent whose window has passed is still priced; None when nothing routes it."""

    def estimate(intent: Intent) -> int | None:
        try:
            orders = decompose(intent, {}, intent.created_at, sizer=sizer_for(intent))
        except (PlanningError, ValueError):
            return None
        return sum(order.amount_in for order in orders)

    return estimate
