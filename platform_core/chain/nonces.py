"""Nonces per wallet: concurrent steps get n, n+1, n+2 without asking the node each time.

The counter starts from the chain's pending count and is re-read after a nonce error or a
refused broadcast (a gap left by a refused transaction would block every later one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

PendingCount = Callable[[str], Awaitable[int]]


class NonceManager:
    def __init__(self, pending_count: PendingCount) -> None:
        self._pending_count = pending_count
        self._next: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, wallet: str) -> asyncio.Lock:
        return self._locks.setdefault(wallet.lower(), asyncio.Lock())

    async def reserve(self, wallet: str) -> int:
        """The next nonce for `wallet`; the first call per wallet reads it from the chain."""
        key = wallet.lower()
        async with self._lock(wallet):
            if key not in self._next:
                self._next[key] = await self._pending_count(wallet)
            nonce = self._next[key]
            self._next[key] = nonce + 1
            return nonce

    async def resync(self, wallet: str) -> int:
        """Forget the local counter and read the chain's pending count again."""
        key = wallet.lower()
        async with self._lock(wallet):
            self._next[key] = await self._pending_count(wallet)
            return self._next[key]

    async def release(self, wallet: str, nonce: int) -> None:
        """Give back a nonce that was reserved but never signed. Only the latest one can be
        taken back; an earlier one leaves a gap, so the counter is re-read from the chain."""
        key = wallet.lower()
        async with self._lock(wallet):
            if self._next.get(key) == nonce + 1:
                self._next[key] = nonce
            else:
                self._next.pop(key, None)  # the next reserve() reads the chain
