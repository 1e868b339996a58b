"""The venue adapter contract and the value types it trades in."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Protocol

from platform_core.chain.sender import TxRequest
from platform_core.market.pool_state import PoolInfo, V3PoolState
from platform_core.types.plan import ExecutionStep


@dataclass(frozen=True)
class Route:
    """A path through pools: tokens[i] -> tokens[i+1] in the pool with fee fees[i]."""

    tokens: tuple[str, ...]
    fees: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.tokens) < 2 or len(self.fees) != len(self.tokens) - 1:
            raise ValueError("a route needs n+1 tokens for n pools")


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
    """The swap an `ExecutionStep` describes: its hops as the route, its minimum and
    deadline as the swap's guards."""
    if any(hop.fee_pips is None for hop in step.hops):
        raise ValueError("every hop of a Uniswap V3 step needs its fee tier (fee_pips)")
    return SwapOrder(
        route=Route(
            (step.token_in, *(hop.token_out for hop in step.hops)),
            tuple(hop.fee_pips for hop in step.hops if hop.fee_pips is not None),
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
    transactions that carry out a swap (what the execution actor signs and sends)."""

    venue: str
    chain_id: int

    @abstractmethod
    async def discover_pools(self) -> list[PoolInfo]: ...

    @abstractmethod
    async def pool_state(self, pool: PoolInfo, block: int | None = None) -> V3PoolState: ...

    @abstractmethod
    async def build_swap_tx(self, order: SwapOrder, owner: str, step_key: str) -> list[TxRequest]:
        """The transactions that carry out `order` for `owner`, in order (an approval first
        when the allowance is short)."""
