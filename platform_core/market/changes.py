"""`PoolStateChanged`: what a venue adapter actor publishes each time its pools move, so
that every engine holder (API replicas, the planner) follows the chain without reading it.

One publisher per (chain, venue) numbers its messages 1, 2, ... per incarnation (a random
id for each start), one message per new block: the pools read at that block, or none (a
head message: the gate's caches refresh on head moves). A `full` message holds every pool
of the venue: the first of an incarnation, after a reorg or a new pool, and every snapshot.

Messages go over core NATS on `market.<subject_prefix>.<chain_id>.<venue>`: outside the
events stream's `<subject_prefix>.>`, so market data never fills the intent log. Core NATS
keeps nothing: a subscriber that misses a message sees the gap in the sequence and takes a
snapshot (`platform_core/market/feed.py`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

import nats
from nats.aio.client import Client as NATS
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from platform_core.errors import ErrorCode, PlatformError
from platform_core.market.pool_state import (
    PoolInfo,
    PoolKind,
    PoolState,
    V2PoolState,
    V3PoolState,
)
from platform_core.market.watcher import MarketWatcher, Refresh

log = logging.getLogger(__name__)

# uint160 prices, uint128 liquidity, int128 liquidity_net, uint112 reserves: strings in JSON,
# no precision lost in a reader whose numbers are doubles.
BigInt = Annotated[int, PlainSerializer(str, when_used="json")]
Publish = Callable[["PoolStateChanged"], Awaitable[None]]

_MARKET = "market"


class PoolStateRecord(BaseModel):
    """A pool state on the wire: what `load_states` needs to load the pool. A V3 pool has
    its price, tick, liquidity and ticks; a V2 pair its reserves (and no tick spacing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: PoolKind = PoolKind.V3
    address: str
    token0: str
    token1: str
    fee_pips: int
    tick_spacing: int = 0
    block_number: int
    sqrt_price_x96: BigInt | None = None
    tick: int | None = None
    liquidity: BigInt | None = None
    ticks: tuple[tuple[int, BigInt], ...] = ()  # (tick, liquidity_net), every initialised tick
    reserve0: BigInt | None = None
    reserve1: BigInt | None = None

    @model_validator(mode="after")
    def _complete(self) -> PoolStateRecord:
        v3 = (self.sqrt_price_x96, self.tick, self.liquidity)
        v2 = (self.reserve0, self.reserve1)
        if self.kind is PoolKind.V3 and (None in v3 or v2 != (None, None)):
            raise ValueError("a V3 record has sqrt_price_x96, tick and liquidity, no reserves")
        if self.kind is PoolKind.V2 and (None in v2 or self.ticks or v3 != (None, None, None)):
            raise ValueError("a V2 record has reserve0 and reserve1, and no V3 state")
        return self

    @classmethod
    def of(cls, state: PoolState) -> PoolStateRecord:
        info = state.info
        if isinstance(state, V2PoolState):
            return cls(
                kind=PoolKind.V2, address=info.address, token0=info.token0, token1=info.token1,
                fee_pips=info.fee_pips, block_number=state.block_number,
                reserve0=state.reserve0, reserve1=state.reserve1,
            )  # fmt: skip
        return cls(
            kind=PoolKind.V3, address=info.address, token0=info.token0, token1=info.token1,
            fee_pips=info.fee_pips, tick_spacing=info.tick_spacing,
            block_number=state.block_number, sqrt_price_x96=state.sqrt_price_x96,
            tick=state.tick, liquidity=state.liquidity, ticks=state.ticks,
        )  # fmt: skip

    def state(self, venue: str) -> PoolState:
        """The pool state this record carries, as `venue`'s."""
        info = PoolInfo(self.address, self.token0, self.token1, self.fee_pips, self.tick_spacing,
                        venue=venue, kind=self.kind)  # fmt: skip
        if self.kind is PoolKind.V2:
            assert self.reserve0 is not None and self.reserve1 is not None  # validated
            return V2PoolState(info, self.block_number, self.reserve0, self.reserve1)
        assert self.sqrt_price_x96 is not None and self.tick is not None
        assert self.liquidity is not None  # validated
        return V3PoolState(
            info, self.block_number, self.sqrt_price_x96, self.tick, self.liquidity, self.ticks
        )


class PoolStateChanged(BaseModel):
    """One venue's pools as of one block; a market message, not an intent event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chain_id: int
    venue: str
    incarnation: str  # the publisher's start: a new one numbers from 1 again
    sequence: int = Field(ge=1)  # per incarnation, no gaps
    block_number: int = Field(ge=0)
    block_hash: str | None = None
    full: bool = False  # `pools` is every pool of the venue: a snapshot
    pools: tuple[PoolStateRecord, ...] = ()  # empty and not full: the head moved, no pool
    observed_at: datetime  # when the publisher read it

    def states(self) -> list[PoolState]:
        return [record.state(self.venue) for record in self.pools]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> PoolStateChanged:
        return cls.model_validate_json(data)


def market_subject(subject_prefix: str, chain_id: int, venue: str) -> str:
    """The subject of one (chain, venue)'s messages; never inside an events stream's
    `<subject_prefix>.>` (a prefix starting with `market.` would capture them: refused)."""
    if subject_prefix.split(".")[0] == _MARKET:
        raise ValueError(f"subject prefix {subject_prefix!r} would capture market subjects")
    return f"{_MARKET}.{subject_prefix}.{chain_id}.{venue}"


async def connect_nats(url: str, *, connect_timeout_s: float = 5.0) -> NATS:
    """A core NATS connection that reconnects forever (messages meanwhile are lost: the
    sequence shows it)."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats: %s", exc or type(exc).__name__)

    return await asyncio.wait_for(
        nats.connect(url, connect_timeout=connect_timeout_s, max_reconnect_attempts=-1,
                     reconnect_time_wait=0.5, error_cb=on_error),
        connect_timeout_s * 2,
    )  # fmt: skip


class VenuePublisher:
    """Publishes each watcher refresh that reached a new block, and keeps every pool's
    latest state to serve snapshots consistent with the sequence: a snapshot at sequence n
    reflects messages 1..n exactly."""

    def __init__(
        self,
        watcher: MarketWatcher,
        publish: Publish,
        *,
        chain_id: int,
        venue: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.watcher = watcher
        self.chain_id = chain_id
        self.venue = venue
        self.incarnation = uuid.uuid4().hex
        self._publish = publish
        self._clock = clock
        self._pools: dict[str, PoolState] = {}
        self._last: PoolStateChanged | None = None
        self._lock = asyncio.Lock()

    @property
    def block(self) -> int | None:
        return None if self._last is None else self._last.block_number

    async def refresh(self) -> PoolStateChanged | None:
        """Read the chain; publish what changed (None: still the same block)."""
        async with self._lock:  # messages leave in sequence order
            refresh = await self.watcher.refresh()
            if self._last is not None and refresh.block == self._last.block_number:
                return None
            message = self._record(refresh)
            try:
                await self._publish(message)
            except Exception as exc:  # subscribers see the gap and take a snapshot
                log.warning("market: publishing block %d failed (%r)", message.block_number, exc)
            return message

    async def refresh_logged(self) -> None:
        """`refresh`, for a polling loop: a failed read is logged, the last state kept."""
        try:
            await self.refresh()
        except Exception as exc:
            log.warning("market: refresh failed (%r); keeping block %s", exc, self.block)

    def snapshot(self) -> PoolStateChanged:
        """Every pool, at the block and sequence of the last message."""
        if self._last is None:
            raise PlatformError("no pool read yet", code=ErrorCode.SERVICE_UNAVAILABLE)
        pools = tuple(PoolStateRecord.of(state) for state in self._pools.values())
        return self._last.model_copy(update={"full": True, "pools": pools})

    def _record(self, refresh: Refresh) -> PoolStateChanged:
        if refresh.full:
            self._pools = {}
        for state in refresh.states:
            self._pools[state.info.address] = state
        self._last = PoolStateChanged(
            chain_id=self.chain_id,
            venue=self.venue,
            incarnation=self.incarnation,
            sequence=1 if self._last is None else self._last.sequence + 1,
            block_number=refresh.block,
            block_hash=refresh.block_hash,
            full=refresh.full,
            pools=tuple(PoolStateRecord.of(state) for state in refresh.states),
            observed_at=self._clock(),
        )
        return self._last
