"""`check_chain`: the log admits one causal chain per intent. The case that made it: a
redelivered IntentSubmitted taken by a second processor, which ended the intent
(IntentExpired at 1) while the first was still planning it; the first's IntentDecomposed at
1 was refused, but its PlanCreated at 2 was stored after the other writer's final event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from platform_core.errors import ErrorCode
from platform_core.intent.aggregate import (
    CauseBroken,
    CauseNotRecorded,
    IntentAggregate,
    SequenceTaken,
)
from platform_core.state.causality import check_chain, first_needed, link_of
from platform_core.types.events import (
    ChildOrder,
    EventEnvelope,
    IntentCancelled,
    IntentDecomposed,
    IntentExpired,
    IntentFailed,
    IntentSubmitted,
)
from platform_core.types.ids import uuid7
from platform_core.types.intent import Intent, IntentSubmission

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def intent(seed_intent: dict) -> Intent:
    return Intent.from_submission(IntentSubmission.model_validate(seed_intent), created_at=T0)


@pytest.fixture
def submitted(intent: Intent) -> EventEnvelope:
    return IntentAggregate.start(intent).append(IntentSubmitted(intent=intent, priority=5))


def test_a_chain_is_admitted_in_one_batch_and_across_batches(
    intent: Intent, submitted: EventEnvelope
) -> None:
    later = IntentAggregate.after(intent, submitted)
    one, two = later.append(_decomposed(1)), later.append(IntentFailed(reason="a"))
    check_chain([two, submitted, one], [])  # the whole chain at once, in any order
    check_chain([two], [link_of(submitted), link_of(one)])  # after what the log holds
    stored = [link_of(e) for e in (submitted, one, two)]
    check_chain([submitted, one, two], stored)  # again: nothing new, even after the end


def test_a_stale_writers_next_event_is_refused_after_another_writers_final_one(
    intent: Intent, submitted: EventEnvelope
) -> None:
    first = IntentAggregate.after(intent, submitted)
    second = IntentAggregate.after(intent, submitted)
    expired = second.append(IntentExpired(deadline=T0, steps_completed=0))
    failed = first.append(IntentFailed(reason="stale"))  # its own sequence 1: taken
    after_it = first.append(IntentCancelled(steps_cancelled=0))  # its sequence 2
    log = [link_of(submitted), link_of(expired)]
    with pytest.raises(SequenceTaken):
        check_chain([failed], log)
    with pytest.raises(CauseBroken) as refused:
        check_chain([after_it], log)
    assert refused.value.code == ErrorCode.CAUSE_BROKEN and not refused.value.retryable
    assert "final" in str(refused.value)


def test_an_event_caused_by_another_than_the_stored_predecessor_is_refused(
    intent: Intent, submitted: EventEnvelope
) -> None:
    winner = IntentAggregate.after(intent, submitted)
    loser = IntentAggregate.after(intent, submitted)
    stored = winner.append(_decomposed(1))
    loser.append(_decomposed(2), event_id=uuid7())  # refused: sequence 1 is taken
    follows_loser = loser.append(IntentFailed(reason="l2"))
    with pytest.raises(CauseBroken, match="but the log holds"):
        check_chain([follows_loser], [link_of(submitted), link_of(stored)])


def test_an_event_whose_predecessor_is_not_stored_yet_can_be_retried(
    intent: Intent, submitted: EventEnvelope
) -> None:
    events = IntentAggregate.after(intent, submitted)
    events.append(_decomposed(1))
    two = events.append(IntentFailed(reason="two"))
    with pytest.raises(CauseNotRecorded) as early:
        check_chain([two], [link_of(submitted)])
    assert early.value.retryable and early.value.code == ErrorCode.OUT_OF_ORDER
    # Once the intent has a final event, the missing predecessor will never come.
    ended = IntentAggregate.after(intent, submitted).append(IntentCancelled(steps_cancelled=0))
    with pytest.raises(SequenceTaken):
        check_chain([events.appended[0]], [link_of(submitted), link_of(ended)])
    with pytest.raises(CauseBroken):
        check_chain([two], [link_of(submitted), link_of(ended)])


def test_a_first_event_with_a_cause_is_refused(intent: Intent, submitted: EventEnvelope) -> None:
    caused = submitted.model_copy(update={"causation_id": uuid7(), "event_id": uuid7()})
    with pytest.raises(CauseBroken, match="has a cause"):
        check_chain([caused], [])


def test_the_check_needs_the_links_from_the_sequence_before_each_intents_first(
    intent: Intent, submitted: EventEnvelope
) -> None:
    events = IntentAggregate.after(intent, submitted)
    one, two = events.append(_decomposed(1)), events.append(IntentFailed(reason="2"))
    assert first_needed([two, one]) == {intent.id: 0}
    assert first_needed([submitted]) == {intent.id: -1}


def _decomposed(amount: int) -> IntentDecomposed:
    order = ChildOrder(index=0, token_in="0x" + "1" * 40, token_out="0x" + "2" * 40,
                       amount_in=amount)  # fmt: skip
    return IntentDecomposed(child_orders=[order])
