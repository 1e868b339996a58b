"""A chaos run stops on SIGTERM or SIGINT, running its clean-up (`sep down`) first, even
when started with SIGINT ignored (a background job of a non-interactive shell)."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from platform_core.chaos.run import _stoppable


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_cancels_the_run_after_its_clean_up(sig: signal.Signals) -> None:
    cleaned: list[str] = []
    started = asyncio.Event()

    async def run() -> None:
        try:
            started.set()
            await asyncio.sleep(60)
        finally:
            cleaned.append("sep down")

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job has it
    try:
        stopping = asyncio.ensure_future(_stoppable(run()))  # type: ignore[arg-type]
        await started.wait()
        os.kill(os.getpid(), sig)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(stopping, 10)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert cleaned == ["sep down"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers taken off again
