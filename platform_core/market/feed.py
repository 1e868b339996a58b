"""`MarketFeed`: an engine kept current by one venue adapter actor's `PoolStateChanged`
messages (`platform_core/market/changes.py`), instead of by reading the chain itself.

A start subscribes first (messages wait in a buffer), then takes a snapshot (every pool at
a block, with the publisher's incarnation and sequence), then applies the buffered messages
newer than the snapshot and every later one, in order. A message that does not follow what
the feed holds (a gap in the sequence, another incarnation of the publisher, a block going
backwards) means something was lost: the feed takes a new snapshot. A full message (an
incarnation's first, or one after a reorg or a new pool) is a snapshot by itself.

`judge` decides (pure); `MarketFeed` applies and calls each `on_head` callback when the
block the engine reflects moves; `subscribe` is the NATS part. One engine holds every venue
of a chain: `follow_venues` runs one feed per venue (V2 pairs and V3 pools alike) into it,
each replacing only its own venue's pools.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from platform_core.errors import ErrorCode, PlatformError
from platform_core.market.changes import PoolStateChanged, connect_nats, market_subject
from platform_core.market.engine_sync import load_states, replace_venue

if TYPE_CHECKING:
    from platform_core.market.pool_registry import PoolRegistry

log = logging.getLogger(__name__)

OnHead = Callable[[int], Awaitable[None]]


class SnapshotSource(Protocol):
    """Every pool of the venue as of the publisher's last message (`full` is set)."""

    async def snapshot(self) -> PoolStateChanged: ...


class Verdict(Enum):
    APPLY = "apply"  # the next message: apply its pools
    RESET = "reset"  # a full state newer than what is held: replace the venue's pools
    STALE = "stale"  # already reflected (or from a retired incarnation): drop it
    RESYNC = "resync"  # something was lost: take a snapshot


@dataclass(frozen=True)
class Position:
    """Where the engine stands: the publisher's incarnation, its last sequence applied,
    and the block of that message."""

    incarnation: str
    sequence: int
    block: int


def judge(
    held: Position | None, message: PoolStateChanged, retired: Set[str] = frozenset()
) -> Verdict:
    """What to do with `message`, given what the engine holds."""
    if message.incarnation in retired:
        return Verdict.STALE
    if held is None or message.incarnation != held.incarnation:
        return Verdict.RESET if message.full else Verdict.RESYNC
    if message.sequence <= held.sequence:
        return Verdict.STALE
    if message.full:
        return Verdict.RESET
    if message.sequence > held.sequence + 1 or message.block_number < held.block:
        return Verdict.RESYNC
    return Verdict.APPLY


class MarketFeed:
    """One (chain, venue)'s pools in `registry`, as the venue's publisher last said them.

    `deliver` buffers what the subscription receives; `sync` takes a snapshot; `run` applies
    the buffer in order (`receive`), taking a new snapshot whenever the feed lost track."""

    def __init__(
        self,
        registry: PoolRegistry,
        source: SnapshotSource,
        *,
        chain_id: int,
        venue: str,
        snapshot_timeout_s: float = 30.0,
        buffer: int = 4096,
    ) -> None:
        self.registry = registry
        self.source = source
        self.chain_id = chain_id
        self.venue = venue
        self.snapshot_timeout_s = snapshot_timeout_s
        self.position: Position | None = None
        self._retired: set[str] = set()
        self._heads: list[OnHead] = []
        self._queue: asyncio.Queue[PoolStateChanged] = asyncio.Queue(maxsize=buffer)

    @property
    def block(self) -> int | None:
        """The block the engine reflects (None: no snapshot yet)."""
        return None if self.position is None else self.position.block

    def on_head(self, callback: OnHead) -> None:
        """Call `callback(block)` each time the engine moves to another block."""
        self._heads.append(callback)

    def deliver(self, message: PoolStateChanged) -> None:
        """Buffer a received message for `run`; a full buffer drops it (a gap, later)."""
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("market: feed buffer full, block %d dropped", message.block_number)

    async def sync(self) -> None:
        """Take a snapshot from the source and hold it, unless the feed is already past it."""
        snapshot = await asyncio.wait_for(self.source.snapshot(), self.snapshot_timeout_s)
        if not snapshot.full:
            raise PlatformError("a snapshot holds every pool", code=ErrorCode.MARKET_DATA_INVALID)
        held = self.position
        if held is not None and held.incarnation == snapshot.incarnation:
            if snapshot.sequence <= held.sequence:
                return
        await self._reset(snapshot)

    async def receive(self, message: PoolStateChanged) -> Verdict:
        """Apply one message in order, or resync; say which."""
        if (message.chain_id, message.venue) != (self.chain_id, self.venue):
            log.warning("market: a %s message on chain %d's %s feed dropped",
                        message.venue, message.chain_id, self.venue)  # fmt: skip
            return Verdict.STALE
        verdict = judge(self.position, message, self._retired)
        if verdict is Verdict.APPLY:
            before = self.block
            load_states(self.registry, message.states(), self.venue)
            self.position = Position(message.incarnation, message.sequence, message.block_number)
            await self._moved(before)
        elif verdict is Verdict.RESET:
            await self._reset(message)
        elif verdict is Verdict.RESYNC:
            log.info("market: %s feed lost track at block %d; taking a snapshot",
                     self.venue, message.block_number)  # fmt: skip
            await self.sync()
        return verdict

    async def run(self, stop: asyncio.Event, *, retry_s: float = 1.0) -> None:
        """Hold a snapshot, then apply buffered messages until `stop`; a snapshot that
        fails is retried every `retry_s`, the engine keeping its last state meanwhile."""
        synced = self.position is not None
        while not stop.is_set():
            try:
                if not synced:
                    await self.sync()
                    synced = True
                message = await self._next(stop)
                if message is not None:
                    await self.receive(message)
            except Exception as exc:
                log.warning("market: %s feed failed (%r); taking a snapshot", self.venue, exc)
                synced = False
                try:
                    await asyncio.wait_for(stop.wait(), retry_s)
                except TimeoutError:
                    pass

    async def _next(self, stop: asyncio.Event, wait_s: float = 0.5) -> PoolStateChanged | None:
        if stop.is_set():
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), wait_s)
        except TimeoutError:
            return None

    async def _reset(self, snapshot: PoolStateChanged) -> None:
        before = self.block
        replace_venue(self.registry, snapshot.states(), self.venue)
        if self.position is not None and self.position.incarnation != snapshot.incarnation:
            self._retired.add(self.position.incarnation)
        self.position = Position(snapshot.incarnation, snapshot.sequence, snapshot.block_number)
        await self._moved(before)

    async def _moved(self, before: int | None) -> None:
        if self.block is None or self.block == before:
            return
        for callback in self._heads:
            try:
                await callback(self.block)
            except Exception:  # one consumer's failure must not stop the feed
                log.exception("market: on_head callback failed at block %d", self.block)


async def subscribe(nc: NATS, subject: str, feed: MarketFeed) -> Subscription:
    """Deliver every message on `subject` to `feed` (subscribe before the first `sync`)."""

    async def on_message(msg: Msg) -> None:
        try:
            feed.deliver(PoolStateChanged.from_bytes(msg.data))
        except ValidationError as exc:  # the gap it leaves brings a snapshot
            log.warning("market: undecodable message on %s (%s)", subject, exc.title)

    return await nc.subscribe(subject, cb=on_message)


@dataclass(frozen=True)
class VenuesBlock:
    """The block an engine fed by several venues' feeds reflects: the least of theirs, or
    None while one of them has none yet."""

    feeds: Sequence[MarketFeed]

    @property
    def block(self) -> int | None:
        blocks = [feed.block for feed in self.feeds]
        if not blocks or any(block is None for block in blocks):
            return None
        return min(block for block in blocks if block is not None)


@dataclass
class FollowedMarket:
    """A feed running: its engine (`registry`), its NATS connection and its task."""

    feed: MarketFeed
    registry: PoolRegistry
    nc: NATS
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.nc.close()


async def follow_market(
    registry: PoolRegistry,
    source: SnapshotSource,
    *,
    nats_url: str,
    subject: str,
    chain_id: int,
    venue: str,
    on_head: Sequence[OnHead] = (),
    snapshot_timeout_s: float = 30.0,
) -> FollowedMarket:
    """Subscribe, take the first snapshot (so `registry` holds every pool on return), then
    follow in a task until `close`. What every engine holder (the gate, the planner) runs."""
    feed = MarketFeed(registry, source, chain_id=chain_id, venue=venue,
                      snapshot_timeout_s=snapshot_timeout_s)  # fmt: skip
    for callback in on_head:
        feed.on_head(callback)
    nc = await connect_nats(nats_url)
    try:
        await subscribe(nc, subject, feed)
        await feed.sync()  # after subscribing: nothing published meanwhile is lost
    except BaseException:
        await nc.close()
        raise
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(feed.run(stop))
    return FollowedMarket(feed, registry, nc, stop, task)


async def follow_venues(
    registry: PoolRegistry,
    sources: Mapping[str, SnapshotSource],
    *,
    nats_url: str,
    subject_prefix: str,
    chain_id: int,
    on_head: Sequence[OnHead] = (),
    snapshot_timeout_s: float = 30.0,
) -> list[FollowedMarket]:
    """Every venue of `sources` (venue -> its snapshots) followed into the one `registry`:
    on return it holds every pool of every venue. Close each after; one that cannot start
    closes those already started and raises."""
    followed: list[FollowedMarket] = []
    try:
        for venue, source in sources.items():
            subject = market_subject(subject_prefix, chain_id, venue)
            market = await follow_market(
                registry, source, nats_url=nats_url, subject=subject, chain_id=chain_id,
                venue=venue, on_head=on_head, snapshot_timeout_s=snapshot_timeout_s,
            )  # fmt: skip
            followed.append(market)
    except BaseException:
        await asyncio.gather(*(f.close() for f in followed), return_exceptions=True)
        raise
    return followed
