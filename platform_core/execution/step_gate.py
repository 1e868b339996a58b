"""Whether a step may be sent now: a pure decision on the clock, the deadline, the step's
start time and the cancel flag, so it is tested without waiting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from platform_core.types.intent import Intent
from platform_core.types.plan import ExecutionStep


class Gate(StrEnum):
    GO = "go"
    WAIT = "wait"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class GateDecision:
    gate: Gate
    wait_s: float = 0.0  # with WAIT: until not_before, never past the deadline


def step_deadline(intent: Intent, step: ExecutionStep) -> datetime:
    """The earlier of the intent's window end and the step's own deadline."""
    return min(intent.deadline, step.deadline)


def decide(
    *, now: datetime, deadline: datetime, not_before: datetime | None, cancelled: bool
) -> GateDecision:
    # Expiry first: past the deadline the intent has expired whether or not it was cancelled.
    if now >= deadline:
        return GateDecision(Gate.EXPIRED)
    if cancelled:
        return GateDecision(Gate.CANCELLED)
    if not_before is not None and now < not_before:
        return GateDecision(Gate.WAIT, (min(not_before, deadline) - now).total_seconds())
    return GateDecision(Gate.GO)
