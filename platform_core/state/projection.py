"""The read model of one intent as a pure fold over its events, in sequence order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from platform_core.errors import ErrorCode, PlatformError
from platform_core.types import (
    EventEnvelope,
    ExecutionCompleted,
    ExecutionStepConfirmed,
    ExecutionStepSubmitted,
    IntentDenied,
    IntentFailed,
    IntentStatus,
    IntentSubmitted,
    PlanCreated,
)


class OutOfOrder(PlatformError, ValueError):
    """The event does not follow the view's last applied sequence."""

    code = ErrorCode.OUT_OF_ORDER


@dataclass(frozen=True)
class IntentView:
    intent_id: str
    strategy_id: str
    status: IntentStatus
    last_sequence: int
    created_at: datetime
    updated_at: datetime
    priority: int | None = None
    plan_id: str | None = None
    tx_hashes: tuple[str, ...] = ()
    reason_codes: tuple[str, ...] = ()
    error: str | None = None
    amount_in: int | None = None
    amount_out: int | None = None
    intent: dict[str, Any] | None = field(default=None, compare=True)
    # The gate's reservation (lower-case token -> base units) and the wallet it holds it in.
    wallet: str | None = None
    reserved: dict[str, int] = field(default_factory=dict)
    last_block: int | None = None  # the highest block a step of the intent was mined in

    def to_hash(self) -> dict[str, str]:
        """Flat string fields for a Redis hash (every field, every time)."""
        return {
            "intent_id": self.intent_id,
            "strategy_id": self.strategy_id,
            "status": self.status.value,
            "last_sequence": str(self.last_sequence),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "priority": "" if self.priority is None else str(self.priority),
            "plan_id": self.plan_id or "",
            "tx_hashes": json.dumps(list(self.tx_hashes)),
            "reason_codes": json.dumps(list(self.reason_codes)),
            "error": self.error or "",
            "amount_in": "" if self.amount_in is None else str(self.amount_in),
            "amount_out": "" if self.amount_out is None else str(self.amount_out),
            "intent": "" if self.intent is None else json.dumps(self.intent, sort_keys=True),
            "wallet": self.wallet or "",
            "reserved": json.dumps({token: str(amount) for token, amount in self.reserved.items()}),
            "last_block": "" if self.last_block is None else str(self.last_block),
        }

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> IntentView:
        def opt_int(name: str) -> int | None:
            return int(data[name]) if data.get(name) else None

        return cls(
            intent_id=data["intent_id"],
            strategy_id=data["strategy_id"],
            status=IntentStatus(data["status"]),
            last_sequence=int(data["last_sequence"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
            priority=opt_int("priority"),
            plan_id=data.get("plan_id") or None,
            tx_hashes=tuple(json.loads(data.get("tx_hashes") or "[]")),
            reason_codes=tuple(json.loads(data.get("reason_codes") or "[]")),
            error=data.get("error") or None,
            amount_in=opt_int("amount_in"),
            amount_out=opt_int("amount_out"),
            intent=json.loads(data["intent"]) if data.get("intent") else None,
            wallet=data.get("wallet") or None,
            reserved={t: int(a) for t, a in json.loads(data.get("reserved") or "{}").items()},
            last_block=opt_int("last_block"),
        )


def apply(view: IntentView | None, env: EventEnvelope) -> IntentView:
    """The view after `env`; `OutOfOrder` unless env.sequence is the next one."""
    expected = 0 if view is None else view.last_sequence + 1
    if env.sequence != expected:
        raise OutOfOrder(
            f"intent {env.intent_id}: got sequence {env.sequence}, expected {expected}"
        )
    event = env.event()
    if view is None:
        view = IntentView(
            intent_id=str(env.intent_id),
            strategy_id=str(env.strategy_id),
            status=IntentStatus.PENDING,
            last_sequence=-1,
            created_at=env.occurred_at,
            updated_at=env.occurred_at,
        )
    changes: dict[str, object] = {"last_sequence": env.sequence, "updated_at": env.occurred_at}
    if event.status_after is not None:
        changes["status"] = event.status_after
    match event:
        case IntentSubmitted():
            changes["priority"] = event.priority
            changes["intent"] = event.intent.model_dump(mode="json", by_alias=True)
            changes["wallet"] = event.wallet
            changes["reserved"] = dict(event.reserved)
        case IntentDenied():
            changes["reason_codes"] = tuple(event.reason_codes)
        case PlanCreated():
            changes["plan_id"] = str(event.plan.plan_id)
        case ExecutionStepSubmitted():
            changes["tx_hashes"] = (*view.tx_hashes, event.tx_hash)
        case ExecutionStepConfirmed():
            changes["last_block"] = max(view.last_block or 0, event.block_number)
        case ExecutionCompleted():
            changes["amount_in"] = event.amount_in
            changes["amount_out"] = event.amount_out
        case IntentFailed():
            changes["error"] = event.reason
        case _:
            pass
    return replace(view, **changes)  # type: ignore[arg-type]


def fold(events: list[EventEnvelope], view: IntentView | None = None) -> IntentView | None:
    """Apply the contiguous run of `events` that follows `view`; skip ones already in it."""
    next_sequence = 0 if view is None else view.last_sequence + 1
    for env in sorted(events, key=lambda e: e.sequence):
        if env.sequence < next_sequence:
            continue  # already applied: a duplicate
        if env.sequence > next_sequence:
            break  # a gap: stop at the last contiguous event
        view = apply(view, env)
        next_sequence += 1
    return view
