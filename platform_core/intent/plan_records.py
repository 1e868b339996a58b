"""`PlanRecords`: wait until the event log records an intent's plan, for many intents with
one read of the log per poll.

The processor hands a plan to an execution actor only once the log holds it. Publishing is
not enough: the log refuses a stale writer's events (`causality`), and a processor can be
one, when its intent's IntentSubmitted was redelivered to another processor that ended the
intent first. A plan handed off before the log took it could be executed for an intent
that had already ended. `recorded` answers the log's PlanCreated of the intent (which is
the one to execute: another run's, when two planned it), or None when the log ended the
intent, or raises `LogBehind` (retryable) when the log shows neither within the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol
from uuid import UUID

from platform_core.errors import ErrorCode, PlatformError
from platform_core.types.events import EventEnvelope, PlanCreated

log = logging.getLogger(__name__)

_PLAN = PlanCreated.event_type()


class LogBehind(PlatformError):
    """The log did not show the event within the wait (the coordinator is behind or away):
    the work is retried later."""

    code = ErrorCode.LOG_BEHIND
    retryable = True


class IntentsLog(Protocol):
    async def intents_events_after(
        self, after: dict[UUID, int]
    ) -> dict[UUID, list[EventEnvelope]]: ...


def _verdict(events: list[EventEnvelope]) -> tuple[bool, EventEnvelope | None]:
    """(decided, the plan to execute) from what the log holds of one intent."""
    if any(_is_final(e) for e in events):
        return True, None
    plan = next((e for e in events if e.event_type == _PLAN), None)
    return plan is not None, plan


def _is_final(envelope: EventEnvelope) -> bool:
    status = envelope.event().status_after
    return status is not None and status.is_terminal


class PlanRecords:
    def __init__(self, intents_log: IntentsLog, *, poll_s: float = 0.02, wait_s: float = 15.0):
        self._log = intents_log
        self._poll_s = poll_s
        self.wait_s = wait_s
        self._waiting: dict[UUID, asyncio.Future[EventEnvelope | None]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def recorded(self, intent_id: UUID) -> EventEnvelope | None:
        """The intent's PlanCreated as the log holds it, or None once the log ended it."""
        future = self._waiting.get(intent_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[intent_id] = future
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.wait_s)
        except TimeoutError:
            raise LogBehind(
                f"intent {intent_id}: the log shows neither its plan nor its end after"
                f" {self.wait_s:.0f} s"
            ) from None
        finally:
            if self._waiting.get(intent_id) is future:
                self._waiting.pop(intent_id, None)

    async def _poll(self) -> None:
        while self._waiting:
            waiting = dict(self._waiting)
            try:
                found = await self._log.intents_events_after(dict.fromkeys(waiting, 0))
            except Exception as exc:  # the log is away: the waits time out, or it returns
                log.warning("plan records: reading the log failed (%r)", exc)
                found = {}
            for intent_id, future in waiting.items():
                decided, plan = _verdict(found.get(intent_id, []))
                if decided and not future.done():
                    future.set_result(plan)
            await asyncio.sleep(self._poll_s)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
