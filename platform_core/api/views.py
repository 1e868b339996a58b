"""Response bodies of the read endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from platform_core.state.projection import IntentView
from platform_core.types import EventEnvelope, IntentStatus


class IntentStatusView(BaseModel):
    intent_id: UUID
    strategy_id: UUID
    status: IntentStatus
    priority: int | None
    plan_id: UUID | None
    tx_hashes: list[str]
    reason_codes: list[str]
    error: str | None
    amount_in: str | None  # base units, as decimal strings
    amount_out: str | None
    created_at: datetime
    updated_at: datetime
    last_sequence: int
    intent: dict[str, Any] | None
    source: Literal["read_model", "event_log"]

    @classmethod
    def from_view(cls, view: IntentView, source: str) -> IntentStatusView:
        return cls(
            intent_id=UUID(view.intent_id),
            strategy_id=UUID(view.strategy_id),
            status=view.status,
            priority=view.priority,
            plan_id=UUID(view.plan_id) if view.plan_id else None,
            tx_hashes=list(view.tx_hashes),
            reason_codes=list(view.reason_codes),
            error=view.error,
            amount_in=None if view.amount_in is None else str(view.amount_in),
            amount_out=None if view.amount_out is None else str(view.amount_out),
            created_at=view.created_at,
            updated_at=view.updated_at,
            last_sequence=view.last_sequence,
            intent=view.intent,
            source=source,  # type: ignore[arg-type]
        )


class IntentEventsPage(BaseModel):
    intent_id: UUID
    events: list[EventEnvelope]


class IntentList(BaseModel):
    intents: list[IntentStatusView]


class CancelReceipt(BaseModel):
    """A cancel request taken: the child orders not yet sent will not be; the intent's
    `IntentCancelled` event (or its verdict, if that came first) follows."""

    intent_id: UUID
    status: IntentStatus  # as of the request
    cancel_requested: bool
    first_request: bool  # False: cancel had been requested before
    links: dict[str, str]
