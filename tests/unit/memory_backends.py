"""An in-process stand-in for the services, for the unit tier only: published envelopes in
a list, reads answered by folding them, keys and idempotency claims in dicts, a rate limit
that counts, and a gate that accepts (or denies with preset codes) without a chain.
Integration and e2e tests use the real NATS, PostgreSQL, Redis, devnet and gate."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

from platform_core.api.backends import GateDecision
from platform_core.api.idempotency import Claim, IdempotencyConflict
from platform_core.api.rate_limit import Decision
from platform_core.state.projection import IntentView, fold
from platform_core.types import (
    DomainEvent,
    EventEnvelope,
    Intent,
    IntentDenied,
    IntentStatus,
    IntentSubmission,
    IntentSubmitted,
)


class MemoryBackends:
    def __init__(self, *, requests_allowed: int = 10**9) -> None:
        self.published: list[EventEnvelope] = []
        self.tokens: dict[str, UUID] = {}
        self.claims: dict[tuple[UUID, str], tuple[bytes, Claim]] = {}
        self.requests_allowed = requests_allowed
        self.deny_codes: list[str] = []
        self.decisions = 0
        self.cancel_flags: set[UUID] = set()
        self.released: list[UUID] = []  # intents whose reservation the API gave back

    async def decide(self, submission: IntentSubmission, strategy_id: UUID) -> GateDecision:
        self.decisions += 1
        intent = Intent.from_submission(submission)
        event: DomainEvent
        if self.deny_codes:
            event = IntentDenied(reason_codes=self.deny_codes)
        else:
            event = IntentSubmitted(intent=intent, priority=5)
        envelope = EventEnvelope.wrap(
            event, intent_id=intent.id, strategy_id=intent.strategy_id, sequence=0
        )
        details = [f"{code}: denied in the unit tier" for code in self.deny_codes]
        priority = None if self.deny_codes else 5
        return GateDecision(envelope, intent, priority, list(self.deny_codes), details)

    async def authenticate(self, token: str) -> UUID | None:
        return self.tokens.get(token)

    async def take_rate_limit(self, strategy_id: UUID) -> Decision:
        self.requests_allowed -= 1
        return Decision(self.requests_allowed >= 0, 1.0)

    async def find_idempotency(self, strategy_id: UUID, key: str, body_hash: bytes) -> Claim | None:
        existing = self.claims.get((strategy_id, key))
        if existing is None:
            return None
        if existing[0] != body_hash:
            raise IdempotencyConflict("this Idempotency-Key was used with a different body")
        return replace(existing[1], first=False)

    async def claim_idempotency(
        self, strategy_id: UUID, key: str, body_hash: bytes, status_code: int,
        body: dict[str, Any], envelope: bytes,
    ) -> Claim:  # fmt: skip
        found = await self.find_idempotency(strategy_id, key, body_hash)
        if found is not None:
            return found
        claim = Claim(status_code, body, envelope, first=True)
        self.claims[(strategy_id, key)] = (body_hash, claim)
        return claim

    async def publish(self, envelope: EventEnvelope) -> None:
        if all(e.event_id != envelope.event_id for e in self.published):  # JetStream dedupe
            self.published.append(envelope)

    async def release(self, intent_id: UUID) -> None:
        self.released.append(intent_id)

    async def intent_view(self, intent_id: UUID) -> tuple[IntentView | None, str]:
        return fold(await self.intent_events(intent_id)), "event_log"

    async def request_cancel(self, intent_id: UUID) -> bool:
        first = intent_id not in self.cancel_flags
        self.cancel_flags.add(intent_id)
        return first

    async def intent_events(self, intent_id: UUID) -> list[EventEnvelope]:
        return sorted(
            (e for e in self.published if e.intent_id == intent_id), key=lambda e: e.sequence
        )

    async def list_intents(
        self, strategy_id: UUID, status: IntentStatus | None, limit: int
    ) -> list[IntentView]:
        ids = dict.fromkeys(e.intent_id for e in self.published if e.strategy_id == strategy_id)
        views = [(await self.intent_view(i))[0] for i in ids]
        return [v for v in views if v and (status is None or v.status is status)][:limit]

    async def close(self) -> None:
        return None
