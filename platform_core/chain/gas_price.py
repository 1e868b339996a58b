"""The gas price routes are priced with: what a transaction sent now pays per gas, followed
from the node every few seconds. A planner that prices gas at zero would split a small
order across paths whose extra transactions cost more than they gain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from platform_core.chain.errors import ChainError

log = logging.getLogger(__name__)


class GasPriceNode(Protocol):
    async def gas_price_now(self) -> int: ...


class GasPriceWatch:
    """Reads `node.gas_price_now()` every `interval_s` and hands each reading to `apply`;
    a failed reading keeps the last one (a node away for a moment must not stop planning)."""

    def __init__(
        self, node: GasPriceNode, apply: Callable[[int], None], *, interval_s: float = 5.0
    ) -> None:
        self.node = node
        self.apply = apply
        self.interval_s = interval_s
        self.last: int | None = None

    async def refresh(self) -> int | None:
        try:
            price = await self.node.gas_price_now()
        except (ChainError, OSError) as exc:  # OSError: TimeoutError too
            log.warning("gas price: reading failed (%r); keeping %s", exc, self.last)
            return self.last
        if price < 0:
            raise ValueError(f"the node gave a negative gas price: {price}")
        self.last = price
        self.apply(price)
        return price

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
