"""Actors that start their work in the constructor and report readiness separately.

An async actor's constructor runs on its event loop, so the work starts there: a restarted
incarnation resumes by itself, with no caller having to poke it. `ready` waits for the
start-up to finish, or raises what stopped it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class BackgroundStart:
    def __init__(self, work: Coroutine[Any, Any, None]) -> None:
        self.started = asyncio.Event()
        self.task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)

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
