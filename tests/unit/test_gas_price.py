"""`GasPriceWatch`: each reading reaches the planner; a failed reading keeps the last one."""

from __future__ import annotations

import asyncio

import pytest

from platform_core.chain.errors import TransportError
from platform_core.chain.gas_price import GasPriceWatch

GWEI = 10**9


class Node:
    def __init__(self, readings: list[int | Exception]) -> None:
        self.readings = readings
        self.calls = 0

    async def gas_price_now(self) -> int:
        reading = self.readings[min(self.calls, len(self.readings) - 1)]
        self.calls += 1
        if isinstance(reading, Exception):
            raise reading
        return reading


async def test_readings_reach_the_planner_and_a_failure_keeps_the_last() -> None:
    applied: list[int] = []
    watch = GasPriceWatch(Node([GWEI, TransportError("node away"), 2 * GWEI]), applied.append)
    assert await watch.refresh() == GWEI
    assert await watch.refresh() == GWEI  # kept
    assert await watch.refresh() == 2 * GWEI
    assert applied == [GWEI, 2 * GWEI] and watch.last == 2 * GWEI


async def test_no_reading_yet_leaves_the_price_unset() -> None:
    applied: list[int] = []
    watch = GasPriceWatch(Node([OSError("refused")]), applied.append)
    assert await watch.refresh() is None and applied == []


async def test_a_negative_price_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        await GasPriceWatch(Node([-1]), lambda _p: None).refresh()


async def test_run_follows_until_stopped() -> None:
    applied: list[int] = []
    node = Node([GWEI, 3 * GWEI])
    stop = asyncio.Event()

    def apply(price: int) -> None:
        applied.append(price)
        if len(applied) == 3:
            stop.set()

    task = asyncio.create_task(GasPriceWatch(node, apply, interval_s=0.01).run(stop))
    await asyncio.wait_for(task, 5)
    assert applied[:2] == [GWEI, 3 * GWEI] and set(applied[2:]) == {3 * GWEI}
