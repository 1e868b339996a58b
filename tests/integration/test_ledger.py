"""The reservation ledger on the real Redis (the test's own key prefix): all-or-nothing
reservations, idempotent releases, the released-block rule, expiry, stale balances, big
amounts, and the rebuild from the event log with the read model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from platform_core.cli import cmd_rebuild
from platform_core.config import Settings
from platform_core.intent.aggregate import CauseNotRecorded, IntentAggregate
from platform_core.intent.ledger import (
    LedgerRebuilding,
    Need,
    ReservationLedger,
    Shortfall,
    StaleBalance,
)
from platform_core.state.coordinator import StateCoordinator
from platform_core.state.event_store import EventStore
from platform_core.state.read_model import ReadModel
from platform_core.types import (
    EventEnvelope,
    ExecutionCompleted,
    ExecutionStepConfirmed,
    Intent,
    IntentSubmission,
    IntentSubmitted,
)
from platform_core.types.ids import uuid7

WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
WETH = "0x82af49447d8a07e3bd95bd0d56f35241523fbab1"
USDC = "0xaf88d065e77c8cc2239327c5edb3a432268e5831"
DEADLINE = datetime(2030, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = DEADLINE - timedelta(minutes=5)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def ledger(isolated_settings: Settings) -> AsyncIterator[ReservationLedger]:
    clock = Clock()
    book = ReservationLedger.from_url(
        isolated_settings.redis_url, prefix=isolated_settings.redis_key_prefix
    )
    book.clock = clock
    await book.mark_ready()  # a new ledger: nothing in the log to rebuild it from
    try:
        yield book
    finally:
        await book.clear()
        await book.close()


async def reserve(
    ledger: ReservationLedger, *needs: Need, intent: UUID | None = None
) -> tuple[Shortfall, ...]:
    return await ledger.reserve(intent or uuid4(), WALLET, needs, deadline=DEADLINE)


def clock_of(ledger: ReservationLedger) -> Clock:
    assert isinstance(ledger.clock, Clock)
    return ledger.clock


async def test_all_or_nothing_across_tokens(ledger: ReservationLedger) -> None:
    assert await reserve(ledger, Need(USDC, 600, 1_000, 5)) == ()
    # USDC would fit no more: the WETH part is not reserved either.
    short = await reserve(ledger, Need(WETH, 10, 100, 5), Need(USDC, 500, 1_000, 5))
    assert short == (Shortfall(USDC, 500, 1_000, 600),)
    assert await ledger.entries(WALLET, WETH) == {}
    assert await reserve(ledger, Need(WETH, 100, 100, 5), Need(USDC, 400, 1_000, 5)) == ()
    # Every strategy trading from the wallet reserves against the same balance.
    assert await reserve(ledger, Need(USDC, 1, 1_000, 5)) == (Shortfall(USDC, 1, 1_000, 1_000),)


async def test_releases_are_idempotent_and_count_from_their_block(
    ledger: ReservationLedger,
) -> None:
    spent, unsent = uuid4(), uuid4()
    assert await reserve(ledger, Need(USDC, 700, 1_000, 5), intent=spent) == ()
    assert await reserve(ledger, Need(USDC, 300, 1_000, 5), intent=unsent) == ()
    assert await ledger.release(spent, block=9) == 1
    assert await ledger.release(spent, block=12) == 0  # a redelivery: nothing changes
    assert (await ledger.entries(WALLET, USDC))[str(spent)].released_block == 9
    assert await ledger.release(unsent) == 1  # sent nothing: released as of block 0
    assert await ledger.release(uuid4()) == 0  # never reserved

    # A balance read before block 9 does not show the spend yet: the 700 still count.
    assert await reserve(ledger, Need(USDC, 301, 1_000, 8)) == (Shortfall(USDC, 301, 1_000, 700),)
    # From block 9 on it does (the wallet then holds 300): only that is there to reserve.
    assert await reserve(ledger, Need(USDC, 300, 300, 9)) == ()


async def test_released_entries_are_dropped_once_settled_and_older_balances_refused(
    ledger: ReservationLedger,
) -> None:
    done = uuid4()
    assert await reserve(ledger, Need(USDC, 700, 1_000, 5), intent=done) == ()
    await ledger.release(done, block=9)
    assert await reserve(ledger, Need(USDC, 1, 1_000, 10)) == ()
    assert str(done) in await ledger.entries(WALLET, USDC)  # not settled yet

    clock_of(ledger).now += ledger.settle
    assert await reserve(ledger, Need(USDC, 1, 1_000, 10)) == ()
    assert str(done) not in await ledger.entries(WALLET, USDC)
    # What a balance of block 8 lacks (the 700 spent at 9) is no longer in the ledger.
    with pytest.raises(StaleBalance, match="block 8"):
        await reserve(ledger, Need(USDC, 1, 1_000, 8))


async def test_reservations_expire_after_the_deadline_and_grace(ledger: ReservationLedger) -> None:
    assert await reserve(ledger, Need(USDC, 1_000, 1_000, 5)) == ()
    clock_of(ledger).now = DEADLINE + ledger.grace - timedelta(milliseconds=1)
    assert await reserve(ledger, Need(USDC, 1, 1_000, 5)) == (Shortfall(USDC, 1, 1_000, 1_000),)
    clock_of(ledger).now = DEADLINE + ledger.grace  # never published, never released: gone
    assert await reserve(ledger, Need(USDC, 1_000, 1_000, 5)) == ()


async def test_amounts_beyond_doubles_are_exact(ledger: ReservationLedger) -> None:
    unit = 10**30 + 1
    balance = 3 * unit
    for _ in range(3):
        assert await reserve(ledger, Need(WETH, unit, balance, 5)) == ()
    assert await reserve(ledger, Need(WETH, 1, balance, 5)) == (
        Shortfall(WETH, 1, balance, balance),
    )
    assert await reserve(ledger, Need(USDC, 2**256 - 1, 2**256 - 1, 5)) == ()


async def test_concurrent_reservations_never_over_commit(ledger: ReservationLedger) -> None:
    results = await asyncio.gather(*(reserve(ledger, Need(USDC, 100, 1_050, 5)) for _ in range(25)))
    assert sum(1 for r in results if r == ()) == 10


async def test_reserving_twice_for_one_intent_reserves_once(ledger: ReservationLedger) -> None:
    intent = uuid4()
    for _ in range(2):
        assert await reserve(ledger, Need(USDC, 600, 1_000, 5), intent=intent) == ()
    assert list(await ledger.entries(WALLET, USDC)) == [str(intent)]


def submitted(seed: dict[str, Any], reserved: dict[str, int]) -> IntentAggregate:
    intent = Intent.from_submission(IntentSubmission.model_validate(seed))
    events = IntentAggregate.start(intent)
    events.append(IntentSubmitted(intent=intent, priority=5, reserved=reserved, wallet=WALLET))
    return events


def completed_at(events: IntentAggregate, block: int) -> list[EventEnvelope]:
    plan_id, tx = uuid7(), "0x" + "ab" * 32
    events.append(ExecutionStepConfirmed(
        plan_id=plan_id, step_id=uuid7(), tx_hash=tx, block_number=block, amount_in=1,
        amount_out=1, gas_used=1, effective_gas_price=1,
    ))  # fmt: skip
    events.append(ExecutionCompleted(plan_id=plan_id, amount_in=1, amount_out=1))
    return list(events.appended)


async def test_the_coordinator_releases_final_intents_once(
    isolated_settings: Settings, ledger: ReservationLedger, seed_intent: dict[str, Any]
) -> None:
    s = isolated_settings
    clock_of(ledger).now = datetime.now(UTC)
    store = await EventStore.connect(s.postgres_dsn)
    read_model = ReadModel.from_url(s.redis_url, prefix=s.redis_key_prefix)
    coordinator = StateCoordinator(store, read_model, ledger)
    try:
        events = submitted(seed_intent, {USDC: 4_500})
        intent = events.intent.id
        needs = [Need(USDC, 4_500, 5_000, 3)]
        deadline = datetime.now(UTC) + timedelta(minutes=5)
        assert await ledger.reserve(intent, WALLET, needs, deadline=deadline) == ()
        log = completed_at(events, block=42)
        await coordinator.handle(log[:1])
        assert (await ledger.entries(WALLET, USDC))[str(intent)].released_block is None
        # The completion arrives before the step that closes the gap: the log takes it
        # only after that step (the consumer retries it), and the release follows then.
        with pytest.raises(CauseNotRecorded):
            await coordinator.handle(log[2:])
        assert (await ledger.entries(WALLET, USDC))[str(intent)].released_block is None
        await coordinator.handle(log[1:2])
        assert (await ledger.entries(WALLET, USDC))[str(intent)].released_block is None
        await coordinator.handle(log[2:])
        assert (await ledger.entries(WALLET, USDC))[str(intent)].released_block == 42
        await coordinator.handle(log)  # redelivered
        assert coordinator.stats.reservations_released == 1
    finally:
        await read_model.clear()
        await read_model.close()
        await store.close()


async def test_rebuild_from_the_log_restores_open_and_released_entries(
    isolated_settings: Settings, ledger: ReservationLedger, seed_intent: dict[str, Any]
) -> None:
    s = isolated_settings
    clock_of(ledger).now = datetime.now(UTC)
    store = await EventStore.connect(s.postgres_dsn)
    read_model = ReadModel.from_url(s.redis_url, prefix=s.redis_key_prefix)
    try:
        open_one = submitted(seed_intent, {USDC: 4_500})
        done = submitted(seed_intent, {USDC: 3_000, WETH: 7})
        log = [*open_one.appended, *completed_at(done, block=77)]
        await store.append(log)
        unlogged = [Need(USDC, 1, 10, 1)]  # reserved, but its intent never reached the log
        assert await ledger.reserve(uuid4(), WALLET, unlogged, deadline=DEADLINE) == ()

        assert await read_model.rebuild(store, ledger=ledger) == 2
        usdc = await ledger.entries(WALLET, USDC)
        assert set(usdc) == {str(open_one.intent.id), str(done.intent.id)}
        assert usdc[str(open_one.intent.id)].amount == 4_500
        assert usdc[str(open_one.intent.id)].released_block is None
        assert usdc[str(done.intent.id)].released_block == 77
        weth = await ledger.entries(WALLET, WETH)
        assert weth[str(done.intent.id)].amount == 7
        # The rebuilt ledger works as the live one: the open intent still holds its 4,500.
        more = [Need(USDC, 600, 5_000, 80)]
        short = await ledger.reserve(uuid4(), WALLET, more, deadline=DEADLINE)
        assert short == (Shortfall(USDC, 600, 5_000, 4_500),)
        assert await ledger.release(done.intent.id, block=90) == 0  # released already
        assert await ledger.release(open_one.intent.id) == 1
    finally:
        await read_model.clear()
        await read_model.close()
        await store.close()


async def test_a_lost_ledger_refuses_until_the_coordinator_rebuilds_it(
    isolated_settings: Settings, ledger: ReservationLedger, seed_intent: dict[str, Any]
) -> None:
    """Redis loses its data (here: every key of the platform's prefix): no gate may reserve
    against the empty ledger, which would over-commit the wallet, until the coordinator has
    rebuilt the views and the reservations from the log; then the open intent counts again."""
    s = isolated_settings
    clock_of(ledger).now = datetime.now(UTC)
    store = await EventStore.connect(s.postgres_dsn)
    read_model = ReadModel.from_url(s.redis_url, prefix=s.redis_key_prefix)
    coordinator = StateCoordinator(store, read_model, ledger)
    try:
        open_one = submitted(seed_intent, {USDC: 4_500})
        assert await ledger.reserve(open_one.intent.id, WALLET, [Need(USDC, 4_500, 5_000, 3)],
                                    deadline=DEADLINE) == ()  # fmt: skip
        await coordinator.handle(open_one.appended)
        assert await coordinator.restore_if_lost() is None  # nothing lost yet

        await read_model.clear()
        await ledger.clear()
        with pytest.raises(LedgerRebuilding):
            await reserve(ledger, Need(USDC, 600, 5_000, 4))
        assert await read_model.get(open_one.intent.id) is None

        assert await coordinator.restore_if_lost() == 1
        view = await read_model.get(open_one.intent.id)
        assert view is not None and view.reserved == {USDC: 4_500}
        short = await reserve(ledger, Need(USDC, 600, 5_000, 4))
        assert short == (Shortfall(USDC, 600, 5_000, 4_500),)

        await ledger.clear()  # lost again: the next batch rebuilds before it is applied
        await coordinator.handle(open_one.appended)
        assert coordinator.stats.rebuilds == 2
        assert await reserve(ledger, Need(USDC, 500, 5_000, 4)) == ()
    finally:
        await read_model.clear()
        await read_model.close()
        await store.close()


async def test_sep_rebuild_restores_views_and_reservations(
    isolated_settings: Settings, seed_intent: dict[str, Any]
) -> None:
    """`sep rebuild` after Redis lost everything: the views and the ledger come back."""
    s = isolated_settings
    store = await EventStore.connect(s.postgres_dsn)
    read_model = ReadModel.from_url(s.redis_url, prefix=s.redis_key_prefix)
    ledger = ReservationLedger.from_url(s.redis_url, prefix=s.redis_key_prefix)
    try:
        open_one = submitted(seed_intent, {USDC: 4_500})
        await store.append(open_one.appended)
        await read_model.clear()
        await ledger.clear()

        assert await asyncio.to_thread(cmd_rebuild, s) == 0

        view = await read_model.get(open_one.intent.id)
        assert view is not None and view.reserved == {USDC: 4_500}
        entries = await ledger.entries(WALLET, USDC)
        assert entries[str(open_one.intent.id)].amount == 4_500
    finally:
        await read_model.clear()
        await ledger.close()
        await read_model.close()
        await store.close()
