"""The consolidated market: one order book per pair, over every venue and fee tier.

Each pool trading a pair is read as an order book from the engine (`depth_ladder`: exact
pool math for any pool kind, V2 or V3), on both sides, and the pools are merged with
`aggregate_order_books`, grouped by venue, into one book per (base, quote):

- prices are in quote per base, sizes in base, both in whole tokens (token decimals);
- bids: the pool's ladder for selling base (price: quote per base net of the fee, after
  the pool moved k steps from spot; size: base sold within that step);
- asks: the pool's ladder for selling quote, inverted: price 1 / (base per quote), size the
  base that step's quote buys at that step's price (a slight under-count: within the step
  the price is better);
- `mid` is halfway between the best bid and the best ask; `depth` within +-N bps of mid is
  the base (and quote) the bids at or above `mid * (1 - N/1e4)` take, and the asks at or
  below `mid * (1 + N/1e4)` give, from the unbucketed levels;
- the published levels are bucketed to `price_step_bps` of mid (bids rounded down, asks up),
  so each level says how much of it each venue holds.

Pure functions over an engine and its pools' metadata: no Ray, no services.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from platform_rust import ConsolidatedBook, ExecutionEngine, aggregate_order_books

log = logging.getLogger(__name__)

DEPTH_BANDS_BPS = (10, 50, 100)
# Ladder resolution: per pool and side, `POOL_LEVELS` steps over `MAX_IMPACT_BPS` (3 bps per
# step), far enough to cover the widest band beyond the dearest fee tier (1 %).
POOL_LEVELS = 120
MAX_IMPACT_BPS = 360.0
PRICE_STEP_BPS = 5.0
MAX_LEVELS = 100  # published levels per side

Levels = list[tuple[float, float]]


class PoolMetaLike(Protocol):
    """What the book needs of a pool's metadata (`PoolRegistry.pools` values)."""

    @property
    def token0(self) -> str: ...
    @property
    def token1(self) -> str: ...
    @property
    def venue(self) -> str: ...


@dataclass(frozen=True)
class Token:
    address: str  # as the engine keys it (checksum)
    symbol: str
    decimals: int


@dataclass(frozen=True)
class Level:
    price: float
    size: float  # base
    venues: dict[str, float]  # venue -> its part of `size`


@dataclass(frozen=True)
class Depth:
    """What the book holds within +-`bps` of mid: base and quote on each side."""

    bps: float
    bid_base: float
    bid_quote: float
    ask_base: float
    ask_quote: float


@dataclass(frozen=True)
class PairBook:
    chain_id: int
    base: Token
    quote: Token
    best_bid: float | None
    best_ask: float | None
    mid: float | None
    bids: tuple[Level, ...]  # best first, bucketed to `price_step`
    asks: tuple[Level, ...]
    price_step: float | None
    depth: tuple[Depth, ...]
    venues: tuple[str, ...]
    pools: tuple[str, ...]
    block_number: int
    as_of: datetime

    def to_json(self) -> dict[str, Any]:
        def side(levels: Sequence[Level]) -> list[dict[str, Any]]:
            return [{"price": lv.price, "size": lv.size, "venues": lv.venues} for lv in levels]

        def token(t: Token) -> dict[str, Any]:
            return {"address": t.address, "symbol": t.symbol, "decimals": t.decimals}

        return {
            "chain_id": self.chain_id, "base": token(self.base), "quote": token(self.quote),
            "best_bid": self.best_bid, "best_ask": self.best_ask, "mid": self.mid,
            "bids": side(self.bids), "asks": side(self.asks), "price_step": self.price_step,
            "depth": [vars(d) for d in self.depth], "venues": list(self.venues),
            "pools": list(self.pools), "block_number": self.block_number,
            "as_of": self.as_of.isoformat(),
        }  # fmt: skip


def pair_pools(pools: Mapping[str, PoolMetaLike], base: str, quote: str) -> dict[str, list[str]]:
    """The pools trading base against quote (either token order), by venue."""
    pair = {base.lower(), quote.lower()}
    found: dict[str, list[str]] = defaultdict(list)
    for pool_id, meta in sorted(pools.items()):
        if {meta.token0.lower(), meta.token1.lower()} == pair and len(pair) == 2:
            found[meta.venue].append(pool_id)
    return dict(found)


def pool_sides(
    engine: ExecutionEngine,
    pool_id: str,
    base: Token,
    quote: Token,
    *,
    levels: int = POOL_LEVELS,
    max_impact_bps: float = MAX_IMPACT_BPS,
    ask_levels: int | None = None,
) -> tuple[Levels, Levels]:
    """One pool as (bids, asks) in quote per base and base sizes, per step (not cumulative).
    A side the pool cannot quote (no liquidity at spot) is empty. `ask_levels` (steps of the
    same size) cuts the asks short: enough for the best ask alone."""

    def ladder(token_in: Token, token_out: Token, steps: int) -> Levels:
        try:
            return engine.depth_ladder(
                pool_id, token_in.address, levels=steps,
                max_impact_bps=max_impact_bps * steps / levels,
                decimals_in=token_in.decimals, decimals_out=token_out.decimals,
                cumulative=False,
            )  # fmt: skip
        except ValueError as exc:
            log.debug("book: pool %s cannot sell %s (%s)", pool_id, token_in.symbol, exc)
            return []

    bids = [(p, s) for p, s in ladder(base, quote, levels) if p > 0 and s > 0]
    sells = ladder(quote, base, levels if ask_levels is None else ask_levels)
    asks = [(1.0 / p, s * p) for p, s in sells if p > 0 and s > 0]
    return bids, asks


def consolidate(
    engine: ExecutionEngine,
    by_venue: Mapping[str, Sequence[str]],
    base: Token,
    quote: Token,
    *,
    levels: int = POOL_LEVELS,
    max_impact_bps: float = MAX_IMPACT_BPS,
    price_bucket: float | None = None,
    ask_levels: int | None = None,
) -> ConsolidatedBook:
    """Every pool's ladder, merged per venue then across venues."""
    books: list[dict[str, Any]] = []
    for venue, pool_ids in by_venue.items():
        for pool_id in pool_ids:
            bids, asks = pool_sides(engine, pool_id, base, quote, levels=levels,
                                    max_impact_bps=max_impact_bps,
                                    ask_levels=ask_levels)  # fmt: skip
            books.append({"venue": venue, "bids": bids, "asks": asks})
    return aggregate_order_books(books, price_bucket=price_bucket)


def mid_price(best_bid: float | None, best_ask: float | None) -> float | None:
    if best_bid is None or best_ask is None:
        return None
    return (best_bid + best_ask) / 2.0


def side_depth(
    levels: Iterable[tuple[float, float, Mapping[str, float]]],
    limit: float,
    *,
    bids: bool,
    venues: Iterable[str] | None = None,
) -> tuple[float, float]:
    """(base, quote) of the levels at or better than `limit` (bids at or above it, asks at
    or below), counting only `venues`' parts when given."""
    allowed = None if venues is None else set(venues)
    base = quote = 0.0
    for price, size, parts in levels:
        if (price < limit) if bids else (price > limit):
            continue
        part = size if allowed is None else sum(v for k, v in parts.items() if k in allowed)
        base += part
        quote += part * price
    return base, quote


def depth_bands(
    raw: ConsolidatedBook, mid: float | None, bands: Iterable[float] = DEPTH_BANDS_BPS
) -> tuple[Depth, ...]:
    """Depth within each +-bps band of mid (none without a mid)."""
    if mid is None:
        return ()
    bid_levels, ask_levels = raw.to_tuples()
    out = []
    for bps in bands:
        bid = side_depth(bid_levels, mid * (1 - bps / 1e4), bids=True)
        ask = side_depth(ask_levels, mid * (1 + bps / 1e4), bids=False)
        out.append(Depth(float(bps), bid[0], bid[1], ask[0], ask[1]))
    return tuple(out)


def _levels(book: ConsolidatedBook, side: str, limit: int) -> tuple[Level, ...]:
    rows = book.bids if side == "bids" else book.asks
    return tuple(Level(lv.price, lv.size, dict(lv.venues)) for lv in rows[:limit])


def build_book(
    engine: ExecutionEngine,
    pools: Mapping[str, PoolMetaLike],
    base: Token,
    quote: Token,
    *,
    chain_id: int,
    block_number: int,
    as_of: datetime,
    levels: int = POOL_LEVELS,
    max_impact_bps: float = MAX_IMPACT_BPS,
    price_step_bps: float = PRICE_STEP_BPS,
    max_levels: int = MAX_LEVELS,
) -> PairBook | None:
    """The pair's consolidated book, or None when no pool trades it."""
    by_venue = pair_pools(pools, base.address, quote.address)
    if not by_venue:
        return None
    raw = consolidate(engine, by_venue, base, quote, levels=levels,
                      max_impact_bps=max_impact_bps)  # fmt: skip
    mid = mid_price(raw.best_bid, raw.best_ask)
    step = None if mid is None else mid * price_step_bps / 1e4
    shown = raw
    if step is not None and math.isfinite(step) and step > 0:
        shown = consolidate(engine, by_venue, base, quote, levels=levels,
                            max_impact_bps=max_impact_bps, price_bucket=step)  # fmt: skip
    return PairBook(
        chain_id=chain_id, base=base, quote=quote, best_bid=raw.best_bid,
        best_ask=raw.best_ask, mid=mid, bids=_levels(shown, "bids", max_levels),
        asks=_levels(shown, "asks", max_levels), price_step=step,
        depth=depth_bands(raw, mid), venues=tuple(by_venue),
        pools=tuple(p for ids in by_venue.values() for p in ids),
        block_number=block_number, as_of=as_of,
    )  # fmt: skip


def pairs_of(
    pools: Mapping[str, PoolMetaLike], tokens: Mapping[str, Token]
) -> set[tuple[str, str]]:
    """Every ordered (base, quote) pair of known tokens some pool trades, both ways round
    (lower-case addresses)."""
    pairs: set[tuple[str, str]] = set()
    for meta in pools.values():
        a, b = meta.token0.lower(), meta.token1.lower()
        if a in tokens and b in tokens and a != b:
            pairs.update({(a, b), (b, a)})
    return pairs


def liquidity_within(
    engine: ExecutionEngine,
    pools: Mapping[str, PoolMetaLike],
    sell: Token,
    buy: Token,
    *,
    max_slippage: float,
    venues: Iterable[str] | None = None,
    levels: int = POOL_LEVELS,
) -> float | None:
    """How much of `sell` (whole tokens) the consolidated book of (sell, buy) takes within
    `max_slippage` of mid, on `venues` only when given: the bids down to
    `mid * (1 - max_slippage)`. None when no pool trades the pair or the book has no mid.
    The ladders reach as far as the slippage (at least the widest band)."""
    by_venue = pair_pools(pools, sell.address, buy.address)
    if venues is not None:
        allowed = set(venues)
        by_venue = {v: ids for v, ids in by_venue.items() if v in allowed}
    if not by_venue:
        return None
    impact = max(MAX_IMPACT_BPS, max_slippage * 1e4 * 1.5)
    # Only the bids are summed: of the asks, the best is enough (for the mid).
    raw = consolidate(engine, by_venue, sell, buy, levels=levels, max_impact_bps=impact,
                      ask_levels=1)  # fmt: skip
    mid = mid_price(raw.best_bid, raw.best_ask)
    if mid is None:
        return None
    bids, _ = raw.to_tuples()
    base, _ = side_depth(bids, mid * (1 - max_slippage), bids=True)
    return base


class PoolsLike(Protocol):
    """An engine and its pools' metadata (`PoolRegistry`)."""

    @property
    def engine(self) -> ExecutionEngine: ...
    @property
    def pools(self) -> Mapping[str, PoolMetaLike]: ...


class BookDepth:
    """The gate's depth source: `liquidity_within` on the gate's own engine (the one its
    market feed keeps current), so scoring reads no service."""

    def __init__(self, registry: PoolsLike, *, levels: int = POOL_LEVELS) -> None:
        self.registry = registry
        self.levels = levels

    def depth(
        self, sell: Token, buy: Token, max_slippage: float, venues: Iterable[str] | None
    ) -> float | None:
        return liquidity_within(
            self.registry.engine, self.registry.pools, sell, buy, max_slippage=max_slippage,
            venues=venues, levels=self.levels,
        )  # fmt: skip
