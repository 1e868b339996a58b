"""`IntentAggregate`: the one writer of an intent's event sequence.

An intent's events are numbered 0, 1, 2, ... without gaps, and each is caused by the one
before it (the first by nothing). The aggregate knows where that sequence stands and is the
only code that wraps events into envelopes: every stage appends through the aggregate of
the intent it works on, so no stage picks a sequence number or a cause.

- The gate `start`s it: `IntentSubmitted` or `IntentDenied` takes sequence 0.
- A later stage continues `after` the envelope it was handed: the processor after
  `IntentSubmitted`, the execution actor after `PlanCreated`. A re-run from the same
  envelope appends at the same sequences again.
- `resume` rebuilds it from the intent's log, which must be gapless from 0.

`append` derives the event id from (intent, event type, sequence) unless it is given one,
so a stage that runs again publishes the same ids and every deduplicating store keeps one
copy. Two writers that append at the same sequence make two different events there: the
event log keeps the first and refuses the second with `SequenceTaken`, as `record` does.

The intent's deadline is `Intent.deadline`, here as `deadline`. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from platform_core.errors import ErrorCode, PlatformError
from platform_core.types.events import DomainEvent, EventEnvelope
from platform_core.types.ids import deterministic_id
from platform_core.types.intent import Intent


class SequenceTaken(PlatformError):
    """Another event of the intent already holds this sequence: the writer of this one
    worked from a stale view. Retrying the same envelope can never succeed."""

    code = ErrorCode.SEQUENCE_TAKEN


class SequenceGap(PlatformError):
    """An event past the intent's next sequence: the ones between are missing."""

    code = ErrorCode.OUT_OF_ORDER


class CauseBroken(PlatformError):
    """The event is not caused by the one the log holds before it, or it follows the
    intent's final event: its writer worked from a stale view (another writer ended or
    continued the intent first). It can never be stored."""

    code = ErrorCode.CAUSE_BROKEN


class CauseNotRecorded(SequenceGap):
    """The event before this one is not in the log yet: events may reach the log out of
    order (a retried batch), so storing it again later can succeed."""

    retryable = True


def sequence_event_id(intent_id: UUID, event_type: str, sequence: int) -> UUID:
    """The id `append` gives an event when it is given none."""
    return deterministic_id(intent_id, event_type, sequence)


class IntentAggregate:
    """One intent's sequence and causation chain; not thread-safe (one per stage run)."""

    def __init__(self, intent: Intent) -> None:
        self.intent = intent
        self._next_sequence = 0
        self._last_event_id: UUID | None = None
        self._appended: list[EventEnvelope] = []

    @classmethod
    def start(cls, intent: Intent) -> IntentAggregate:
        """A new intent: its first event takes sequence 0 and has no cause."""
        return cls(intent)

    @classmethod
    def after(cls, intent: Intent, envelope: EventEnvelope) -> IntentAggregate:
        """Continuing after `envelope` (an event of `intent`), which causes the next one."""
        aggregate = cls(intent)
        aggregate._check_intent(envelope)
        aggregate._follow(envelope)
        return aggregate

    @classmethod
    def resume(cls, intent: Intent, history: Iterable[EventEnvelope]) -> IntentAggregate:
        """Rebuilt from the intent's log, in sequence order (see `record`)."""
        aggregate = cls(intent)
        for envelope in history:
            aggregate.record(envelope)
        return aggregate

    @property
    def next_sequence(self) -> int:
        return self._next_sequence

    @property
    def last_event_id(self) -> UUID | None:
        """The cause of the next event (None before the first)."""
        return self._last_event_id

    @property
    def appended(self) -> tuple[EventEnvelope, ...]:
        """The envelopes this aggregate made, in order."""
        return tuple(self._appended)

    @property
    def deadline(self) -> datetime:
        return self.intent.deadline

    def append(
        self,
        event: DomainEvent,
        *,
        event_id: UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> EventEnvelope:
        """`event` as the intent's next envelope: the next sequence, caused by the last
        event; its id is `event_id`, or else `sequence_event_id`."""
        sequence = self._next_sequence
        if event_id is None:
            event_id = sequence_event_id(self.intent.id, event.event_type(), sequence)
        envelope = EventEnvelope.wrap(
            event,
            intent_id=self.intent.id,
            strategy_id=self.intent.strategy_id,
            sequence=sequence,
            causation_id=self._last_event_id,
            event_id=event_id,
            occurred_at=occurred_at,
        )
        self._follow(envelope)
        self._appended.append(envelope)
        return envelope

    def record(self, envelope: EventEnvelope) -> None:
        """Take in an event written elsewhere (read back from the log). It must hold the
        next sequence: one this view already holds is `SequenceTaken` (the view or its
        writer is stale), one past it `SequenceGap`."""
        self._check_intent(envelope)
        if envelope.sequence < self._next_sequence:
            raise SequenceTaken(
                f"intent {self.intent.id}: sequence {envelope.sequence} is taken"
                f" ({envelope.event_type} {envelope.event_id} comes too late)"
            )
        if envelope.sequence > self._next_sequence:
            raise SequenceGap(
                f"intent {self.intent.id}: sequence {envelope.sequence} follows"
                f" {self._next_sequence - 1}"
            )
        self._follow(envelope)

    def _follow(self, envelope: EventEnvelope) -> None:
        self._next_sequence = envelope.sequence + 1
        self._last_event_id = envelope.event_id

    def _check_intent(self, envelope: EventEnvelope) -> None:
        if envelope.intent_id != self.intent.id:
            raise ValueError(f"event {envelope.event_id} belongs to another intent")
