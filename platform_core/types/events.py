"""Domain events: one class per lifecycle transition, carried in one envelope.

The envelope is serialised once (`EventEnvelope.to_bytes`), and the same bytes go to NATS
and to PostgreSQL, so every store sees an identical record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from platform_core.types.common import Wei
from platform_core.types.ids import uuid7
from platform_core.types.intent import Intent, IntentStatus
from platform_core.types.plan import ExecutionPlan

SCHEMA_VERSION = 1


class DomainEvent(BaseModel):
    """Base of every event payload. `status_after` is the intent status the event moves
    the intent to (None: the status does not change)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status_after: ClassVar[IntentStatus | None] = None

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__


class IntentSubmitted(DomainEvent):
    """The intent passed validation; the payload can rebuild it in full."""

    status_after = IntentStatus.PENDING
    intent: Intent
    priority: int | None = Field(default=None, ge=1, le=10)  # None: not scored
    # What the gate reserved of the wallet (lower-case token address -> base units), so the
    # reservation ledger can be rebuilt from the log exactly; empty in older events.
    reserved: dict[str, Wei] = Field(default_factory=dict)
    wallet: str | None = None  # the wallet the reservation is held against


class IntentDenied(DomainEvent):
    status_after = IntentStatus.DENIED
    reason_codes: list[str] = Field(min_length=1)
    details: list[str] = Field(default_factory=list)


class ChildOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0)
    token_in: str
    token_out: str
    amount_in: Wei
    not_before: datetime | None = None
    # ACQUIRE orders: the output the input was sized to reach (None: an exact-input sale).
    target_amount_out: Wei | None = None


class IntentDecomposed(DomainEvent):
    status_after = IntentStatus.PROCESSING
    child_orders: list[ChildOrder] = Field(min_length=1)


class PlanCreated(DomainEvent):
    status_after = IntentStatus.PROCESSING
    plan: ExecutionPlan


class PrerequisiteTx(BaseModel):
    """A transaction a step had mined before its swap (its token approval), as its receipt
    shows it, gas included: with these, a step's events name every transaction the step put
    on chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str  # "approve"; "cancel" when our zero-value self-transfer took its nonce
    tx_hash: str = Field(pattern=r"^0x[0-9a-f]{64}$")
    block_number: int = Field(ge=0)
    gas_used: int = Field(ge=0)
    effective_gas_price: Wei
    reverted: bool = False


class FrontRun(BaseModel):
    """Another sender's swap on one of a step's pools, earlier in the block that mined the
    step's swap (the nearest such one before it), as the chain monitor found it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tx_hash: str = Field(pattern=r"^0x[0-9a-f]{64}$")
    index: int = Field(ge=0)  # its position in the block
    sender: str
    pool: str  # the pool both swapped on (lower-case address)
    swaps_before: int = Field(default=1, ge=1)  # transactions before ours swapping there


class ExecutionStepSubmitted(DomainEvent):
    plan_id: UUID
    step_id: UUID
    tx_hash: str = Field(pattern=r"^0x[0-9a-f]{64}$")
    wallet: str
    nonce: int = Field(ge=0)
    # What the step had mined before this swap, in nonce order; empty in older events.
    prerequisites: list[PrerequisiteTx] = Field(default_factory=list)


class ExecutionStepConfirmed(DomainEvent):
    plan_id: UUID
    step_id: UUID
    tx_hash: str = Field(pattern=r"^0x[0-9a-f]{64}$")
    block_number: int = Field(ge=0)
    amount_in: Wei
    amount_out: Wei
    gas_used: int = Field(ge=0)
    effective_gas_price: Wei
    # A swap by someone else on one of the step's pools earlier in the same block, as the
    # chain monitor saw it; None when there was none, or no monitor had seen the block.
    front_run: FrontRun | None = None


class ExecutionStepFailed(DomainEvent):
    plan_id: UUID
    step_id: UUID
    tx_hash: str | None = None  # None: it failed before broadcast (e.g. pre-flight)
    reason: str
    reverted: bool = False
    # What the step had mined before its swap when no `ExecutionStepSubmitted` of the step
    # named it (the swap was never broadcast); empty otherwise, and in older events.
    prerequisites: list[PrerequisiteTx] = Field(default_factory=list)


class ExecutionCompleted(DomainEvent):
    status_after = IntentStatus.COMPLETED
    plan_id: UUID
    amount_in: Wei
    amount_out: Wei


class IntentFailed(DomainEvent):
    status_after = IntentStatus.FAILED
    reason: str


class IntentExpired(DomainEvent):
    status_after = IntentStatus.EXPIRED
    deadline: datetime
    steps_completed: int = Field(ge=0)


class IntentCancelled(DomainEvent):
    status_after = IntentStatus.CANCELLED
    steps_cancelled: int = Field(ge=0)


EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.event_type(): cls
    for cls in (
        IntentSubmitted,
        IntentDenied,
        IntentDecomposed,
        PlanCreated,
        ExecutionStepSubmitted,
        ExecutionStepConfirmed,
        ExecutionStepFailed,
        ExecutionCompleted,
        IntentFailed,
        IntentExpired,
        IntentCancelled,
    )
}


class EventEnvelope(BaseModel):
    """The record every event travels in (NATS message body, PostgreSQL row)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID = Field(default_factory=uuid7)
    event_type: str
    intent_id: UUID
    strategy_id: UUID
    sequence: int = Field(ge=0)  # per intent, gapless from 0
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    causation_id: UUID | None = None
    payload: dict[str, Any]

    # Caches, not state: the bytes this envelope was read from (so every store keeps the
    # exact bytes that travelled) and its decoded payload.
    _raw: bytes | None = PrivateAttr(default=None)
    _event: DomainEvent | None = PrivateAttr(default=None)

    @classmethod
    def wrap(
        cls,
        event: DomainEvent,
        *,
        intent_id: UUID,
        strategy_id: UUID,
        sequence: int,
        causation_id: UUID | None = None,
        event_id: UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> EventEnvelope:
        fields: dict[str, Any] = {}
        if event_id is not None:
            fields["event_id"] = event_id
        if occurred_at is not None:
            fields["occurred_at"] = occurred_at
        return cls(
            event_type=event.event_type(),
            intent_id=intent_id,
            strategy_id=strategy_id,
            sequence=sequence,
            causation_id=causation_id,
            payload=event.model_dump(mode="json", by_alias=True),
            **fields,
        )

    def event(self) -> DomainEvent:
        """The typed payload; ValueError for an event type this version does not know."""
        if self._event is None:
            cls = EVENT_TYPES.get(self.event_type)
            if cls is None:
                raise ValueError(f"unknown event type {self.event_type!r}")
            self._event = cls.model_validate(self.payload)
        return self._event

    def subject(self, prefix: str = "events") -> str:
        return f"{prefix}.{self.event_type}"

    def to_bytes(self) -> bytes:
        if self._raw is None:
            self._raw = self.model_dump_json().encode()
        return self._raw

    @classmethod
    def from_bytes(cls, data: bytes) -> EventEnvelope:
        envelope = cls.model_validate_json(data)
        envelope._raw = bytes(data)
        return envelope
