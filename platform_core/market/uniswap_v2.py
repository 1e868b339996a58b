"""Uniswap V2 and its forks (SushiSwap V2): pairs from the factory's `PairCreated` logs,
reserves through `getReserves`, swaps through UniswapV2Router02 (exact input).

The venue's name comes from the deployment (`"sushiswap_v2"` on the devnet): every fork has
the same contracts, so one adapter serves any of them under its own name. Quotes come from
the Rust engine, which does the constant-product math itself (`upsert_v2_pool`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from platform_core.chain.client import ChainClient
from platform_core.chain.sender import TxRequest
from platform_core.market import contracts as c
from platform_core.market.adapter import SwapOrder, VenueAdapter, same_address
from platform_core.market.pool_state import PoolInfo, PoolKind, PoolState, V2PoolState

_BATCH = 500  # eth_calls per JSON-RPC batch


@dataclass(frozen=True)
class UniswapV2Addresses:
    factory: str
    router: str
    weth: str
    fee_pips: int = 3000
    deployed_at_block: int = 0

    @classmethod
    def from_deployment(
        cls, deployment: Mapping[str, Any], venue: str = "sushiswap_v2"
    ) -> UniswapV2Addresses:
        """The `venue` section of a deployment file (factory, router, fee_pips,
        deployed_at_block) and its WETH."""
        v2 = deployment[venue]
        return cls(
            factory=v2["factory"],
            router=v2["router"],
            weth=deployment["tokens"]["WETH"]["address"],
            fee_pips=int(v2.get("fee_pips", 3000)),
            deployed_at_block=int(v2.get("deployed_at_block", 0)),
        )


class UniswapV2Adapter(VenueAdapter):
    creation_event = c.PAIR_CREATED
    pool_events = (c.SYNC,)  # every change of a pair's reserves logs its new reserves

    def __init__(
        self, client: ChainClient, chain_id: int, addresses: UniswapV2Addresses, venue: str
    ) -> None:
        self.client = client
        self.chain_id = chain_id
        self.addresses = addresses
        self.venue = venue
        self._pools: list[PoolInfo] | None = None

    @property
    def factory(self) -> str:
        return self.addresses.factory

    # -- pools ----------------------------------------------------------------------------

    async def discover_pools(self) -> list[PoolInfo]:
        pools = []
        created = await self._creations(self.addresses.deployed_at_block)
        for token0, token1, pair, _index in created:
            pools.append(
                PoolInfo(
                    to_checksum_address(pair),
                    to_checksum_address(token0),
                    to_checksum_address(token1),
                    self.addresses.fee_pips,
                    0,  # no ticks
                    venue=self.venue,
                    kind=PoolKind.V2,
                )
            )
        self._pools = pools
        return pools

    async def pool_state(self, pool: PoolInfo, block: int | None = None) -> V2PoolState:
        """The pair's reserves at `block` (the head by default)."""
        at = block if block is not None else await self.client.block_number()
        (state,) = await self._reserves([pool], at)
        return state

    async def pool_states(self, pools: Sequence[PoolInfo], block: int) -> list[PoolState]:
        """Every pair's reserves at `block`, `_BATCH` reads per JSON-RPC batch."""
        states: list[PoolState] = []
        for i in range(0, len(pools), _BATCH):
            states += await self._reserves(pools[i : i + _BATCH], block)
        return states

    async def _reserves(self, pools: Sequence[PoolInfo], block: int) -> list[V2PoolState]:
        raws = await self.client.batch_call(
            [(pool.address, c.GET_RESERVES.encode()) for pool in pools], block
        )
        states = []
        for pool, raw in zip(pools, raws, strict=True):
            reserve0, reserve1, _timestamp = c.GET_RESERVES.decode_output(raw)
            states.append(V2PoolState(pool, block, int(reserve0), int(reserve1)))
        return states

    # -- transactions ---------------------------------------------------------------------

    def swap_calldata(self, order: SwapOrder) -> bytes:
        """Router02's exact-input swap for `order`: ETH in, ETH out, or tokens to tokens."""
        path = list(order.route.tokens)
        guards = (order.recipient, order.deadline)
        if order.native_in:
            return c.SWAP_EXACT_ETH_FOR_TOKENS.encode(order.min_amount_out, path, *guards)
        if order.native_out:
            return c.SWAP_EXACT_TOKENS_FOR_ETH.encode(
                order.amount_in, order.min_amount_out, path, *guards
            )
        return c.SWAP_EXACT_TOKENS_FOR_TOKENS.encode(
            order.amount_in, order.min_amount_out, path, *guards
        )

    async def build_swap_tx(self, order: SwapOrder, owner: str, step_key: str) -> list[TxRequest]:
        weth = self.addresses.weth
        if order.native_in and not same_address(order.token_in, weth):
            raise ValueError("native_in needs a route that starts with WETH")
        if order.native_out and not same_address(order.token_out, weth):
            raise ValueError("native_out needs a route that ends with WETH")
        if order.native_in and order.native_out:
            raise ValueError("a swap pays or receives ETH, not both")
        router = self.addresses.router
        requests = await self.approvals(order, owner, router, step_key)
        requests.append(
            TxRequest(
                step_key=f"{step_key}:swap",
                chain_id=self.chain_id,
                to=router,
                data=self.swap_calldata(order),
                value=order.amount_in if order.native_in else 0,
                meta={**order.meta, "kind": "swap", "min_amount_out": str(order.min_amount_out)},
            )
        )
        return requests
