"""Actors that start their work in the constructor and report readiness separately.

An async actor's constructor runs on its event loop, so the work starts there: a restarted
incarnation resumes by itself, with no caller having to poke it. `ready` waits for the
start-up to finish, or raises what stopped it.

Once started, the work runs for the actor's life. If it fails after that, the process exits
(`os._exit(1)`) so that Ray restarts the actor (every such actor has `max_restarts=-1`): an
actor whose work died must not live on idle, looking healthy.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundStart:
    def __init__(self, work: Coroutine[Any, Any, None]) -> None:
        self.started = asyncio.Event()
        self.task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self.task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None or not self.started.is_set():
            return  # stopped on purpose, or a start-up failure, which `ready` reports
        log.critical("the actor's work failed after start-up; exiting for Ray to restart it",
                     exc_info=task.exception())  # fmt: skip
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(1)

    async def ready(self, timeout_s: float) -> bool:
        waiter = asyncio.ensure_future(self.started.wait())
        done, _ = await asyncio.wait(
            {waiter, self.task}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if self.task in done:  # the work runs for the actor's life: done means stopped
            self.task.result()  # re-raises the failure
            raise RuntimeError("the actor's work has stopped")
        return self.started.is_set()

    async def wait_started(self) -> None:
        if not await self.ready(timeout_s=300):
            raise TimeoutError("the actor is still starting")
