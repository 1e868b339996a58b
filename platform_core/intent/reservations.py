"""What a strategy's open intents already commit of each token.

A wallet's on-chain balance is not all spendable: intents accepted earlier (PENDING) or
being executed (PROCESSING) will pay from it too. The gate subtracts their reservations.

What an intent pays
    DISPOSE pays its sized assets: the amount asked, exactly (a percentage is a share of
    the balance at execution time, so it is reserved as that share of `balance`).
    ACQUIRE pays the counter asset, an amount only a route can tell. The read model keeps
    the intent, not its quote, so the amount is *estimated again* with the current pools
    (`PaidEstimate`, normally the planner's exact-output sizer). It is an approximation:
    prices have moved since acceptance, and a PROCESSING intent that has already swapped
    part of its input is still counted in full (conservative: it over-reserves).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol
from uuid import UUID

from platform_core.intent.decomposer import DecompositionError, InputSizer, decompose
from platform_core.state.projection import IntentView
from platform_core.state.read_model import ReadModel
from platform_core.types.intent import Intent, IntentStatus, IntentType

OPEN_STATUSES = frozenset({IntentStatus.PENDING, IntentStatus.PROCESSING})
# An ACQUIRE's counter-asset cost in base units, or None when no route prices it now.
PaidEstimate = Callable[[Intent], int | None]


class Reservations(Protocol):
    async def reserved(self, strategy_id: UUID, token: str, *, balance: int = 0) -> int: ...


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


def reserved_by(
    views: Iterable[IntentView], token: str, *, balance: int, estimate: PaidEstimate | None
) -> int:
    """The sum of what the open intents among `views` pay in `token`."""
    key = token.lower()
    total = 0
    for view in views:
        if view.status not in OPEN_STATUSES or view.intent is None:
            continue
        intent = Intent.model_validate(view.intent)
        total += paid_amounts(intent, balances={key: balance}, estimate=estimate).get(key, 0)
    return total


class ReadModelReservations:
    """Reservations read from the Redis read model's views of the strategy's intents."""

    def __init__(
        self, read_model: ReadModel, *, estimate: PaidEstimate | None = None, limit: int = 1000
    ) -> None:
        self.read_model = read_model
        self.estimate = estimate
        self.limit = limit  # open intents per strategy looked at; the newest first

    async def reserved(self, strategy_id: UUID, token: str, *, balance: int = 0) -> int:
        views = await self.read_model.list_for_strategy(strategy_id, limit=self.limit)
        # Estimates route on the engine (CPU work): off the event loop.
        return await asyncio.to_thread(
            reserved_by, views, token, balance=balance, estimate=self.estimate
        )


def sized_input_estimate(sizer_for: Callable[[Intent], InputSizer]) -> PaidEstimate:
    """An ACQUIRE's cost as the decomposer sizes it now (slippage cover included), with
    `sizer_for` normally `ExecutionPlanner.sizer`. Decided as at the intent's creation, so
    an intent whose window has passed is still priced; None when nothing routes it."""

    def estimate(intent: Intent) -> int | None:
        try:
            orders = decompose(intent, {}, intent.created_at, sizer=sizer_for(intent))
        except (DecompositionError, ValueError):
            return None
        return sum(order.amount_in for order in orders)

    return estimate
