"""The Python side of `platform_rust`: domain objects in, domain objects out.

The native module speaks opaque strings and integers; the platform speaks `Asset`s,
`IntentConstraints`, `RouteHop`s and pool-state records. This module is the one place that
converts between the two, so the rest of `platform_core` never builds Rust arguments by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import platform_rust
from platform_core.market.pool_state import V3PoolState
from platform_core.types import Asset, IntentConstraints, RouteHop
from platform_rust import ConsolidatedBook, ExecutionEngine, NoRouteError, Route, Split

__all__ = [
    "EngineRouter",
    "NoRouteError",
    "PoolMeta",
    "consolidated_book",
    "decode_transaction",
]

decode_transaction = platform_rust.decode_transaction


@dataclass(frozen=True)
class PoolMeta:
    """What the engine does not echo back about a pool but plans need: venue and fee."""

    venue: str
    fee_pips: int


class EngineRouter:
    """An `ExecutionEngine` plus the metadata of the pools loaded into it."""

    def __init__(self, engine: ExecutionEngine | None = None) -> None:
        self.engine = engine or ExecutionEngine()
        self.pools: dict[str, PoolMeta] = {}

    def load_v3(self, states: Iterable[V3PoolState], venue: str = "uniswap_v3") -> int:
        count = 0
        for state in states:
            info = state.info
            self.engine.upsert_v3_pool(
                info.address, info.token0, info.token1, info.fee_pips, info.tick_spacing,
                state.sqrt_price_x96, state.liquidity, state.tick, list(state.ticks),
                venue=venue,
            )  # fmt: skip
            self.pools[info.address] = PoolMeta(venue, info.fee_pips)
            count += 1
        return count

    def remove(self, pool_id: str) -> None:
        self.engine.remove_pool(pool_id)
        self.pools.pop(pool_id, None)

    def allowed_venues(self, constraints: IntentConstraints) -> list[str] | None:
        """The intent's venue filters applied to the venues the engine knows."""
        if constraints.allowed_venues is None and constraints.excluded_venues is None:
            return None
        known = {meta.venue for meta in self.pools.values()}
        return sorted(v for v in known if constraints.venue_allowed(v))

    def best_route(
        self,
        token_in: Asset,
        token_out: Asset,
        amount_in: int,
        constraints: IntentConstraints,
        *,
        max_hops: int = 3,
        max_splits: int = 4,
        gas_price_wei: int = 0,
    ) -> Route:
        """The engine's best route; `NoRouteError` when none exists under the filters."""
        venues = self.allowed_venues(constraints)
        if venues == []:
            raise NoRouteError("no known venue passes the intent's venue filters")
        return self.engine.optimize_route(
            token_in.address, token_out.address, amount_in, max_hops=max_hops,
            max_splits=max_splits, allowed_venues=venues, gas_price_wei=gas_price_wei,
        )  # fmt: skip

    def hops(self, split: Split) -> list[RouteHop]:
        """A split as the plan's `RouteHop`s (pool ids are pool addresses)."""
        return [
            RouteHop(
                pool_id=hop.pool_id,
                token_in=hop.token_in,
                token_out=hop.token_out,
                fee_pips=self.pools[hop.pool_id].fee_pips if hop.pool_id in self.pools else None,
                amount_in=hop.amount_in,
                amount_out=hop.amount_out,
            )
            for hop in split.hops
        ]


Levels = Sequence[tuple[float, float]]


def consolidated_book(
    books: Mapping[str, tuple[Levels, Levels]], *, depth: int | None = None
) -> ConsolidatedBook:
    """Merge venues' (bids, asks) into one book, AMM depth ladders included."""
    return platform_rust.aggregate_order_books(
        [{"venue": venue, "bids": bids, "asks": asks} for venue, (bids, asks) in books.items()],
        depth=depth,
    )
