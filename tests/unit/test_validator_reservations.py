"""Reservation arithmetic over read-model views: what open intents pay, per token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from platform_core.intent.reservations import (
    ReadModelReservations,
    open_intents,
    paid_amounts,
    reserved_by,
)
from platform_core.state.projection import IntentView
from platform_core.types.intent import Intent, IntentStatus, IntentSubmission

WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
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


def view(of: Intent, status: IntentStatus) -> IntentView:
    now = datetime.now(UTC)
    return IntentView(
        intent_id=str(of.id),
        strategy_id=STRATEGY,
        status=status,
        last_sequence=0,
        created_at=now,
        updated_at=now,
        intent=of.model_dump(mode="json", by_alias=True),
    )


def usdc_cost(of: Intent) -> int:
    return 3_000 * 10**6 * of.sized_assets[0].base_units() // 10**18


def test_dispose_pays_its_amount_or_its_share_of_the_balance() -> None:
    assert paid_amounts(intent("dispose", amount="2"), balances={}, estimate=None) == {
        WETH.lower(): 2 * 10**18
    }
    quarter = paid_amounts(
        intent("dispose", percentage="25"), balances={WETH.lower(): 10**18}, estimate=None
    )
    assert quarter == {WETH.lower(): 25 * 10**16}


def test_acquire_pays_the_estimated_counter_asset() -> None:
    buy = intent("acquire", amount="1.5")
    assert paid_amounts(buy, balances={}, estimate=usdc_cost) == {USDC.lower(): 4_500 * 10**6}
    assert paid_amounts(buy, balances={}, estimate=None) == {}
    assert paid_amounts(buy, balances={}, estimate=lambda _: None) == {}


def test_only_open_intents_reserve() -> None:
    views = [
        view(intent("acquire", amount="1"), IntentStatus.PENDING),
        view(intent("acquire", amount="2"), IntentStatus.PROCESSING),
        view(intent("acquire", amount="4"), IntentStatus.COMPLETED),
        view(intent("acquire", amount="8"), IntentStatus.DENIED),
        view(intent("dispose", amount="16"), IntentStatus.PENDING),
    ]
    assert reserved_by(open_intents(views), USDC, balance=0, estimate=usdc_cost) == 9_000 * 10**6
    assert (
        reserved_by(open_intents(views), WETH.lower(), balance=0, estimate=usdc_cost) == 16 * 10**18
    )
    assert reserved_by(open_intents(views), USDC, balance=0, estimate=None) == 0


def test_views_without_the_intent_are_skipped() -> None:
    bare = IntentView(
        intent_id=str(uuid4()),
        strategy_id=STRATEGY,
        status=IntentStatus.PENDING,
        last_sequence=0,
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )
    assert reserved_by(open_intents([bare]), USDC, balance=0, estimate=usdc_cost) == 0


class Views:
    """The read model's one query the reservations make."""

    def __init__(self) -> None:
        self.views: list[IntentView] = []

    async def list_for_strategy(self, strategy_id: Any, *, limit: int) -> list[IntentView]:
        return self.views[:limit]


async def test_held_intents_count_until_the_read_model_shows_them() -> None:
    read_model = Views()
    reservations = ReadModelReservations(read_model, estimate=usdc_cost)  # type: ignore[arg-type]
    buy = intent("acquire", amount="1")
    reservations.hold(buy)
    assert await reservations.reserved(buy.strategy_id, USDC) == 3_000 * 10**6
    read_model.views = [view(buy, IntentStatus.PENDING)]  # shown: counted once, not twice
    assert await reservations.reserved(buy.strategy_id, USDC) == 3_000 * 10**6
    read_model.views = [view(buy, IntentStatus.COMPLETED)]
    assert await reservations.reserved(buy.strategy_id, USDC) == 0


async def test_held_intents_past_their_window_are_dropped() -> None:
    reservations = ReadModelReservations(Views(), estimate=usdc_cost)  # type: ignore[arg-type]
    old = intent("acquire", amount="1").model_copy(
        update={"created_at": datetime.now(UTC) - timedelta(hours=1)}
    )
    reservations.hold(old)
    assert await reservations.reserved(old.strategy_id, USDC) == 0


async def test_each_open_acquire_is_priced_once_not_on_every_submission() -> None:
    read_model = Views()
    priced: list[Any] = []

    def counting_cost(of: Intent) -> int:
        priced.append(of.id)
        return usdc_cost(of)

    reservations = ReadModelReservations(read_model, estimate=counting_cost)  # type: ignore[arg-type]
    first, second = intent("acquire", amount="1"), intent("acquire", amount="2")
    read_model.views = [view(first, IntentStatus.PENDING)]
    for _ in range(3):
        assert await reservations.reserved(first.strategy_id, USDC) == 3_000 * 10**6
    read_model.views.append(view(second, IntentStatus.PROCESSING))
    assert await reservations.reserved(first.strategy_id, USDC) == 9_000 * 10**6
    assert priced == [first.id, second.id]
    # A closed intent is forgotten; were it open again it would be priced again.
    read_model.views = [view(second, IntentStatus.PROCESSING)]
    assert await reservations.reserved(first.strategy_id, USDC) == 6_000 * 10**6
    read_model.views = [view(first, IntentStatus.PENDING), view(second, IntentStatus.PENDING)]
    await reservations.reserved(first.strategy_id, USDC)
    assert priced == [first.id, second.id, first.id]
