"""`PriorityWorkQueue`: under contention, higher scores start first (FIFO within a score)."""

from __future__ import annotations

import asyncio

import pytest

from platform_core.intent.queue import PriorityWorkQueue, QueueFullError


async def test_scores_order_the_work_when_workers_are_scarce() -> None:
    workers = 2
    queue: PriorityWorkQueue[str] = PriorityWorkQueue(maxsize=32)
    started: list[str] = []
    release = asyncio.Event()
    all_started = asyncio.Event()
    expected = 10

    async def worker() -> None:
        while True:
            name = await queue.get()
            started.append(name)
            if len(started) == expected:
                all_started.set()
            await release.wait()  # every worker stays busy until released: contention

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    # The first two arrive while the workers are idle: they start at once, whatever their score.
    queue.put("early-low-a", 1)
    await asyncio.sleep(0)
    queue.put("early-low-b", 2)
    await asyncio.sleep(0)
    assert started == ["early-low-a", "early-low-b"]

    # Eight more arrive while both workers are busy, scores deliberately out of order.
    waiting = [("dca-1", 2), ("liquidation-1", 10), ("rebalance-1", 5), ("dca-2", 2),
               ("liquidation-2", 10), ("hedge", 8), ("rebalance-2", 5), ("dust", 1)]  # fmt: skip
    for name, score in waiting:
        queue.put(name, score)
    assert len(queue) == len(waiting) == expected - 2

    release.set()  # now the workers drain the queue, two at a time
    await asyncio.wait_for(all_started.wait(), timeout=5)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    assert started[2:] == [
        "liquidation-1", "liquidation-2",  # 10s first, in arrival order
        "hedge",
        "rebalance-1", "rebalance-2",
        "dca-1", "dca-2",
        "dust",
    ]  # fmt: skip


async def test_full_queue_refuses_and_frees_up_after_a_get() -> None:
    queue: PriorityWorkQueue[int] = PriorityWorkQueue(maxsize=2)
    queue.put(1, 3)
    queue.put(2, 9)
    with pytest.raises(QueueFullError, match=r"full \(2 waiting\)"):
        queue.put(3, 10)
    assert queue.get_nowait() == 2
    queue.put(3, 10)
    assert [await queue.get(), await queue.get()] == [3, 1]
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_get_waits_for_work() -> None:
    queue: PriorityWorkQueue[str] = PriorityWorkQueue(maxsize=4)
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.put("late", 4)
    assert await asyncio.wait_for(getter, timeout=1) == "late"


@pytest.mark.parametrize(("score", "error"), [(0, ValueError), (11, ValueError),
                                              (5.0, TypeError), (True, TypeError)])  # fmt: skip
def test_scores_outside_the_scale_are_refused(score: object, error: type[Exception]) -> None:
    queue: PriorityWorkQueue[str] = PriorityWorkQueue(maxsize=4)
    with pytest.raises(error):
        queue.put("x", score)  # type: ignore[arg-type]
    assert len(queue) == 0


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PriorityWorkQueue(maxsize=0)
