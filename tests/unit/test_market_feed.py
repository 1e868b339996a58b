"""One market state from one publisher: `PoolStateChanged` on the wire, the publisher's
sequence and snapshots, and a `MarketFeed` that follows them: buffered messages after a
snapshot, gaps, a restarted publisher, reorgs, head moves and its `on_head` callbacks; and
plans routed on the fed engine, naming its block."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from math import isqrt

import pytest

import platform_rust
from platform_core.errors import PlatformError
from platform_core.execution.planner import ExecutionPlanner
from platform_core.execution.planning_service import PlanningService
from platform_core.market.changes import (
    PoolStateChanged,
    PoolStateRecord,
    VenuePublisher,
    market_subject,
)
from platform_core.market.feed import MarketFeed, Position, Verdict, judge
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.pool_state import PoolInfo, V3PoolState
from platform_core.market.watcher import Refresh
from platform_core.rust_bindings import load_v3
from platform_core.streaming.event_stream import EventStream
from platform_core.types.intent import Intent, IntentSubmission
from tests import uniswap_v3_reference as v3_math
from tests.unit.pool_graphs import USDC, WETH

CHAIN_ID, VENUE = 42161, "uniswap_v3"
AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POOL_A = PoolInfo("0x" + "a1" * 20, WETH, USDC, 500, 10)
POOL_B = PoolInfo("0x" + "b2" * 20, WETH, USDC, 3000, 60)


def state(pool: PoolInfo, block: int, reserve0: int, reserve1: int) -> V3PoolState:
    """A full-range pool with these virtual reserves."""
    sqrt_price = isqrt(reserve1 * 2**192 // reserve0)
    edge = v3_math.MAX_TICK // pool.tick_spacing * pool.tick_spacing
    liquidity = isqrt(reserve0 * reserve1)
    tick = v3_math.tick_at_sqrt_ratio(sqrt_price)
    return V3PoolState(pool, block, sqrt_price, tick, liquidity,
                       ((-edge, liquidity), (edge, -liquidity)))  # fmt: skip


def quote(registry: PoolRegistry, pool: PoolInfo) -> int:
    return registry.engine.quote([pool.address], WETH, 10**18)


def direct(*states: V3PoolState) -> PoolRegistry:
    """An engine loaded with `states` directly: what a fed engine must quote alike."""
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    load_v3(registry, states, VENUE)
    return registry


class ScriptedWatcher:
    """Stands in for `MarketWatcher`: each refresh returns the next scripted result."""

    def __init__(self) -> None:
        self.results: list[Refresh] = []

    async def refresh(self) -> Refresh:
        return self.results.pop(0)


class Venue:
    """A publisher over a scripted watcher; what it publishes lands in `sent`."""

    def __init__(self) -> None:
        self.watcher = ScriptedWatcher()
        self.sent: list[PoolStateChanged] = []
        self.fail_publish = False
        self.publisher = VenuePublisher(self.watcher, self._publish, chain_id=CHAIN_ID,
                                        venue=VENUE, clock=lambda: AT)  # fmt: skip

    async def _publish(self, message: PoolStateChanged) -> None:
        if self.fail_publish:
            raise ConnectionError("nats is down")
        self.sent.append(message)

    async def step(self, block: int, *states: V3PoolState, full: bool = False) -> PoolStateChanged:
        self.watcher.results.append(Refresh(block, full, states, f"0x{block:064x}"))
        message = await self.publisher.refresh()
        assert message is not None
        return message


class Snapshots:
    """The feed's `SnapshotSource`: the venue's publisher, counted; can be made to fail."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.calls = 0
        self.failures = 0

    async def snapshot(self) -> PoolStateChanged:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the venue actor is restarting")
        return self.venue.publisher.snapshot()


def feed_on(source: Snapshots) -> tuple[MarketFeed, list[int]]:
    feed = MarketFeed(PoolRegistry(platform_rust.ExecutionEngine()), source,
                      chain_id=CHAIN_ID, venue=VENUE)  # fmt: skip
    heads: list[int] = []

    async def on_head(block: int) -> None:
        heads.append(block)

    feed.on_head(on_head)
    return feed, heads


async def run_until(feed: MarketFeed, block: int, retry_s: float = 1.0) -> None:
    """Run the feed until the engine reflects `block`."""
    reached = asyncio.Event()

    async def on_head(at: int) -> None:
        if at == block:
            reached.set()

    feed.on_head(on_head)
    stop = asyncio.Event()
    runner = asyncio.create_task(feed.run(stop, retry_s=retry_s))
    await asyncio.wait_for(reached.wait(), 10)
    stop.set()
    await runner


# -- the message -------------------------------------------------------------------------


def test_a_pool_state_crosses_the_wire_exactly() -> None:
    ticks = ((-887270, 2**127 - 5), (0, -(2**126)), (887270, -(2**126) + 5))
    wide = V3PoolState(POOL_A, 7, 2**159 + 12345, -887000, 2**127 + 1, ticks)
    ordinary = state(POOL_B, 7, 10**21, 3 * 10**27)
    message = PoolStateChanged(
        chain_id=CHAIN_ID, venue=VENUE, incarnation="i", sequence=1, block_number=7,
        block_hash="0x" + "ab" * 32, pools=(PoolStateRecord.of(wide), PoolStateRecord.of(ordinary)),
        observed_at=AT,
    )  # fmt: skip
    wire = message.to_bytes()
    again = PoolStateChanged.from_bytes(wire)
    assert again == message and again.states() == [wide, ordinary]
    # Wide integers travel as strings: a reader with double-precision numbers loses nothing.
    pool = json.loads(wire)["pools"][0]
    assert pool["sqrt_price_x96"] == str(2**159 + 12345)
    assert pool["ticks"][1] == [0, str(-(2**126))]
    # What arrives loads the engine as the original does.
    assert quote(direct(*again.states()[1:]), POOL_B) == quote(direct(ordinary), POOL_B) > 0


def _captured(stream_filter: str, subject: str) -> bool:
    """NATS subject matching: `*` one token, `>` one or more trailing tokens."""
    pattern, tokens = stream_filter.split("."), subject.split(".")
    for i, part in enumerate(pattern):
        if part == ">":
            return len(tokens) > i
        if i >= len(tokens) or part not in ("*", tokens[i]):
            return False
    return len(tokens) == len(pattern)


@pytest.mark.parametrize("prefix", ["events", "t0123456789.events"])
def test_market_subjects_stay_outside_the_events_stream(prefix: str) -> None:
    events = EventStream.__new__(EventStream)
    events.subject_prefix = prefix
    subject = market_subject(prefix, CHAIN_ID, VENUE)
    assert _captured(events.subjects, f"{prefix}.IntentSubmitted")  # the matcher matches
    assert not _captured(events.subjects, subject)
    assert subject == f"market.{prefix}.{CHAIN_ID}.{VENUE}"
    with pytest.raises(ValueError, match="capture"):
        market_subject("market.events", CHAIN_ID, VENUE)


# -- the publisher -----------------------------------------------------------------------


async def test_the_publisher_numbers_new_blocks_and_snapshots_what_they_add_up_to() -> None:
    venue = Venue()
    with pytest.raises(PlatformError):
        venue.publisher.snapshot()  # nothing read yet
    first = await venue.step(10, state(POOL_A, 10, 10**21, 3 * 10**27),
                             state(POOL_B, 10, 10**21, 3 * 10**27), full=True)  # fmt: skip
    venue.watcher.results.append(Refresh(10, False))
    assert await venue.publisher.refresh() is None  # the same block: nothing to say
    moved = await venue.step(11, state(POOL_A, 11, 2 * 10**21, 3 * 10**27))
    head = await venue.step(12)
    assert [m.sequence for m in venue.sent] == [1, 2, 3]
    assert (first.full, moved.full, len(moved.pools), head.pools) == (True, False, 1, ())
    assert len({m.incarnation for m in venue.sent}) == 1 and head.block_hash == f"0x{12:064x}"

    snapshot = venue.publisher.snapshot()
    assert (snapshot.full, snapshot.sequence, snapshot.block_number) == (True, 3, 12)
    held = {s.info.address: s for s in snapshot.states()}
    assert held == {POOL_A.address: moved.states()[0], POOL_B.address: first.states()[1]}


async def test_a_lost_publish_leaves_a_gap_the_snapshot_covers() -> None:
    venue = Venue()
    await venue.step(10, state(POOL_A, 10, 10**21, 3 * 10**27), full=True)
    venue.fail_publish = True
    lost = await venue.step(11, state(POOL_A, 11, 2 * 10**21, 3 * 10**27))
    venue.fail_publish = False
    await venue.step(12)
    assert [m.sequence for m in venue.sent] == [1, 3]
    assert venue.publisher.snapshot().states() == lost.states()


# -- the decision ------------------------------------------------------------------------


def _message(incarnation: str, sequence: int, block: int, full: bool = False) -> PoolStateChanged:
    return PoolStateChanged(
        chain_id=CHAIN_ID, venue=VENUE, incarnation=incarnation, sequence=sequence,
        block_number=block, full=full, observed_at=AT,
    )  # fmt: skip


HELD = Position("a", 5, 100)


@pytest.mark.parametrize(
    ("held", "message", "verdict"),
    [
        (HELD, _message("a", 6, 101), Verdict.APPLY),  # the next one
        (HELD, _message("a", 6, 100), Verdict.APPLY),  # same block: allowed, not a reorg
        (HELD, _message("a", 5, 100), Verdict.STALE),  # a duplicate
        (HELD, _message("a", 3, 98, full=True), Verdict.STALE),  # older, full or not
        (HELD, _message("a", 7, 102), Verdict.RESYNC),  # a gap
        (HELD, _message("a", 6, 99), Verdict.RESYNC),  # the block went back, pools unknown
        (HELD, _message("a", 6, 99, full=True), Verdict.RESET),  # a reorg's full read
        (HELD, _message("a", 9, 120, full=True), Verdict.RESET),  # a gap a full state covers
        (HELD, _message("b", 1, 101, full=True), Verdict.RESET),  # a restart's first message
        (HELD, _message("b", 2, 102), Verdict.RESYNC),  # a restart, its first one missed
        (None, _message("a", 6, 101), Verdict.RESYNC),  # nothing held
        (None, _message("a", 1, 101, full=True), Verdict.RESET),
    ],
)
def test_judge(held: Position | None, message: PoolStateChanged, verdict: Verdict) -> None:
    assert judge(held, message) is verdict


def test_a_retired_incarnation_is_never_followed_again() -> None:
    assert judge(Position("b", 1, 101), _message("a", 6, 102), {"a"}) is Verdict.STALE
    assert judge(Position("b", 1, 101), _message("a", 6, 102, True), {"a"}) is Verdict.STALE


# -- the feed ----------------------------------------------------------------------------


async def test_messages_buffered_before_the_snapshot_apply_after_it_in_order() -> None:
    venue = Venue()
    source = Snapshots(venue)
    feed, heads = feed_on(source)
    a10, b10 = state(POOL_A, 10, 10**21, 3 * 10**27), state(POOL_B, 10, 10**21, 3 * 10**27)
    feed.deliver(await venue.step(10, a10, b10, full=True))  # subscribed first: buffered
    a11 = state(POOL_A, 11, 2 * 10**21, 3 * 10**27)
    feed.deliver(await venue.step(11, a11))
    await feed.sync()  # the snapshot is at 11: both buffered messages are in it
    b12 = state(POOL_B, 12, 10**21, 4 * 10**27)
    feed.deliver(await venue.step(12, b12))
    await run_until(feed, 12)

    assert source.calls == 1 and feed.position == Position(venue.publisher.incarnation, 3, 12)
    assert heads == [11, 12]
    expected = direct(a11, b12)
    assert [quote(feed.registry, p) for p in (POOL_A, POOL_B)] == [
        quote(expected, p) for p in (POOL_A, POOL_B)
    ]


async def test_a_gap_brings_a_snapshot() -> None:
    venue = Venue()
    source = Snapshots(venue)
    feed, heads = feed_on(source)
    await venue.step(10, state(POOL_A, 10, 10**21, 3 * 10**27), full=True)
    await feed.sync()
    a11 = state(POOL_A, 11, 2 * 10**21, 3 * 10**27)
    await venue.step(11, a11)  # never delivered
    assert await feed.receive(await venue.step(12)) is Verdict.RESYNC
    assert source.calls == 2 and feed.block == 12 and heads == [10, 12]
    assert quote(feed.registry, POOL_A) == quote(direct(a11), POOL_A)


async def test_a_restarted_publisher_is_followed_from_its_first_full_message() -> None:
    old = Venue()
    source = Snapshots(old)
    feed, heads = feed_on(source)
    old_late = await old.step(10, state(POOL_A, 10, 10**21, 3 * 10**27), full=True)
    await feed.sync()
    new = Venue()  # a restart: another incarnation, numbering from 1
    a11 = state(POOL_A, 11, 2 * 10**21, 3 * 10**27)
    assert await feed.receive(await new.step(11, a11, full=True)) is Verdict.RESET
    assert source.calls == 1 and feed.position == Position(new.publisher.incarnation, 1, 11)
    assert await feed.receive(old_late) is Verdict.STALE  # the old one is retired
    assert quote(feed.registry, POOL_A) == quote(direct(a11), POOL_A)
    # A restart whose first (full) message was missed: its next one brings a snapshot.
    newer = Venue()
    source.venue = newer
    await newer.step(12, state(POOL_A, 12, 3 * 10**21, 3 * 10**27), full=True)
    assert await feed.receive(await newer.step(13)) is Verdict.RESYNC
    assert feed.position == Position(newer.publisher.incarnation, 2, 13)
    assert heads == [10, 11, 13]


async def test_a_reorg_moves_the_block_back_and_drops_the_pools_it_undid() -> None:
    venue = Venue()
    feed, heads = feed_on(Snapshots(venue))
    await venue.step(10, state(POOL_A, 10, 10**21, 3 * 10**27), full=True)
    await feed.sync()
    # A pool created at 11 ...
    a11, b11 = state(POOL_A, 11, 10**21, 3 * 10**27), state(POOL_B, 11, 10**21, 3 * 10**27)
    await feed.receive(await venue.step(11, a11, b11, full=True))
    assert set(feed.registry.pools) == {POOL_A.address, POOL_B.address}
    # ... undone by a reorg back to 10: the publisher's full read no longer holds it.
    a10 = state(POOL_A, 10, 5 * 10**20, 3 * 10**27)
    assert await feed.receive(await venue.step(10, a10, full=True)) is Verdict.RESET
    assert set(feed.registry.pools) == {POOL_A.address} and feed.block == 10
    assert feed.registry.engine.pool_count() == 1
    assert quote(feed.registry, POOL_A) == quote(direct(a10), POOL_A)
    assert heads == [10, 11, 10]


async def test_head_messages_move_the_block_and_call_every_callback_even_after_a_failure() -> None:
    venue = Venue()
    feed, heads = feed_on(Snapshots(venue))

    async def broken(block: int) -> None:
        raise RuntimeError("a cache that cannot refresh")

    feed.on_head(broken)
    a10 = state(POOL_A, 10, 10**21, 3 * 10**27)
    await venue.step(10, a10, full=True)
    await feed.sync()
    for block in (11, 12):
        assert await feed.receive(await venue.step(block)) is Verdict.APPLY
    assert heads == [10, 11, 12] and feed.block == 12
    assert quote(feed.registry, POOL_A) == quote(direct(a10), POOL_A)  # no pool moved


async def test_a_failing_snapshot_is_retried_and_the_feed_catches_up() -> None:
    venue = Venue()
    source = Snapshots(venue)
    source.failures = 2
    feed, heads = feed_on(source)
    await venue.step(10, state(POOL_A, 10, 10**21, 3 * 10**27), full=True)
    a11 = state(POOL_A, 11, 2 * 10**21, 3 * 10**27)
    feed.deliver(await venue.step(11, a11))
    await run_until(feed, 11, retry_s=0.01)
    assert source.calls == 3 and heads == [11]
    assert quote(feed.registry, POOL_A) == quote(direct(a11), POOL_A)


async def test_messages_of_another_venue_or_chain_are_dropped() -> None:
    venue = Venue()
    feed, _ = feed_on(Snapshots(venue))
    await venue.step(10, state(POOL_A, 10, 10**21, 3 * 10**27), full=True)
    await feed.sync()
    other = (await venue.step(11)).model_copy(update={"chain_id": 1})
    assert await feed.receive(other) is Verdict.STALE and feed.block == 10


# -- planning on the fed engine ----------------------------------------------------------


async def test_plans_route_on_the_fed_engine_and_name_its_block(seed_intent: dict) -> None:
    venue = Venue()
    feed, _ = feed_on(Snapshots(venue))
    # WETH is token0: 2,000 WETH against 6M USDC, 3,000 USDC a WETH.
    await venue.step(10, state(POOL_A, 10, 2 * 10**21, 6 * 10**12), full=True)
    await feed.sync()
    service = PlanningService(ExecutionPlanner(feed.registry, chain_id=CHAIN_ID), feed)
    intent = Intent.from_submission(
        IntentSubmission.model_validate(seed_intent), created_at=datetime.now(UTC)
    )
    first = await service.plan(intent, {})
    assert first.ok and first.block == 10 and first.plan is not None
    assert [hop.pool_id for step in first.plan.steps for hop in step.hops] == [POOL_A.address]
    # A pool selling WETH at 2,500 USDC arrives with the next block: the next plan takes it.
    await feed.receive(await venue.step(11, state(POOL_B, 11, 2 * 10**21, 5 * 10**12)))
    second = await service.plan(intent, {})
    assert second.ok and second.block == 11 and second.plan is not None
    assert [hop.pool_id for step in second.plan.steps for hop in step.hops] == [POOL_B.address]
