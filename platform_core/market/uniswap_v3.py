"""Uniswap V3: pools from the factory's logs, state through TickLens, swaps through
SwapRouter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from platform_core.chain.client import ChainClient
from platform_core.chain.sender import TxRequest
from platform_core.market import contracts as c
from platform_core.market.adapter import MAX_UINT256 as MAX_UINT256  # the backtest's too
from platform_core.market.adapter import Route, SwapOrder, VenueAdapter, same_address
from platform_core.market.pool_state import PoolInfo, PoolKind, V3PoolState

MIN_TICK, MAX_TICK = -887272, 887272  # TickMath's bounds

_BATCH = 500  # eth_calls per JSON-RPC batch


@dataclass(frozen=True)
class UniswapV3Addresses:
    factory: str
    swap_router: str
    quoter_v2: str
    tick_lens: str
    weth: str
    deployed_at_block: int = 0

    @classmethod
    def from_deployment(cls, deployment: Mapping[str, Any]) -> UniswapV3Addresses:
        v3 = deployment["uniswap_v3"]
        return cls(
            factory=v3["factory"],
            swap_router=v3["swap_router"],
            quoter_v2=v3["quoter_v2"],
            tick_lens=v3["tick_lens"],
            weth=deployment["tokens"]["WETH"]["address"],
            deployed_at_block=int(v3.get("deployed_at_block", 0)),
        )


def encode_path(route: Route) -> bytes:
    """SwapRouter / QuoterV2 path: token (20 bytes), fee (3 bytes), token, ..."""
    out = bytes.fromhex(route.tokens[0][2:])
    for fee, token in zip(route.fee_tiers(), route.tokens[1:], strict=True):
        out += fee.to_bytes(3, "big") + bytes.fromhex(token[2:])
    return out


class UniswapV3Adapter(VenueAdapter):
    venue = "uniswap_v3"
    creation_event = c.POOL_CREATED
    pool_events = (c.SWAP, c.MINT, c.BURN)

    def __init__(self, client: ChainClient, chain_id: int, addresses: UniswapV3Addresses) -> None:
        self.client = client
        self.chain_id = chain_id
        self.addresses = addresses
        self._pools: list[PoolInfo] | None = None

    @property
    def factory(self) -> str:
        return self.addresses.factory

    # -- pools ----------------------------------------------------------------------------

    async def discover_pools(self) -> list[PoolInfo]:
        pools = []
        created = await self._creations(self.addresses.deployed_at_block)
        for token0, token1, fee, spacing, pool in created:
            pools.append(
                PoolInfo(
                    to_checksum_address(pool),
                    to_checksum_address(token0),
                    to_checksum_address(token1),
                    fee,
                    spacing,
                    venue=self.venue,
                    kind=PoolKind.V3,
                )
            )
        self._pools = pools
        return pools

    async def pool_state(
        self, pool: PoolInfo, block: int | None = None, *, full_scan: bool = False
    ) -> V3PoolState:
        """slot0, active liquidity and every initialised tick, all read at one block.

        Ticks are listed by TickLens, one bitmap word at a time. The words come from the
        pool's Mint logs (a tick is only ever initialised by a mint, so no word is missed);
        `full_scan` reads every bitmap word instead (slow for small tick spacings).
        """
        at = block if block is not None else await self.client.block_number()
        slot0_raw, liquidity_raw = await self.client.batch_call(
            [(pool.address, c.SLOT0.encode()), (pool.address, c.LIQUIDITY.encode())], at
        )
        sqrt_price, tick, *_ = c.SLOT0.decode_output(slot0_raw)
        (liquidity,) = c.LIQUIDITY.decode_output(liquidity_raw)
        words = await (self._scan_words(pool, at) if full_scan else self._minted_words(pool, at))
        ticks = await self._populated_ticks(pool, sorted(words), at)
        return V3PoolState(pool, at, sqrt_price, tick, liquidity, ticks)

    async def _minted_words(self, pool: PoolInfo, block: int) -> set[int]:
        logs = await self.client.get_logs(
            {
                "address": pool.address,
                "topics": ["0x" + c.MINT.topic.hex()],
                "fromBlock": self.addresses.deployed_at_block,
                "toBlock": block,
            }
        )
        words: set[int] = set()
        for log in logs:
            _sender, _owner, lower, upper, *_ = c.MINT.decode(log["topics"], log["data"])
            words.update(((lower // pool.tick_spacing) >> 8, (upper // pool.tick_spacing) >> 8))
        return words

    async def _scan_words(self, pool: PoolInfo, block: int) -> set[int]:
        first = (MIN_TICK // pool.tick_spacing) >> 8
        last = (MAX_TICK // pool.tick_spacing) >> 8
        words = list(range(first, last + 1))
        bitmaps: list[bytes] = []
        for i in range(0, len(words), _BATCH):
            chunk = words[i : i + _BATCH]
            bitmaps += await self.client.batch_call(
                [(pool.address, c.TICK_BITMAP.encode(w)) for w in chunk], block
            )
        return {w for w, raw in zip(words, bitmaps, strict=True) if int.from_bytes(raw, "big")}

    async def _populated_ticks(
        self, pool: PoolInfo, words: list[int], block: int
    ) -> tuple[tuple[int, int], ...]:
        lens = self.addresses.tick_lens
        results = await self.client.batch_call(
            [(lens, c.POPULATED_TICKS.encode(pool.address, w)) for w in words], block
        )
        ticks = [
            (tick, net)
            for raw in results
            for tick, net, _gross in c.POPULATED_TICKS.decode_output(raw)[0]
        ]
        return tuple(sorted(ticks))

    # -- transactions ---------------------------------------------------------------------

    def swap_calldata(self, order: SwapOrder, recipient: str) -> bytes:
        route = order.route
        fees = route.fee_tiers()
        if len(fees) == 1:
            return c.EXACT_INPUT_SINGLE.encode(
                (
                    route.tokens[0],
                    route.tokens[1],
                    fees[0],
                    recipient,
                    order.deadline,
                    order.amount_in,
                    order.min_amount_out,
                    0,  # no price limit: amountOutMinimum is the guard
                )
            )
        return c.EXACT_INPUT.encode(
            (encode_path(route), recipient, order.deadline, order.amount_in, order.min_amount_out)
        )

    async def build_swap_tx(self, order: SwapOrder, owner: str, step_key: str) -> list[TxRequest]:
        router = self.addresses.swap_router
        if order.native_in and not same_address(order.token_in, self.addresses.weth):
            raise ValueError("native_in needs a route that starts with WETH")
        requests = await self.approvals(order, owner, router, step_key)
        if order.native_out:
            if not same_address(order.token_out, self.addresses.weth):
                raise ValueError("native_out needs a route that ends with WETH")
            # The router receives the WETH, then unwraps it to the recipient in one call.
            data = c.MULTICALL.encode(
                [
                    self.swap_calldata(order, router),
                    c.UNWRAP_WETH9.encode(order.min_amount_out, order.recipient),
                ]
            )
        else:
            data = self.swap_calldata(order, order.recipient)
        requests.append(
            TxRequest(
                step_key=f"{step_key}:swap",
                chain_id=self.chain_id,
                to=router,
                data=data,
                value=order.amount_in if order.native_in else 0,
                meta={**order.meta, "kind": "swap", "min_amount_out": str(order.min_amount_out)},
            )
        )
        return requests

    def build_wrap_tx(self, amount: int, step_key: str) -> TxRequest:
        return TxRequest(
            f"{step_key}:wrap", self.chain_id, self.addresses.weth, c.WETH_DEPOSIT.encode(), amount
        )

    def build_unwrap_tx(self, amount: int, step_key: str) -> TxRequest:
        return TxRequest(
            f"{step_key}:unwrap", self.chain_id, self.addresses.weth, c.WETH_WITHDRAW.encode(amount)
        )
