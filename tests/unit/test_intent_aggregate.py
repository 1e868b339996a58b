"""`IntentAggregate`: the one place an intent's sequence numbers, causes and deadline come
from, and its refusal of a writer working from a stale view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from platform_core.errors import ErrorCode, PlatformError
from platform_core.intent.aggregate import IntentAggregate, SequenceGap, SequenceTaken
from platform_core.types.events import (
    IntentCancelled,
    IntentFailed,
    IntentSubmitted,
)
from platform_core.types.ids import deterministic_id, uuid7
from platform_core.types.intent import Intent, IntentSubmission

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def intent(seed_intent: dict) -> Intent:
    return Intent.from_submission(IntentSubmission.model_validate(seed_intent), created_at=T0)


def test_a_new_intent_starts_at_zero_without_a_cause(intent: Intent) -> None:
    events = IntentAggregate.start(intent)
    first = events.append(IntentSubmitted(intent=intent, priority=3))
    second = events.append(IntentFailed(reason="x"))
    assert [(e.sequence, e.event_type) for e in events.appended] == [
        (0, "IntentSubmitted"),
        (1, "IntentFailed"),
    ]
    assert first.causation_id is None and second.causation_id == first.event_id
    assert (first.intent_id, first.strategy_id) == (intent.id, intent.strategy_id)
    assert (events.next_sequence, events.last_event_id) == (2, second.event_id)


def test_ids_derive_from_intent_type_and_sequence_unless_given(intent: Intent) -> None:
    events = IntentAggregate.start(intent)
    given = uuid7()
    first = events.append(IntentSubmitted(intent=intent), event_id=given)
    second = events.append(IntentFailed(reason="x"), occurred_at=T0)
    assert first.event_id == given
    assert second.event_id == deterministic_id(intent.id, "IntentFailed", 1)
    assert second.occurred_at == T0


def test_continuing_after_the_same_envelope_twice_appends_the_same_envelopes(
    intent: Intent,
) -> None:
    submitted = IntentAggregate.start(intent).append(IntentSubmitted(intent=intent))
    runs = []
    for _ in range(2):
        events = IntentAggregate.after(intent, submitted)
        runs.append(events.append(IntentCancelled(steps_cancelled=0), occurred_at=T0))
    assert runs[0].to_bytes() == runs[1].to_bytes()
    assert (runs[0].sequence, runs[0].causation_id) == (1, submitted.event_id)


def test_resume_rebuilds_from_the_log(intent: Intent) -> None:
    writer = IntentAggregate.start(intent)
    history = [
        writer.append(IntentSubmitted(intent=intent)),
        writer.append(IntentFailed(reason="x")),
    ]
    resumed = IntentAggregate.resume(intent, history)
    assert (resumed.next_sequence, resumed.last_event_id) == (2, history[-1].event_id)
    assert resumed.appended == ()
    with pytest.raises(SequenceGap) as gap:
        IntentAggregate.resume(intent, history[1:])
    assert gap.value.code is ErrorCode.OUT_OF_ORDER


def test_a_stale_writer_is_refused(intent: Intent) -> None:
    """Two writers work from the same view of the log; the first to be recorded takes the
    sequence, and the other one's event at that sequence is refused, with its code."""
    submitted = IntentAggregate.start(intent).append(IntentSubmitted(intent=intent))
    log = IntentAggregate.resume(intent, [submitted])  # the log's own view
    one = IntentAggregate.resume(intent, [submitted])
    other = IntentAggregate.resume(intent, [submitted])
    first = one.append(IntentFailed(reason="planning failed"))
    late = other.append(IntentCancelled(steps_cancelled=0))
    assert first.sequence == late.sequence == 1 and first.event_id != late.event_id

    log.record(first)
    with pytest.raises(SequenceTaken) as refused:
        log.record(late)
    assert refused.value.code is ErrorCode.SEQUENCE_TAKEN
    assert isinstance(refused.value, PlatformError) and not refused.value.retryable
    assert log.next_sequence == 2 and log.last_event_id == first.event_id
    # The stale writer, told what the log holds, finds its own view outdated.
    with pytest.raises(SequenceTaken, match="sequence 1 is taken"):
        other.record(first)


def test_events_of_another_intent_are_refused(intent: Intent, seed_intent: dict) -> None:
    stranger = Intent.from_submission(IntentSubmission.model_validate(seed_intent))
    foreign = IntentAggregate.start(stranger).append(IntentSubmitted(intent=stranger))
    with pytest.raises(ValueError, match="another intent"):
        IntentAggregate.after(intent, foreign)
    with pytest.raises(ValueError, match="another intent"):
        IntentAggregate.start(intent).record(foreign)


def test_the_deadline_is_the_end_of_the_time_window(intent: Intent) -> None:
    window = timedelta(milliseconds=intent.constraints.time_window_ms)
    assert intent.deadline == T0 + window
    assert IntentAggregate.start(intent).deadline == intent.deadline
