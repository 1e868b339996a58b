"""`ExecutionRunner`: the execution actor's core, running plans for one (chain, wallet),
whatever their venues.

Each hand-off runs as its own task through the `ExecutionOrchestrator` (the wallet's plans
run side by side, their transactions pipelined through one sender); one poll loop reads
the cancel flags of every running intent and sets the orchestrator's cancel event, so a
cancel stops the child orders not yet sent. An intent runs at most once at a time here.

A run that ends without a verdict (the chain did not decide a step, the RPC failed) is
retried with backoff: re-running a plan is safe (the journal never signs a step twice and
event ids repeat), and past the deadline the re-run ends the intent EXPIRED. An error no
retry can mend (a `PlatformError` with `retryable=False`) is not retried: raised in a step,
the orchestrator has already made it the intent's verdict (`IntentFailed` with its code).

On start, `recover` checks the journal against the chain, reconciles it (every open step,
then the nonce) and resumes every plan the event log holds without a final event: what
happened while the actor was down is published with the same ids a live run would have
used. A journal that does not match the chain is logged as an error and nothing of it is
re-sent; the resumed plans then end with that error as their verdict.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from uuid import UUID

from platform_core.errors import PlatformError
from platform_core.execution.orchestrator import ExecutionOrchestrator, ExecutionResult
from platform_core.intent.processor import DEFAULT_PRIORITY, CancelFlags, Handoff
from platform_core.types.events import EventEnvelope, IntentSubmitted, PlanCreated

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0)
MAX_RUNS = 20


ResultHook = Callable[[Handoff, ExecutionResult], None]


def handoffs_from_log(
    open_plans: Iterable[tuple[EventEnvelope, EventEnvelope]],
    wallets: Mapping[UUID, str],
    *,
    chain_id: int,
    wallet: str,
) -> list[Handoff]:
    """The open (IntentSubmitted, PlanCreated) pairs on `chain_id` whose strategy trades from
    `wallet`, whatever venues their steps use: one actor owns the wallet's nonces."""
    handoffs = []
    for submitted, planned in open_plans:
        event, plan_event = submitted.event(), planned.event()
        assert isinstance(event, IntentSubmitted) and isinstance(plan_event, PlanCreated)
        owner = wallets.get(submitted.strategy_id)
        if owner is None or owner.lower() != wallet.lower():
            continue
        if event.intent.chain_id != chain_id:
            continue
        handoffs.append(
            Handoff(
                intent=event.intent,
                plan=plan_event.plan,
                plan_created=planned,
                wallet=owner,
                venue=plan_event.plan.steps[0].venue,
                priority=event.priority or DEFAULT_PRIORITY,
                submitted_at=submitted.occurred_at,
            )
        )
    return handoffs


class ExecutionRunner:
    def __init__(
        self,
        orchestrator: ExecutionOrchestrator,
        cancels: CancelFlags,
        *,
        on_result: ResultHook | None = None,
        cancel_poll_s: float = 0.25,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
    ) -> None:
        self.orchestrator = orchestrator
        self.cancels = cancels
        self.on_result = on_result
        self.cancel_poll_s = cancel_poll_s
        self.retry_delays_s = tuple(retry_delays_s)
        self._running: dict[UUID, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self.results: dict[UUID, ExecutionResult] = {}  # the last verdict per intent

    @property
    def wallet(self) -> str:
        return self.orchestrator.wallet

    @property
    def running(self) -> set[UUID]:
        return set(self._running)

    def start(self, handoff: Handoff) -> bool:
        """Run the hand-off unless it runs already; False when it does."""
        if handoff.wallet.lower() != self.wallet.lower():
            raise ValueError(f"hand-off for wallet {handoff.wallet}, this runner is {self.wallet}")
        intent_id = handoff.intent.id
        if intent_id in self._running:
            return False
        cancelled = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._run(handoff, cancelled))
        self._running[intent_id] = (task, cancelled)
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch_cancels())
        return True

    async def recover(self, handoffs: Iterable[Handoff]) -> int:
        """Check the journal against the chain and settle its open steps, then resume the
        given plans."""
        try:
            outcomes = await self.orchestrator.sender.recover()
        except PlatformError as exc:
            if exc.retryable:
                raise
            log.error("recovery: %s: %s", exc.code, exc)
            outcomes = []
        if outcomes:
            log.info("recovery: %d journalled steps reconciled", len(outcomes))
        return sum(self.start(handoff) for handoff in handoffs)

    async def wait(self, intent_id: UUID) -> ExecutionResult | None:
        """Until the intent's run here ends; its verdict (None if it never ran here)."""
        entry = self._running.get(intent_id)
        if entry is not None:
            await asyncio.shield(entry[0])
        return self.results.get(intent_id)

    async def stop(self) -> None:
        """Stop every run where it is (a later `recover` resumes them): for shutdown."""
        tasks = [task for task, _ in self._running.values()]
        if self._watcher is not None:
            tasks.append(self._watcher)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, handoff: Handoff, cancelled: asyncio.Event) -> None:
        intent_id = handoff.intent.id
        extra = {"intent_id": str(intent_id)}
        try:
            for attempt in range(MAX_RUNS):
                try:
                    result = await self.orchestrator.execute(
                        handoff.intent,
                        handoff.plan,
                        after=handoff.plan_created,
                        cancelled=cancelled,
                    )
                except Exception as exc:  # undecided, or the chain unreachable: run it again
                    if isinstance(exc, PlatformError) and not exc.retryable:
                        log.error("intent %s: run %d ended on %s: %s; it is not run again",
                                  intent_id, attempt + 1, exc.code, exc, extra=extra)  # fmt: skip
                        return
                    delay = self.retry_delays_s[min(attempt, len(self.retry_delays_s) - 1)]
                    log.warning("intent %s: run %d ended without a verdict (%r); again in %.0f s",
                                intent_id, attempt + 1, exc, delay, extra=extra)  # fmt: skip
                    await asyncio.sleep(delay)
                    continue
                self.results[intent_id] = result
                log.info("intent %s: %s after %d confirmed steps", intent_id, result.status,
                         result.steps_confirmed, extra=extra)  # fmt: skip
                if self.on_result is not None:
                    try:
                        self.on_result(handoff, result)
                    except Exception as exc:  # a metrics hook must not end the bookkeeping
                        log.warning("intent %s: result hook failed: %r", intent_id, exc,
                                    extra=extra)  # fmt: skip
                return
            log.error("intent %s: no verdict after %d runs; left open for the next recovery",
                      intent_id, MAX_RUNS, extra=extra)  # fmt: skip
        finally:
            self._running.pop(intent_id, None)

    async def _watch_cancels(self) -> None:
        while self._running:
            waiting = [i for i, (_, flag) in self._running.items() if not flag.is_set()]
            try:
                for intent_id in await self.cancels.requested(waiting):
                    entry = self._running.get(intent_id)
                    if entry is not None:
                        entry[1].set()
            except Exception as exc:  # Redis away: cancels wait, the runs go on
                log.warning("cancel flags unreadable: %r", exc)
            await asyncio.sleep(self.cancel_poll_s)
