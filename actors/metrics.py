"""The platform's metrics on the Ray dashboard (`ray.util.metrics`, exported by each node's
metrics agent to Prometheus and Grafana).

- `sep_intents_total{status}`: intents entering each status (counted by the coordinator,
  which sees every event once it is durable).
- `sep_stage_seconds{stage}`: latency per stage: `plan` (submit to PlanCreated),
  `broadcast` (submit to the first transaction out), `final` (submit to the verdict).
- `sep_route_fill_pct`: per confirmed step, what the receipt shows as a percentage of the
  plan's quote (100: as quoted; below: less than quoted).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache

from ray.util.metrics import Counter, Histogram

from platform_core.execution.orchestrator import ExecutionResult
from platform_core.intent.processor import Handoff
from platform_core.types.events import (
    EventEnvelope,
    ExecutionStepConfirmed,
    ExecutionStepSubmitted,
    IntentDecomposed,
)

_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900]
# Ray's histograms take positive boundaries only: the fill is a percentage, not a delta.
_FILL_PCT = [90, 95, 98, 99, 99.5, 99.8, 99.9, 99.99, 100, 100.01, 100.1, 101, 105]


@cache
def intents_total() -> Counter:
    return Counter("sep_intents_total", "Intents entering each status", tag_keys=("status",))


@cache
def stage_seconds() -> Histogram:
    return Histogram(
        "sep_stage_seconds", "Seconds from submission to each stage", boundaries=_SECONDS,
        tag_keys=("stage",),
    )  # fmt: skip


@cache
def route_fill_pct() -> Histogram:
    return Histogram(
        "sep_route_fill_pct", "Output received per step, as a percentage of the quote",
        boundaries=_FILL_PCT, tag_keys=("venue",),
    )  # fmt: skip


def count_statuses(envelopes: Sequence[EventEnvelope]) -> None:
    for envelope in envelopes:
        status = envelope.event().status_after
        # Decomposed and PlanCreated both mean PROCESSING: count the intent once.
        if status is not None and envelope.event_type != IntentDecomposed.event_type():
            intents_total().inc(1.0, tags={"status": status.value})


def observe_stage(stage: str, since: datetime, at: datetime | None = None) -> None:
    elapsed = ((at or datetime.now(UTC)) - since).total_seconds()
    stage_seconds().observe(max(elapsed, 0.0), tags={"stage": stage})


def observe_execution(handoff: Handoff, result: ExecutionResult) -> None:
    """Broadcast and verdict latency and route quality, from what one run published."""
    expected = {step.step_id: step.expected_amount_out for step in handoff.plan.steps}
    first_out = next(
        (e for e in result.events if e.event_type == ExecutionStepSubmitted.event_type()), None
    )
    if first_out is not None:
        observe_stage("broadcast", handoff.submitted_at, first_out.occurred_at)
    observe_stage("final", handoff.submitted_at, result.events[-1].occurred_at)
    for envelope in result.events:
        event = envelope.event()
        if isinstance(event, ExecutionStepConfirmed) and expected.get(event.step_id):
            fill = event.amount_out / expected[event.step_id] * 100
            route_fill_pct().observe(fill, tags={"venue": handoff.venue})
