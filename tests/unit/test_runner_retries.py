"""The execution runner runs a plan again only when another run can help: an error that no
retry can mend (`retryable=False`) ends the runs at once; a retryable one is retried."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

from platform_core.chain.errors import JournalChainMismatch, TransportError
from platform_core.execution.runner import ExecutionRunner

WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


class NoCancels:
    async def requested(self, intent_ids: Sequence[UUID]) -> set[UUID]:
        return set()


class FailingOrchestrator:
    """Raises `errors` in turn, one per run; then there is nothing left to raise."""

    wallet = WALLET

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.runs = 0

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.runs += 1
        raise self.errors.pop(0)


def handoff() -> Any:
    return SimpleNamespace(intent=SimpleNamespace(id=uuid4()), plan=None, plan_created=None,
                           wallet=WALLET)  # fmt: skip


async def test_an_error_no_retry_can_mend_is_not_run_again() -> None:
    orchestrator = FailingOrchestrator(
        TransportError("node away"), JournalChainMismatch("journal x does not match the chain")
    )
    runner = ExecutionRunner(orchestrator, NoCancels(), retry_delays_s=(0.0,))  # type: ignore[arg-type]
    work = handoff()
    assert runner.start(work)
    assert await runner.wait(work.intent.id) is None  # no verdict from the runner itself
    assert orchestrator.runs == 2 and orchestrator.errors == []  # retried once, then ended
    assert work.intent.id not in runner.running
