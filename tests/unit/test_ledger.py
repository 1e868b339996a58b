"""The reservation ledger's pure parts: entries as stored, the ledger a rebuild derives
from views, what the projection records for it, and the gate's shortfall message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
import redis.asyncio as aioredis

from platform_core.intent.aggregate import IntentAggregate
from platform_core.intent.ledger import (
    GRACE,
    Entry,
    Need,
    ReservationLedger,
    Row,
    Shortfall,
    millis,
    rows_from_views,
)
from platform_core.intent.manager import shortfall_refusal
from platform_core.state.projection import IntentView, fold
from platform_core.types import (
    ExecutionStepConfirmed,
    ExecutionStepFailed,
    Intent,
    IntentStatus,
    IntentSubmission,
    IntentSubmitted,
)
from platform_core.types.ids import uuid7

WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
USDC = "0xaf88d065e77c8cc2239327c5edb3a432268e5831"


def test_entries_round_trip_through_their_stored_form() -> None:
    open_entry = Entry(10**40 + 3, 1_700_000_000_000)
    assert open_entry.encode() == f"{10**40 + 3}|1700000000000||"
    released = Entry(5, 1_700_000_000_000, released_block=0, released_ms=1_600_000_000_000)
    for entry in (open_entry, released):
        assert Entry.decode(entry.encode()) == entry


def intent_of(seed: dict[str, Any]) -> Intent:
    return Intent.from_submission(IntentSubmission.model_validate(seed))


def view(intent: Intent, status: IntentStatus, **fields: Any) -> IntentView:
    return IntentView(
        intent_id=str(intent.id),
        strategy_id=str(intent.strategy_id),
        status=status,
        last_sequence=3,
        created_at=intent.created_at,
        updated_at=intent.created_at + timedelta(seconds=30),
        intent=intent.model_dump(mode="json", by_alias=True),
        **fields,
    )


def test_a_rebuild_keeps_open_reservations_and_releases_final_ones_at_their_block(
    seed_intent: dict[str, Any],
) -> None:
    now = datetime.now(UTC)
    running, done, unsent, denied = (intent_of(seed_intent) for _ in range(4))
    held = {"wallet": WALLET, "reserved": {USDC: 4_500}}
    views = [
        view(running, IntentStatus.PROCESSING, **held),
        view(done, IntentStatus.COMPLETED, last_block=42, **held),
        view(unsent, IntentStatus.CANCELLED, **held),
        view(denied, IntentStatus.DENIED),  # reserved nothing
    ]
    rows = rows_from_views(views, now=now)
    assert [row.entry for row in rows] == [
        Entry(4_500, millis(running.deadline + GRACE)),
        Entry(4_500, millis(done.deadline + GRACE), 42, millis(views[1].updated_at)),
        Entry(4_500, millis(unsent.deadline + GRACE), 0, millis(views[2].updated_at)),
    ]
    assert rows[0] == Row(str(running.id), str(running.strategy_id), WALLET, USDC, rows[0].entry)
    # Past the deadline and its grace, a reservation is not brought back.
    assert rows_from_views(views, now=unsent.deadline + GRACE) == []


def test_the_view_records_the_reservation_and_the_last_mined_block(
    seed_intent: dict[str, Any],
) -> None:
    intent = intent_of(seed_intent)
    events = IntentAggregate.start(intent)
    events.append(IntentSubmitted(intent=intent, reserved={USDC: 4_500}, wallet=WALLET))
    plan_id, tx = uuid7(), "0x" + "cd" * 32
    for block in (12, 11):
        events.append(ExecutionStepConfirmed(
            plan_id=plan_id, step_id=uuid7(), tx_hash=tx, block_number=block, amount_in=1,
            amount_out=1, gas_used=1, effective_gas_price=1,
        ))  # fmt: skip
    events.append(ExecutionStepFailed(plan_id=plan_id, step_id=uuid7(), reason="x", reverted=True))
    folded = fold(list(events.appended))
    assert folded is not None
    assert (folded.wallet, folded.reserved, folded.last_block) == (WALLET, {USDC: 4_500}, 12)
    assert IntentView.from_hash(folded.to_hash()) == folded
    # A hash written before these fields existed still reads.
    old = {k: v for k, v in folded.to_hash().items() if k not in {"wallet", "reserved",
                                                                  "last_block"}}  # fmt: skip
    assert IntentView.from_hash(old).reserved == {}


def test_an_old_intent_submitted_reserved_nothing(seed_intent: dict[str, Any]) -> None:
    intent = intent_of(seed_intent)
    payload = IntentSubmitted(intent=intent).model_dump(mode="json")
    del payload["reserved"], payload["wallet"]
    event = IntentSubmitted.model_validate(payload)
    assert (event.reserved, event.wallet) == ({}, None)
    amounts = IntentSubmitted(intent=intent, reserved={USDC: 10**30}).model_dump(mode="json")
    assert amounts["reserved"] == {USDC: str(10**30)}  # base units as decimal strings


async def test_one_need_per_token() -> None:
    ledger = ReservationLedger(aioredis.Redis())  # never connects: refused before any call
    twice = [Need(USDC, 1, 10, 1), Need(USDC.upper().replace("0X", "0x"), 1, 10, 1)]
    with pytest.raises(ValueError, match="one need per token"):
        await ledger.reserve(uuid4(), WALLET, twice, deadline=datetime.now(UTC))
    assert await ledger.reserve(uuid4(), WALLET, [], deadline=datetime.now(UTC)) == ()


def test_a_shortfall_names_token_need_balance_and_reserved(seed_intent: dict[str, Any]) -> None:
    intent = intent_of(seed_intent)
    refusal = shortfall_refusal(intent, Shortfall(USDC, 4_600, 10_000, 5_500))
    assert refusal.code == "INSUFFICIENT_BALANCE"
    assert refusal.message == (
        "USDC: needs 4600 base units, wallet holds 10000 of which open intents reserve 5500"
    )
