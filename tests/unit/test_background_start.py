"""`BackgroundStart`: a start-up failure is reported by `ready`; a failure after start-up
ends the process (for Ray to restart the actor); a stop on purpose ends nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from actors.background import BackgroundStart

SCRIPT = textwrap.dedent(
    """
    import asyncio
    from actors.background import BackgroundStart

    async def work(start_holder, fail):
        await asyncio.sleep(0)
        start_holder[0].started.set()
        await asyncio.sleep(0.05)
        if fail:
            raise ConnectionRefusedError(111, "the consumer's loop died")

    async def main(fail):
        holder = []
        holder.append(BackgroundStart(work(holder, fail)))
        await asyncio.sleep(0.5)
        print("still alive")

    asyncio.run(main({fail}))
    """
)


def run(fail: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SCRIPT.format(fail=fail)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_work_failing_after_start_up_ends_the_process() -> None:
    done = run(fail=True)
    assert done.returncode == 1 and "still alive" not in done.stdout
    assert "the consumer's loop died" in done.stderr


def test_work_ending_normally_ends_nothing() -> None:
    done = run(fail=False)
    assert done.returncode == 0 and "still alive" in done.stdout


async def test_a_start_up_failure_is_reported_by_ready() -> None:
    async def work() -> None:
        raise OSError("cannot reach PostgreSQL")

    start = BackgroundStart(work())
    with pytest.raises(OSError, match="PostgreSQL"):
        await start.ready(timeout_s=5)
