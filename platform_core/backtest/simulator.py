"""The simulated world a backtest cell trades in: time, blocks, the replayed market, and a
venue that fills our swaps on it. The simulated chain node (`sim_chain`) is built on these.

Time
    `SimClock` is the only clock of a cell: the orchestrator's `clock` and `sleep`, and the
    chain node's. Sleeping advances it at once; a receipt wait advances it to the block that
    includes the transaction. Nothing waits on the wall clock.

Blocks
    The history names only the blocks in which the replayed pools had an event. Between two
    such blocks every block is taken to follow the one before by 12 s (Ethereum's slot): the
    timestamp of an unnamed block is the last named one's plus 12 s per block (a missed
    slot would make the real block later; the next named block still keeps its own time).
    A transaction sent at time t lands in block `head_at(t) + latency` and sees the state at
    the END of that block: after every historical event the file has for it.

Our own swaps and the history that follows (`ImpactRule`)
    A fill is quoted on the Rust engine from the replayed state of each pool it crosses,
    with our own earlier swaps in that pool settled first, in order (`quote_sequential`):

    - `HISTORY_WINS` (the default): our swaps in a pool persist only until the pool's next
      historical event. The replayed state after that event is the file's, taken as is: it
      already holds whatever the market did, arbitrage against our impact included, and we
      do not add our trades to it again. So a later fill sees our earlier impact only while
      the pool has had no event since (same anchor event), e.g. two splits or slices that
      land before anyone else trades the pool.
    - `IMPACT_PERSISTS`: every one of our earlier swaps in the pool is settled again on
      whatever state a later fill sees, as if no one ever traded our impact away: the
      cumulative impact of the whole order stays on top of history. An upper bound on what
      our own trading costs us.

    A cell trades one way (one token in), so the swaps settled together share their input
    token; a pool with earlier swaps of the other direction is refused (`BacktestError`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from platform_core.backtest.history import PoolEvent, PoolSpec
from platform_core.backtest.replay import PoolReplay, PoolSnapshot
from platform_core.errors import ErrorCode, PlatformError
from platform_rust import ExecutionEngine

SLOT = timedelta(seconds=12)  # Ethereum's block time since the merge


class BacktestError(PlatformError, ValueError):
    """A backtest asked for something the simulation cannot do (bad cell parameters, a
    pool or token the market does not hold, swaps of both directions in one pool)."""

    code = ErrorCode.BACKTEST_INVALID


class SimClock:
    """Simulated time: `now()` for every reader, `sleep` and `advance_to` move it forward
    at once (never back)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise BacktestError("the simulated clock needs an aware datetime (UTC)")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance_to(self, when: datetime) -> None:
        self._now = max(self._now, when)

    async def sleep(self, seconds: float) -> None:
        self.advance_to(self._now + timedelta(seconds=max(seconds, 0.0)))


class BlockTimes:
    """Block numbers and timestamps: those the history names, the rest 12 s apart."""

    def __init__(self, known: Mapping[int, datetime]) -> None:
        if not known:
            raise BacktestError("no block is known: the history is empty")
        self._blocks = sorted(known)
        self._times = [known[block] for block in self._blocks]
        if any(b <= a for a, b in zip(self._times, self._times[1:], strict=False)):
            raise BacktestError("block timestamps must increase with the block number")

    @classmethod
    def of_events(cls, events: Iterable[PoolEvent]) -> BlockTimes:
        return cls({event.block_number: event.timestamp for event in events})

    def timestamp(self, block: int) -> datetime:
        i = bisect_right(self._blocks, block) - 1
        if i < 0:  # before the first named block: count back from it
            return self._times[0] - SLOT * (self._blocks[0] - block)
        return self._times[i] + SLOT * (block - self._blocks[i])

    def head_at(self, when: datetime) -> int:
        """The last block whose timestamp is at or before `when`."""
        i = bisect_right(self._times, when) - 1
        if i < 0:
            behind = -((self._times[0] - when) // -SLOT)  # ceiling: whole slots back
            return self._blocks[0] - behind
        ahead = (when - self._times[i]) // SLOT
        if i + 1 < len(self._blocks):
            ahead = min(ahead, self._blocks[i + 1] - self._blocks[i] - 1)
        return self._blocks[i] + ahead


class Market:
    """The replayed pools of one pair: their states by block, their blocks, their swaps.

    `base` is the token an order's size is counted in (WETH), `quote` the other (USDC);
    `reference` is the pool whose price is "the mid" (by default the lowest fee tier)."""

    def __init__(
        self,
        replays: Iterable[PoolReplay],
        *,
        base: str | None = None,
        reference: str | None = None,
    ) -> None:
        self.pools: dict[str, PoolReplay] = {r.spec.address: r for r in replays}
        if not self.pools:
            raise BacktestError("a market needs at least one replayed pool")
        specs = list(self.specs())
        pair = {specs[0].token0.lower(), specs[0].token1.lower()}
        if any({s.token0.lower(), s.token1.lower()} != pair for s in specs):
            raise BacktestError("every pool of a market must trade the same pair")
        self.reference = self._pool_id(reference) if reference else self._cheapest()
        ref = self.spec(self.reference)
        self.base = base if base is not None else ref.token1
        if self.base.lower() not in pair:
            raise BacktestError(f"{self.base} is not traded by the market's pools")
        self.quote = ref.token0 if self.base.lower() == ref.token1.lower() else ref.token1
        self.blocks = BlockTimes.of_events(e for r in self.pools.values() for e in r.events)

    def _cheapest(self) -> str:
        return min(self.pools, key=lambda pool: self.pools[pool].spec.fee_pips)

    def _pool_id(self, pool: str) -> str:
        for address in self.pools:
            if address.lower() == pool.lower():
                return address
        raise BacktestError(f"pool {pool} is not in the market")

    def specs(self) -> Iterable[PoolSpec]:
        return (replay.spec for replay in self.pools.values())

    def spec(self, pool: str) -> PoolSpec:
        return self.pools[self._pool_id(pool)].spec

    def other(self, pool: str, token: str) -> str:
        """The pool's token that is not `token`."""
        spec = self.spec(pool)
        if token.lower() == spec.token0.lower():
            return spec.token1
        if token.lower() == spec.token1.lower():
            return spec.token0
        raise BacktestError(f"{token} is not traded by pool {pool}")

    def decimals(self, token: str) -> int:
        spec = self.spec(self.reference)
        return spec.decimals0 if token.lower() == spec.token0.lower() else spec.decimals1

    def fee_of(self, pool: str) -> int | None:
        """A pool's fee tier by its engine id (the planner's `fee_lookup`)."""
        replay = self.pools.get(pool)
        return None if replay is None else replay.spec.fee_pips

    def pool_for(self, token_a: str, token_b: str, fee_pips: int) -> str | None:
        """The pool trading the two tokens at this fee tier, as SwapRouter finds it."""
        pair = {token_a.lower(), token_b.lower()}
        for address, replay in self.pools.items():
            spec = replay.spec
            if {spec.token0.lower(), spec.token1.lower()} == pair and spec.fee_pips == fee_pips:
                return address
        return None

    def state(self, pool: str, block: int) -> PoolSnapshot:
        """The pool at the end of `block` (after the file's events in it)."""
        return self.pools[self._pool_id(pool)].state_at(block)

    def load(self, engine: ExecutionEngine, block: int) -> None:
        """Every pool into `engine` at its state at the end of `block`."""
        for replay in self.pools.values():
            replay.load_into(engine, replay.state_at(block))

    def price(self, pool: str, sqrt_price_x96: int) -> float:
        """Whole quote tokens per whole base token at this pool price."""
        spec = self.spec(pool)
        per_token1 = spec.price_of_token1(sqrt_price_x96)
        return per_token1 if self.base.lower() == spec.token1.lower() else 1 / per_token1

    def mid(self, block: int) -> float:
        """The reference pool's price at the end of `block` (quote per base, no fee)."""
        return self.price(self.reference, self.state(self.reference, block).sqrt_price_x96)

    def swaps(self, first_block: int, last_block: int) -> list[tuple[PoolSpec, PoolEvent]]:
        """The historical swaps of every pool in blocks `first_block..last_block`."""
        return [
            (replay.spec, event)
            for replay in self.pools.values()
            for event in replay.events
            if event.kind == "SWAP" and first_block <= event.block_number <= last_block
        ]

    def vwap(self, first_block: int, last_block: int) -> float | None:
        """Volume-weighted price (quote per base) of the historical swaps in the blocks;
        None when there were none."""
        base_units = quote_units = 0
        for spec, event in self.swaps(first_block, last_block):
            base_is_0 = self.base.lower() == spec.token0.lower()
            base_units += abs(event.amount0 if base_is_0 else event.amount1)
            quote_units += abs(event.amount1 if base_is_0 else event.amount0)
        if base_units == 0:
            return None
        scale = 10.0 ** (self.decimals(self.base) - self.decimals(self.quote))
        return quote_units * scale / base_units


class ImpactRule(StrEnum):
    HISTORY_WINS = "history_wins"
    IMPACT_PERSISTS = "impact_persists"


@dataclass(frozen=True)
class PoolTrade:
    """One hop of one of our swaps, as its pool settled it. `anchor` names the replayed
    state it was settled on: (block, log index) of that state's last historical event."""

    pool: str
    token_in: str
    amount_in: int
    amount_out: int
    anchor: tuple[int, int]
    block: int


class SimulatedVenue:
    """Fills swaps on the replayed market with the Rust engine, our own earlier swaps
    reconciled by `rule` (see the module docstring)."""

    def __init__(self, market: Market, rule: ImpactRule = ImpactRule.HISTORY_WINS) -> None:
        self.market = market
        self.rule = rule
        self.engine = ExecutionEngine()
        self.trades: list[PoolTrade] = []  # ours, committed, in order

    def quote(
        self, block: int, pools: Sequence[str], token_in: str, amount_in: int
    ) -> list[PoolTrade]:
        """The hops of a swap of `amount_in` along `pools` landing in `block`, not yet
        committed; ValueError when a pool cannot absorb its input."""
        hops, token, amount = [], token_in, amount_in
        for pool in pools:
            hop = self._hop(block, pool, token, amount)
            hops.append(hop)
            token, amount = self.market.other(pool, token), hop.amount_out
        return hops

    def _hop(self, block: int, pool: str, token_in: str, amount_in: int) -> PoolTrade:
        snapshot = self.market.state(pool, block)
        anchor = (snapshot.block_number, snapshot.log_index)
        earlier = self.carried(pool, anchor)
        if any(t.token_in.lower() != token_in.lower() for t in earlier):
            raise BacktestError(f"pool {pool}: our earlier swaps went the other way")
        self.market.pools[pool].load_into(self.engine, snapshot)
        paths = [([pool], t.amount_in) for t in earlier] + [([pool], amount_in)]
        out = self.engine.quote_sequential(paths, token_in)[-1]
        return PoolTrade(pool, token_in, amount_in, out, anchor, block)

    def carried(self, pool: str, anchor: tuple[int, int]) -> list[PoolTrade]:
        """Our earlier swaps in `pool` that a fill on the state `anchor` still sees."""
        mine = [t for t in self.trades if t.pool == pool]
        if self.rule is ImpactRule.IMPACT_PERSISTS:
            return mine
        return [t for t in mine if t.anchor == anchor]

    def commit(self, hops: Sequence[PoolTrade]) -> None:
        self.trades.extend(hops)
