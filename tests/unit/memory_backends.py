"""An in-process stand-in for the services, for the unit tier only: it keeps published
envelopes in a list and answers reads by folding them. Integration and e2e tests use the
real NATS, PostgreSQL and Redis."""

from __future__ import annotations

from uuid import UUID

from platform_core.state.projection import IntentView, fold
from platform_core.types import EventEnvelope


class MemoryBackends:
    def __init__(self) -> None:
        self.published: list[EventEnvelope] = []

    async def publish(self, envelope: EventEnvelope) -> None:
        self.published.append(envelope)

    async def intent_view(self, intent_id: UUID) -> tuple[IntentView | None, str]:
        return fold(await self.intent_events(intent_id)), "event_log"

    async def intent_events(self, intent_id: UUID) -> list[EventEnvelope]:
        return sorted(
            (e for e in self.published if e.intent_id == intent_id), key=lambda e: e.sequence
        )

    async def close(self) -> None:
        return None
