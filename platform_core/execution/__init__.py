"""Planning: route child orders through the Rust engine into an `ExecutionPlan`."""

from platform_core.errors import PlanningError
from platform_core.execution.input_sizing import (
    ExactOutputSizer,
    InsufficientLiquidityError,
    NoPathError,
)
from platform_core.execution.orchestrator import (
    EventPublisher,
    ExecutionOrchestrator,
    ExecutionResult,
    ExecutionUndecided,
)
from platform_core.execution.planner import ExecutionPlanner, plan_events

__all__ = [
    "EventPublisher",
    "ExactOutputSizer",
    "ExecutionOrchestrator",
    "ExecutionPlanner",
    "ExecutionResult",
    "ExecutionUndecided",
    "InsufficientLiquidityError",
    "NoPathError",
    "PlanningError",
    "plan_events",
]
