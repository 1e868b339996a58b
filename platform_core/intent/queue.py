"""`PriorityWorkQueue`: where scored intents wait when more arrive than workers can run.

Higher scores leave first; equal scores leave in arrival order (a sequence number breaks
ties, so two intents are never compared themselves). The queue is bounded and refuses,
rather than blocks, when full: the caller turns that into back-pressure (a 429/503, or a
denial) instead of holding a request open indefinitely.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from platform_core.errors import ErrorCode, PlatformError
from platform_core.intent import MAX_SCORE, MIN_SCORE

T = TypeVar("T")


class QueueFullError(PlatformError, RuntimeError):
    """The queue holds `maxsize` items already."""

    code = ErrorCode.QUEUE_FULL


@dataclass(order=True, frozen=True, slots=True)
class _Entry(Generic[T]):
    rank: int  # the negated score: asyncio.PriorityQueue pops the smallest first
    sequence: int
    item: T = field(compare=False)


class PriorityWorkQueue(Generic[T]):
    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.maxsize = maxsize
        self._queue: asyncio.PriorityQueue[_Entry[T]] = asyncio.PriorityQueue(maxsize)
        self._sequence = itertools.count()

    def __len__(self) -> int:
        return self._queue.qsize()

    def put(self, item: T, score: int) -> None:
        """Enqueue `item` with its priority score (1..10); raise `QueueFullError` when full."""
        if isinstance(score, bool) or not isinstance(score, int):
            raise TypeError(f"score must be an int, got {type(score).__name__}")
        if not MIN_SCORE <= score <= MAX_SCORE:
            raise ValueError(f"score must be in [{MIN_SCORE}, {MAX_SCORE}], got {score}")
        try:
            self._queue.put_nowait(_Entry(-score, next(self._sequence), item))
        except asyncio.QueueFull:
            raise QueueFullError(
                f"priority queue is full ({self.maxsize} waiting); retry later"
            ) from None

    async def get(self) -> T:
        """The highest-scored, longest-waiting item; waits while the queue is empty."""
        entry = await self._queue.get()
        self._queue.task_done()
        return entry.item

    def get_nowait(self) -> T:
        """Like `get`, but raises `asyncio.QueueEmpty` instead of waiting."""
        entry = self._queue.get_nowait()
        self._queue.task_done()
        return entry.item
