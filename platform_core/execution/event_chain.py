"""The envelopes one execution publishes: consecutive sequences, each caused by the one
before, and ids derived from what the event is about (never random), so that a re-run after
a crash publishes byte-for-byte the same ids and every deduplicating store keeps one copy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

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
    """Wraps events for one intent's execution; not thread-safe (one per `execute`)."""

    def __init__(
        self,
        *,
        intent_id: UUID,
        strategy_id: UUID,
        plan_id: UUID,
        sequence_start: int,
        causation_id: UUID | None,
        clock: Callable[[], datetime],
    ) -> None:
        if sequence_start < 0:
            raise ValueError("sequence_start must be >= 0")
        self.intent_id = intent_id
        self.strategy_id = strategy_id
        self.plan_id = plan_id
        self.next_sequence = sequence_start
        self.last_event_id = causation_id
        self._clock = clock
        self.envelopes: list[EventEnvelope] = []

    def wrap(self, event: DomainEvent, step_index: int | None = None) -> EventEnvelope:
        envelope = EventEnvelope.wrap(
            event,
            intent_id=self.intent_id,
            strategy_id=self.strategy_id,
            sequence=self.next_sequence,
            causation_id=self.last_event_id,
            event_id=execution_event_id(
                self.intent_id, self.plan_id, event.event_type(), step_index
            ),
            occurred_at=self._clock(),
        )
        self.next_sequence += 1
        self.last_event_id = envelope.event_id
        self.envelopes.append(envelope)
        return envelope
