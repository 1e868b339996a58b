"""Type stub for the native module `platform_rust` (built from `rust/` by maturin)."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, Required, Self, TypedDict, final, overload, type_check_only

from typing_extensions import Buffer

# What the compiled module exports (pyo3 writes its `__all__` from what is registered).
__all__ = [
    "Authorization",
    "BookLevel",
    "ConsolidatedBook",
    "Crossing",
    "DecodedTransaction",
    "ExecutionEngine",
    "Hop",
    "Leg",
    "NoRouteError",
    "Route",
    "Split",
    "__version__",
    "aggregate_order_books",
    "build_profile",
    "decode_transaction",
    "decode_transactions",
]

__version__: str

def build_profile() -> str:
    """ "release" or "debug": the Cargo profile the extension was compiled with."""

# ---------------------------------------------------------------- chain_monitor (decoding)

@final
class Authorization:
    """One EIP-7702 authorization tuple of a type-4 transaction (immutable)."""

    @property
    def chain_id(self) -> int: ...
    @property
    def address(self) -> str:
        """Checksummed delegate address."""
    @property
    def nonce(self) -> int: ...
    @property
    def y_parity(self) -> int: ...
    @property
    def r(self) -> int: ...
    @property
    def s(self) -> int: ...
    @property
    def authority(self) -> str | None:
        """Checksummed signer when decoded with `recover_sender=True` and it recovers."""

@final
class DecodedTransaction:
    """A decoded signed transaction of any EIP-2718 type (immutable; fields built on access)."""

    @property
    def tx_type(self) -> int:
        """0 legacy, 1 EIP-2930, 2 EIP-1559, 3 EIP-4844, 4 EIP-7702."""
    @property
    def chain_id(self) -> int | None:
        """None for a pre-EIP-155 legacy transaction."""
    @property
    def nonce(self) -> int: ...
    @property
    def to(self) -> str | None:
        """Checksummed recipient; None for a contract creation."""
    @property
    def value(self) -> int: ...
    @property
    def input(self) -> bytes: ...
    @property
    def gas_limit(self) -> int: ...
    @property
    def gas_price(self) -> int | None:
        """Legacy and EIP-2930 only."""
    @property
    def max_fee_per_gas(self) -> int | None:
        """Types 2, 3 and 4 only."""
    @property
    def max_priority_fee_per_gas(self) -> int | None:
        """Types 2, 3 and 4 only."""
    @property
    def max_fee_per_blob_gas(self) -> int | None:
        """Type 3 only."""
    @property
    def access_list(self) -> list[tuple[str, list[str]]]:
        """`[(checksummed address, [0x storage key, ...]), ...]`; empty for legacy."""
    @property
    def blob_versioned_hashes(self) -> list[str]:
        """0x hex hashes; empty unless type 3."""
    @property
    def has_blob_sidecar(self) -> bool:
        """True when the input was the type-3 network form (blobs, commitments, proofs:
        EIP-4844 or EIP-7594 cell proofs). The sidecar's structure is decoded strictly; its
        KZG content is not verified against the versioned hashes."""
    @property
    def authorization_list(self) -> list[Authorization]:
        """Empty unless type 4."""
    @property
    def y_parity(self) -> int: ...
    @property
    def v(self) -> int | None:
        """Legacy only: 27/28, or `chain_id * 2 + 35 + y_parity` (EIP-155)."""
    @property
    def r(self) -> int: ...
    @property
    def s(self) -> int: ...
    @property
    def hash(self) -> str:
        """0x hex transaction hash (type 3: of the form without the sidecar)."""
    @property
    def sender(self) -> str | None:
        """Checksummed signer when decoded with `recover_sender=True`, else None."""

def decode_transaction(raw: Buffer, *, recover_sender: bool = False) -> DecodedTransaction:
    """Decodes exactly one raw signed transaction (legacy RLP or `type || payload`, including
    the EIP-4844 network form). Raises ValueError on malformed input, or when
    `recover_sender=True` and the signature does not recover (high-s included)."""

@overload
def decode_transactions(
    raws: Iterable[Buffer],
    *,
    recover_sender: bool = False,
    errors: Literal["raise"] = "raise",
) -> list[DecodedTransaction]:
    """Decodes many raw transactions with the GIL released. `errors="raise"`: the first bad
    item raises ValueError("transaction {index}: ..."); `errors="return"`: its slot holds that
    ValueError and the other items decode."""

@overload
def decode_transactions(
    raws: Iterable[Buffer],
    *,
    recover_sender: bool = False,
    errors: Literal["return"],
) -> list[DecodedTransaction | ValueError]: ...

# ---------------------------------------------------------------- market_data (order books)

# Stub-only names (absent at runtime): private aliases, and a TypedDict marked as such.
_Level = tuple[float, float]
"""A `(price, size)` pair; any 2-item iterable of numbers is accepted (lists, numpy rows)."""

_LevelTuple = tuple[float, float, dict[str, float]]
"""`(price, size, {venue: size})`: one consolidated level in bulk form."""

@type_check_only
class VenueBookInput(TypedDict, total=False):
    """One venue's book as `aggregate_order_books` reads it. `venue` is required; a missing
    or None side is empty. An AMM pool's depth ladder (a list of `(price, size)`) fits either
    side as is. Books sharing a venue name are merged."""

    venue: Required[str]
    bids: Iterable[_Level] | None
    asks: Iterable[_Level] | None

@final
class BookLevel:
    """A consolidated price level (immutable)."""

    @property
    def price(self) -> float: ...
    @property
    def size(self) -> float:
        """Sum of the venues' sizes at this price."""
    @property
    def venues(self) -> dict[str, float]:
        """`{venue: size}` for the venues quoting here, in venue order."""

@final
class Crossing:
    """A venue whose best bid is at or above a venue's best ask (possibly the same venue)."""

    @property
    def bid_venue(self) -> str: ...
    @property
    def bid_price(self) -> float: ...
    @property
    def ask_venue(self) -> str: ...
    @property
    def ask_price(self) -> float: ...

@final
class ConsolidatedBook:
    """The merged view of several venues' books (immutable)."""

    @property
    def bids(self) -> list[BookLevel]:
        """Highest price first."""
    @property
    def asks(self) -> list[BookLevel]:
        """Lowest price first."""
    @property
    def venues(self) -> list[str]:
        """Distinct venue names in order of first appearance."""
    @property
    def best_bid(self) -> float | None:
        """Highest bid over all venues, before bucketing and depth."""
    @property
    def best_ask(self) -> float | None:
        """Lowest ask over all venues, before bucketing and depth."""
    @property
    def crossed(self) -> bool:
        """True when best bid >= best ask (crossed or locked)."""
    @property
    def crossings(self) -> list[Crossing]:
        """Every (bid venue, ask venue) pair whose best prices cross or lock."""
    @property
    def crossing_venues(self) -> list[str]:
        """Venues involved in any crossing, in venue order."""
    def to_tuples(self) -> tuple[list[_LevelTuple], list[_LevelTuple]]:
        """`(bids, asks)` as `(price, size, {venue: size})` tuples, built in one call (the
        fast way to read a whole book)."""

def aggregate_order_books(
    books: Iterable[Mapping[str, object] | VenueBookInput],
    *,
    depth: int | None = None,
    price_bucket: float | None = None,
) -> ConsolidatedBook:
    """Merges several venues' books: bids descending, asks ascending, sizes summed per price
    with the per-venue breakdown kept. `depth` keeps that many levels per side.
    `price_bucket` rounds prices to its multiples, bids down and asks up (a price within 1e-9
    relative of a multiple counts as on it); bids below one bucket fall into price 0.
    Zero-size levels are dropped. Crossing is computed on the full, unbucketed book.
    `depth` may be any non-negative int (beyond the platform's range: no limit).
    Raises ValueError for a price that is not positive and finite, a size that is negative
    or not finite, a non-positive `price_bucket` or one so small a bucketed price overflows,
    sizes at one level summing beyond the float range, or a negative `depth`;
    TypeError/KeyError for a malformed shape."""

# --- Route optimiser -------------------------------------------------------------------
# Amounts are Python ints in the tokens' smallest units (uint256 inside); negative values or
# values beyond uint256 raise ValueError. Token and pool ids are opaque strings.

class NoRouteError(ValueError):
    """No route connects the tokens within the hop limit, allowed venues and liquidity."""

@final
class Hop:
    """One pool traversal of a split or a leg."""

    @property
    def pool_id(self) -> str: ...
    @property
    def token_in(self) -> str: ...
    @property
    def token_out(self) -> str: ...
    @property
    def amount_in(self) -> int: ...
    @property
    def amount_out(self) -> int: ...

@final
class Split:
    """One path of a route and the share of the input it carries; its amounts are its part
    of the legs' (a leg that several paths share is divided among them in proportion to
    what each would receive swapped on its own, after the paths before it)."""

    @property
    def amount_in(self) -> int: ...
    @property
    def amount_out(self) -> int: ...
    @property
    def hops(self) -> list[Hop]: ...
    @property
    def gas_units(self) -> int:
        """Gas of this path swapped on its own: per hop (V2 60k, V3 100k), 60k per extra
        leg (each hop onto another venue starts another transaction), 25k per initialised
        tick crossed."""
    @property
    def pool_path(self) -> list[str]:
        """Pool ids in order, as `ExecutionEngine.quote` takes them."""

@final
class Leg:
    """One transaction of a route: a run of pools on one venue, traded once with all that
    the paths through it bring."""

    @property
    def amount_in(self) -> int: ...
    @property
    def amount_out(self) -> int: ...
    @property
    def hops(self) -> list[Hop]:
        """The pools in order, with the leg's whole amounts."""
    @property
    def inputs(self) -> list[tuple[int | None, int]]:
        """What pays for it: `(None, amount)` is the route's own input; `(j, amount)` is
        `amount` of leg `j`'s output (planned: when leg `j` yields more or less, each leg
        spending it takes its share in proportion, the last what is left)."""
    @property
    def gas_units(self) -> int:
        """Per hop (V2 60k, V3 100k) and initialised tick crossed (25k), and 60k more
        when it spends another leg's output."""

@final
class Route:
    """Result of `ExecutionEngine.optimize_route`; all amounts exact integer simulations.

    `splits` are the paths and how the input divides among them; `legs` the transactions
    that carry them out, in the order to send them, each simulated on the pool state the
    legs before it left (liquidity is never counted twice). When paths share pools and it
    pays (net of gas, given a gas price), a run of pools the same paths share is one leg,
    traded once with their sum: swapped path by path, each trade would leave its fee in the
    reserves the next meets. Otherwise each path is one leg per venue it crosses, and
    `amount_out` equals `quote_sequential` of the splits.
    """

    @property
    def amount_in(self) -> int: ...
    @property
    def amount_out(self) -> int:
        """Gross output: the last legs' outputs (also the sum of the splits')."""
    @property
    def splits(self) -> list[Split]: ...
    @property
    def legs(self) -> list[Leg]: ...
    @property
    def gas_units(self) -> int:
        """The legs' gas."""
    @property
    def gas_cost_out(self) -> int:
        """Gas cost (`gas_units * gas_price_wei`) in output-token units; 0 without a gas price."""
    @property
    def amount_out_net(self) -> int:
        """`amount_out - gas_cost_out` (may be negative for dust trades)."""

@final
class ExecutionEngine:
    """In-memory liquidity graph (tokens = nodes, pools = edges) with exact Uniswap math.

    `gas_token` is the token gas is paid in (wrapped ether), used to price gas into the
    output token when `optimize_route` gets a `gas_price_wei`; by default a token named
    "WETH" or the mainnet WETH address is used if present.
    Searches release the GIL; upserts from another thread wait for a running search.
    """

    def __new__(cls, *, gas_token: str | None = None) -> Self: ...
    def upsert_v2_pool(
        self,
        pool_id: str,
        token0: str,
        token1: str,
        reserve0: int,
        reserve1: int,
        fee_pips: int = 3000,
        venue: str = "uniswap_v2",
    ) -> None:
        """Insert or replace a constant-product pool (fee in pips: 3000 = 0.3 %)."""
    def upsert_v3_pool(
        self,
        pool_id: str,
        token0: str,
        token1: str,
        fee_pips: int,
        tick_spacing: int,
        sqrt_price_x96: int,
        liquidity: int,
        tick: int,
        ticks: Sequence[tuple[int, int]],
        venue: str = "uniswap_v3",
    ) -> None:
        """Insert or replace a concentrated-liquidity pool.

        `ticks` lists the initialised ticks as `(tick_index, liquidity_net)`; indices must be
        multiples of `tick_spacing`, and `tick` must agree with `sqrt_price_x96`.
        """
    def remove_pool(self, pool_id: str) -> None:
        """Remove a pool; ValueError if unknown."""
    def pool_count(self) -> int: ...
    def __len__(self) -> int: ...
    def quote(self, pool_path: Sequence[str], token_in: str, amount_in: int) -> int:
        """Exact output of swapping `amount_in` along `pool_path`, each pool from its
        current state. ValueError for unknown pools/tokens, a pool not trading the running
        token, or a pool that cannot absorb the whole input."""
    def quote_sequential(
        self, paths: Sequence[tuple[Sequence[str], int]], token_in: str
    ) -> list[int]:
        """Exact outputs of several `(pool_path, amount_in)` swaps executed one after
        another, each seeing the pool states the previous ones left (the graph itself is
        not modified). This is how a split route is settled."""
    def optimize_route(
        self,
        token_in: str,
        token_out: str,
        amount_in: int,
        *,
        max_hops: int = 3,
        max_splits: int | None = None,
        allowed_venues: Sequence[str] | None = None,
        gas_price_wei: int | None = None,
        single_venue_paths: bool = False,
    ) -> Route:
        """Route maximising output (net of gas when `gas_price_wei` > 0; None is 0).

        The input is split across hop-bounded paths at the optimum of the convex routing
        problem (equal marginal output on every used path, no unused path better; pools
        shared by paths count their summed flow), never below the best single path; with a
        gas price each extra split and each extra leg must pay for its gas. `max_hops` in
        1..=4; `max_splits` >= 1 caps the paths used (1 = single path; None = as many as the
        optimum needs, up to 256). With `single_venue_paths`, every split's hops are on one
        venue (one router transaction per split; different splits may use different venues).
        The route's `legs` carry it out: a run of pools the same paths share is traded once
        when that pays (see `Route`). Raises NoRouteError when no path connects the tokens,
        ValueError for unknown tokens or invalid arguments.
        """
    def depth_ladder(
        self,
        pool_id: str,
        token_in: str,
        *,
        levels: int = 20,
        max_impact_bps: float = 500.0,
        decimals_in: int = 0,
        decimals_out: int = 0,
        cumulative: bool = True,
    ) -> list[tuple[float, float]]:
        """A pool as order-book levels for selling `token_in`: `[(price, size), ...]`.

        Level k (1..=levels) is the marginal price, net of the pool fee, in `token_out` per
        `token_in` after the pool price has moved `k * max_impact_bps / levels` bps from
        spot; size is the `token_in` amount tradable down to that price, cumulative from
        spot (or per level if `cumulative=False`). Decimals convert raw units to whole
        tokens; with the defaults both are raw. The list is shaped like the (price, size)
        levels `aggregate_order_books` takes.
        """
