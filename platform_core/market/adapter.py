"""The venue adapter contract and the value types it trades in: pools, their states, and
swaps along routes of tokens, whatever the venue's math (V2 pairs, V3 pools)."""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Protocol

from web3.types import BlockIdentifier

from platform_core.chain.abi import Event
from platform_core.chain.client import ChainClient
from platform_core.chain.sender import TxRequest
from platform_core.errors import ErrorCode, PlatformError
from platform_core.market import contracts as c
from platform_core.market.pool_state import PoolInfo, PoolState
from platform_core.types.plan import ExecutionStep

MAX_UINT256 = 2**256 - 1


@dataclass(frozen=True)
class Route:
    """A path through pools: tokens[i] -> tokens[i+1] in the pool with fee fees[i]. A fee
    tier is None where the venue needs none (a V2 pair: one pair per token pair); left
    out, every hop has none."""

    tokens: tuple[str, ...]
    fees: tuple[int | None, ...] = ()

    def __post_init__(self) -> None:
        if not self.fees and len(self.tokens) >= 2:
            object.__setattr__(self, "fees", (None,) * (len(self.tokens) - 1))
        if len(self.tokens) < 2 or len(self.fees) != len(self.tokens) - 1:
            raise ValueError("a route needs n+1 tokens for n pools")

    def fee_tiers(self) -> tuple[int, ...]:
        """Every hop's fee tier, for a venue whose pools a token pair does not name alone
        (Uniswap V3); UNKNOWN_POOL when a hop has none."""
        tiers = tuple(fee for fee in self.fees if fee is not None)
        if len(tiers) != len(self.fees):
            raise PlatformError(
                "every hop of a Uniswap V3 swap needs its fee tier (fee_pips)",
                code=ErrorCode.UNKNOWN_POOL,
            )
        return tiers


@dataclass(frozen=True)
class SwapOrder:
    """One swap to build: exact input along `route`, at least `min_amount_out` out."""

    route: Route
    amount_in: int
    min_amount_out: int
    recipient: str
    deadline: int  # unix seconds
    native_in: bool = False  # pay with ETH: the router wraps it (token_in must be WETH)
    native_out: bool = False  # receive ETH: the router unwraps WETH to the recipient
    meta: dict[str, Any] = field(default_factory=dict, compare=False)  # journalled with it

    @property
    def token_in(self) -> str:
        return self.route.tokens[0]

    @property
    def token_out(self) -> str:
        return self.route.tokens[-1]


def order_from_step(
    step: ExecutionStep, recipient: str, *, native_in: bool = False, native_out: bool = False
) -> SwapOrder:
    """The swap an `ExecutionStep` describes: its hops as the route (with each hop's fee
    tier, if any: the step's venue decides whether it needs them), its minimum and deadline
    as the swap's guards."""
    return SwapOrder(
        route=Route(
            (step.token_in, *(hop.token_out for hop in step.hops)),
            tuple(hop.fee_pips for hop in step.hops),
        ),
        amount_in=step.amount_in,
        min_amount_out=step.min_amount_out,
        recipient=recipient,
        deadline=int(step.deadline.timestamp()),
        native_in=native_in,
        native_out=native_out,
        meta={"execution_step": step.model_dump(mode="json")},
    )


def min_amount_out(expected: int, max_slippage: Decimal) -> int:
    """The least output accepted: `expected x (1 - max_slippage)`, rounded down."""
    if not Decimal(0) <= max_slippage < Decimal(1):
        raise ValueError("max_slippage must be in [0, 1)")
    return int((Decimal(expected) * (1 - max_slippage)).to_integral_value(ROUND_FLOOR))


def deadline_from_window(time_window_ms: int, now: float | None = None) -> int:
    """The swap deadline: the end of the intent's time window, in unix seconds."""
    start = time.time() if now is None else now
    return int(start + time_window_ms / 1000)


class SwapBuilder(Protocol):
    """What executes a step: the venue's transactions for a swap. A `VenueAdapter` in
    process, or the venue adapter actor by handle (`actors/venue_adapter.py`)."""

    @property
    def venue(self) -> str: ...

    async def build_swap_tx(
        self, order: SwapOrder, owner: str, step_key: str
    ) -> list[TxRequest]: ...


class VenueAdapter(ABC):
    """A venue on one chain: its pools and their state (what the engine routes on), and the
    transactions that carry out a swap (what the execution actor signs and sends).

    `creation_event` (logged by `factory`) brings a new pool; `pool_events` (logged by a
    pool) mean its state moved: what a `MarketWatcher` looks for between blocks."""

    venue: str
    chain_id: int
    client: ChainClient
    creation_event: Event
    pool_events: tuple[Event, ...]
    _pools: list[PoolInfo] | None = None

    @property
    @abstractmethod
    def factory(self) -> str: ...

    @abstractmethod
    async def discover_pools(self) -> list[PoolInfo]:
        """Every pool the factory created (kept: `pools` answers from it)."""

    async def pools(self) -> list[PoolInfo]:
        return self._pools if self._pools is not None else await self.discover_pools()

    async def _creations(self, from_block: int) -> list[tuple[Any, ...]]:
        """The decoded `creation_event`s the factory logged since `from_block`."""
        logs = await self.client.get_logs(
            {
                "address": self.factory,
                "topics": ["0x" + self.creation_event.topic.hex()],
                "fromBlock": from_block,
                "toBlock": "latest",
            }
        )
        return [self.creation_event.decode(log["topics"], log["data"]) for log in logs]

    @abstractmethod
    async def pool_state(self, pool: PoolInfo, block: int | None = None) -> PoolState: ...

    async def pool_states(self, pools: Sequence[PoolInfo], block: int) -> list[PoolState]:
        """Every pool of `pools` at `block` (a venue may batch the reads)."""
        return list(await asyncio.gather(*(self.pool_state(pool, block) for pool in pools)))

    @abstractmethod
    async def build_swap_tx(self, order: SwapOrder, owner: str, step_key: str) -> list[TxRequest]:
        """The transactions that carry out `order` for `owner`, in order (an approval first
        when the allowance is short)."""

    # -- ERC-20 reads and approvals, the same on every venue -------------------------------

    async def _call(self, to: str, data: bytes, block: BlockIdentifier = "latest") -> bytes:
        return await self.client.call({"to": to, "data": data}, block)

    async def allowance(self, token: str, owner: str, spender: str) -> int:
        raw = await self._call(token, c.ALLOWANCE.encode(owner, spender))
        return int(c.ALLOWANCE.decode_output(raw)[0])

    async def balance_of(self, token: str, owner: str) -> int:
        raw = await self._call(token, c.BALANCE_OF.encode(owner))
        return int(c.BALANCE_OF.decode_output(raw)[0])

    async def approvals(
        self, order: SwapOrder, owner: str, spender: str, step_key: str
    ) -> list[TxRequest]:
        """An approval of `spender` for the order's input, when the allowance is short (none
        for ETH in)."""
        if order.native_in or await self.allowance(order.token_in, owner, spender) >= (
            order.amount_in
        ):
            return []
        # Unlimited, so that concurrent swaps of one token do not overwrite each other's
        # exact approvals; the spender is the venue's audited periphery contract.
        return [
            TxRequest(
                step_key=f"{step_key}:approve",
                chain_id=self.chain_id,
                to=order.token_in,
                data=c.APPROVE.encode(spender, MAX_UINT256),
                meta={**order.meta, "kind": "approve", "spender": spender},
            )
        ]


def same_address(a: str, b: str) -> bool:
    return a.lower() == b.lower()
