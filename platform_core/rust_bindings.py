"""The Python side of `platform_rust`: domain objects in, domain objects out.

The native module speaks opaque strings and integers; the platform speaks pool-state
records, `RouteHop`s and venues' books. Conversions into the native calls live here; the
planner turns routes into steps (`platform_core/execution/planner.py`) and a
`PoolRegistry` keeps the pool metadata routes do not echo back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import platform_rust
from platform_core.market.pool_state import V3PoolState
from platform_rust import ConsolidatedBook, ExecutionEngine, NoRouteError

if TYPE_CHECKING:  # the registry's package imports the planner, which needs the market
    from platform_core.market.pool_registry import PoolRegistry

__all__ = ["NoRouteError", "consolidated_book", "decode_transaction", "load_v3"]

decode_transaction = platform_rust.decode_transaction


def load_v3(
    engine: ExecutionEngine | PoolRegistry, states: Iterable[V3PoolState], venue: str
) -> int:
    """Upsert pool states read from the chain; pools are keyed by address."""
    count = 0
    for state in states:
        info = state.info
        engine.upsert_v3_pool(
            info.address, info.token0, info.token1, info.fee_pips, info.tick_spacing,
            state.sqrt_price_x96, state.liquidity, state.tick, list(state.ticks), venue=venue,
        )  # fmt: skip
        count += 1
    return count


Levels = Sequence[tuple[float, float]]


def consolidated_book(
    books: Mapping[str, tuple[Levels, Levels]], *, depth: int | None = None
) -> ConsolidatedBook:
    """Merge venues' (bids, asks) into one book, AMM depth ladders included."""
    return platform_rust.aggregate_order_books(
        [{"venue": venue, "bids": bids, "asks": asks} for venue, (bids, asks) in books.items()],
        depth=depth,
    )
