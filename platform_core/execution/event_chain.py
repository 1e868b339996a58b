"""The envelopes one execution publishes, appended through the intent's `IntentAggregate`
(so consecutive sequences, each caused by the one before), with ids derived from what the
event is about (never random), so that a re-run after a crash publishes byte-for-byte the
same ids and every deduplicating store keeps one copy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from platform_core.intent.aggregate import IntentAggregate
from platform_core.types.events import DomainEvent, EventEnvelope
from platform_core.types.ids import deterministic_id

INTENT_LEVEL = "intent"  # the step slot of events about the whole intent


def execution_event_id(
    intent_id: UUID, plan_id: UUID, event_type: str, step_index: int | None
) -> UUID:
    """One id per (intent, plan, event type, step): a new plan gets new ids, a re-run not."""
    slot = INTENT_LEVEL if step_index is None else step_index
    return deterministic_id(intent_id, plan_id, event_type, slot)


class EventChain:
    """One execution's appends to the intent's aggregate, stamped by `clock`; not
    thread-safe (one per `execute`)."""

    def __init__(
        self, events: IntentAggregate, *, plan_id: UUID, clock: Callable[[], datetime]
    ) -> None:
        self.events = events
        self.plan_id = plan_id
        self._clock = clock

    @property
    def envelopes(self) -> tuple[EventEnvelope, ...]:
        return self.events.appended

    @property
    def next_sequence(self) -> int:
        return self.events.next_sequence

    def append(self, event: DomainEvent, step_index: int | None = None) -> EventEnvelope:
        event_id = execution_event_id(
            self.events.intent.id, self.plan_id, event.event_type(), step_index
        )
        return self.events.append(event, event_id=event_id, occurred_at=self._clock())
