"""Type stub for the native module `platform_rust` (built from `rust/` by maturin)."""

from collections.abc import Sequence

__version__: str

def build_profile() -> str:
    """"release" or "debug": the Cargo profile the extension was compiled with."""

# --- Route optimiser -------------------------------------------------------------------
# Amounts are Python ints in the tokens' smallest units (uint256 inside); negative values or
# values beyond uint256 raise ValueError. Token and pool ids are opaque strings.

class NoRouteError(ValueError):
    """No route connects the tokens within the hop limit, allowed venues and liquidity."""

class Hop:
    """One pool traversal of a split."""

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

class Split:
    """One path of a route and the share of the input it carries."""

    @property
    def amount_in(self) -> int: ...
    @property
    def amount_out(self) -> int: ...
    @property
    def hops(self) -> list[Hop]: ...
    @property
    def gas_units(self) -> int:
        """Gas of this path: per hop (V2 60k, V3 100k) plus 25k per initialised tick crossed."""
    @property
    def pool_path(self) -> list[str]:
        """Pool ids in order, as `ExecutionEngine.quote` takes them."""

class Route:
    """Result of `ExecutionEngine.optimize_route`; all amounts exact integer simulations.

    Splits are settled one after another against the pool state the previous splits left,
    so when two splits share a pool its liquidity is not counted twice (`amount_out` then
    equals `quote_sequential` of the splits, not the sum of independent `quote`s).
    """

    @property
    def amount_in(self) -> int: ...
    @property
    def amount_out(self) -> int:
        """Gross output (sum of the splits' outputs)."""
    @property
    def splits(self) -> list[Split]: ...
    @property
    def gas_units(self) -> int: ...
    @property
    def gas_cost_out(self) -> int:
        """Gas cost (`gas_units * gas_price_wei`) in output-token units; 0 without a gas price."""
    @property
    def amount_out_net(self) -> int:
        """`amount_out - gas_cost_out` (may be negative for dust trades)."""

class ExecutionEngine:
    """In-memory liquidity graph (tokens = nodes, pools = edges) with exact Uniswap math.

    `gas_token` is the token gas is paid in (wrapped ether), used to price gas into the
    output token when `optimize_route` gets a `gas_price_wei`; by default a token named
    "WETH" or the mainnet WETH address is used if present.
    Searches release the GIL; upserts from another thread wait for a running search.
    """

    def __init__(self, *, gas_token: str | None = None) -> None: ...
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
        max_splits: int = 4,
        allowed_venues: Sequence[str] | None = None,
        gas_price_wei: int | None = 0,
    ) -> Route:
        """Route maximising output (net of gas when `gas_price_wei` > 0).

        `max_hops` in 1..=4; `max_splits` >= 1 (1 = single path). Raises NoRouteError when
        no path connects the tokens, ValueError for unknown tokens or invalid arguments.
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
