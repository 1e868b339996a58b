"""One backtest cell: an intent run through the platform's own decomposer, planner (Rust
engine) and orchestrator against the simulated venue and chain, and what it cost.

What runs for real
    `plan_now` (the decomposer: AGGRESSIVE one child order, PASSIVE TWAP slices; the
    exact-output sizer for ACQUIRE; the planner's routes on the engine loaded with every
    replayed pool at the arrival block), then `ExecutionOrchestrator.execute` unchanged:
    the step gate on the simulated clock (a PASSIVE slice "waits" by advancing it),
    `UniswapV3Adapter.build_swap_tx` (allowance read, router calldata), the
    `TransactionSender` (journal prepare, eth_call and estimateGas pre-flight, nonce,
    fees, signing with a throwaway key, decode-and-check of the signed bytes, broadcast,
    receipt wait, journal states), `summarize_receipt` over the receipts' `Transfer` logs,
    and the events it publishes. Only the node is simulated (`sim_chain.SimulatedChain`),
    and the journal is an in-memory SQLite database.

What is measured (prices in quote per base: USDC per WETH; "USD" means USDC)
    - arrival mid: the reference pool's price at the end of the last block at or before
      the start (`Market.mid`);
    - average fill price: quote over base moved by the confirmed steps, from their
      `ExecutionStepConfirmed` events (the receipts' Transfer logs);
    - shortfall, in bps, positive when it cost us: ACQUIRE (price - benchmark) /
      benchmark, DISPOSE (benchmark - price) / benchmark, against the arrival mid and
      against the VWAP of the historical swaps (every pool of the market) in the blocks
      after the arrival block up to the last fill's block (without fills: the block at the
      window's end);
    - pool fees: each hop's input times its fee tier, in USD at the arrival mid; gas: every
      mined transaction's gas (reverted ones too) at its effective price, in ETH and USD;
    - filled fraction: the input the confirmed steps spent over the input the plan meant
      to spend (1.0 when every step filled);
    - status: COMPLETED; PARTIALLY_FILLED when the intent failed or expired after at least
      one step filled; else FAILED (the plan could not be made, or the first step failed)
      or EXPIRED, with the reason (the planner's code, the intent's failure reason and,
      for a reverted swap, the router's revert reason).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

from eth_utils import keccak
from pydantic import SecretStr

from platform_core.backtest.replay import PoolReplay
from platform_core.backtest.sim_chain import (
    MAINNET_CHAIN_ID,
    MAINNET_V3,
    GasModel,
    SimTx,
    SimulatedChain,
)
from platform_core.backtest.simulator import (
    BacktestError,
    ImpactRule,
    Market,
    SimClock,
    SimulatedVenue,
)
from platform_core.chain.journal import Journal
from platform_core.chain.sender import SenderPolicy, TransactionSender
from platform_core.chain.signer import Signer
from platform_core.execution.orchestrator import ExecutionOrchestrator, ExecutionResult
from platform_core.execution.planner import ExecutionPlanner, plan_events
from platform_core.execution.planning_service import PlanResult, plan_now
from platform_core.intent.aggregate import IntentAggregate
from platform_core.intent.decomposer import SLICE_INTERVAL_MS
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.types.common import Asset
from platform_core.types.events import (
    EventEnvelope,
    ExecutionStepConfirmed,
    IntentExpired,
    IntentFailed,
    IntentSubmitted,
)
from platform_core.types.ids import deterministic_id
from platform_core.types.intent import (
    MAX_SLIPPAGE,
    MAX_TIME_WINDOW_MS,
    MIN_TIME_WINDOW_MS,
    AssetSpec,
    ExecutionStyle,
    Intent,
    IntentConstraints,
    IntentStatus,
    IntentType,
)
from platform_core.types.plan import ExecutionPlan
from platform_rust import ExecutionEngine

BACKTEST_STRATEGY = UUID("00000000-0000-4000-8000-00000000b7e5")
# A throwaway key derived from a public phrase: it signs only simulated transactions,
# which never leave the process. It is no one's account on any chain.
THROWAWAY_KEY = SecretStr("0x" + keccak(text="sep backtest throwaway key").hex())
GWEI = 10**9
WEI_PER_ETH = 10**18
BPS = 10_000


class SizeUnit(StrEnum):
    BASE = "base"  # the order's size in the base token (WETH)
    USD = "usd"  # in USD (USDC), converted to base at the arrival mid


@dataclass(frozen=True)
class Cell:
    """One backtest: `side` ACQUIRE buys `size` of the base token (WETH) with the quote
    token (USDC), DISPOSE sells it; `window_ms` is the intent's time window (a PASSIVE
    intent's slices spread over it); the swaps land `latency_blocks` after the block
    they are sent in and pay `gas_price_gwei` per gas (the base fee of every block)."""

    side: IntentType
    size: Decimal
    start: datetime
    style: ExecutionStyle = ExecutionStyle.AGGRESSIVE
    size_unit: SizeUnit = SizeUnit.BASE
    window_ms: int = 300_000
    max_slippage: Decimal = Decimal("0.005")
    latency_blocks: int = 1
    gas_price_gwei: Decimal = Decimal("20")
    slice_interval_ms: int = SLICE_INTERVAL_MS
    impact: ImpactRule = ImpactRule.HISTORY_WINS

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise BacktestError("a cell's size must be positive")
        if self.start.tzinfo is None:
            raise BacktestError("a cell's start must be an aware datetime (UTC)")
        if not MIN_TIME_WINDOW_MS <= self.window_ms <= MAX_TIME_WINDOW_MS:
            raise BacktestError("a cell's window is from 1 s to 24 h, as an intent's")
        if not Decimal(0) < self.max_slippage <= MAX_SLIPPAGE:
            raise BacktestError(f"a cell's max_slippage is in (0, {MAX_SLIPPAGE}]")
        if self.latency_blocks < 1:
            raise BacktestError("a transaction lands at the earliest in the next block")
        if self.gas_price_gwei < 0 or self.slice_interval_ms < 1:
            raise BacktestError("the gas price cannot be negative, nor the slice interval 0")

    @property
    def gas_price_wei(self) -> int:
        return int(self.gas_price_gwei * GWEI)


@dataclass(frozen=True)
class Fill:
    """One confirmed step: where it landed and what it moved (whole tokens)."""

    step: int
    block: int
    timestamp: datetime
    pools: tuple[str, ...]
    amount_in: int  # base units, from the receipt
    amount_out: int
    base: float
    quote: float
    price: float  # quote per base
    fee_usd: float
    gas_used: int


@dataclass(frozen=True)
class CellResult:
    cell: Cell
    status: IntentStatus
    reason: str | None
    arrival_block: int
    arrival_mid: float
    base_target: float  # whole base tokens the intent asked for
    base_filled: float
    quote_filled: float
    avg_price: float | None
    shortfall_bps: float | None  # against the arrival mid
    vwap: float | None
    shortfall_vwap_bps: float | None
    fees_usd: float
    gas_used: int
    gas_eth: float
    gas_usd: float
    child_orders: int
    steps: int
    steps_filled: int
    filled_fraction: float
    transactions: int  # sent to the chain, reverted ones included
    end_block: int  # the last block of the VWAP interval
    fills: tuple[Fill, ...] = field(default=())

    def row(self) -> dict[str, Any]:
        """The result as one flat record (the cell's fields first; fills left out)."""
        cell = {f"cell_{f.name}": _plain(getattr(self.cell, f.name)) for f in fields(self.cell)}
        own = {
            f.name: _plain(getattr(self, f.name))
            for f in fields(self)
            if f.name not in ("cell", "fills")
        }
        return {**cell, **own}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


# -- the intent and its plan ----------------------------------------------------------------


def base_amount(cell: Cell, market: Market, mid: float) -> Decimal:
    """The order's size in whole base tokens (a USD size at the arrival mid)."""
    decimals = market.decimals(market.base)
    size = cell.size if cell.size_unit is SizeUnit.BASE else cell.size / Decimal(repr(mid))
    amount = size.quantize(Decimal(1).scaleb(-min(decimals, 9)), ROUND_DOWN)
    if amount <= 0:
        raise BacktestError(f"{cell.size} {cell.size_unit} rounds to no base token")
    return amount


def cell_intent(cell: Cell, market: Market, amount: Decimal) -> Intent:
    """The intent a strategy would submit for this cell, created at its start."""

    def asset(token: str, symbol: str) -> Asset:
        return Asset(
            symbol=symbol, address=token, decimals=market.decimals(token),
            chain_id=MAINNET_CHAIN_ID,
        )  # fmt: skip

    return Intent(
        id=deterministic_id("backtest", repr(cell)),
        strategy_id=BACKTEST_STRATEGY,
        type=cell.side,
        assets=[
            AssetSpec(asset=asset(market.base, "WETH"), amount=amount),
            AssetSpec(asset=asset(market.quote, "USDC")),
        ],
        constraints=IntentConstraints(
            max_slippage=cell.max_slippage,
            time_window_ms=cell.window_ms,
            execution_style=cell.style,
        ),
        created_at=cell.start,
    )


def plan_cell(cell: Cell, market: Market, intent: Intent, arrival_block: int) -> PlanResult:
    """Decompose and route as the platform does, on every pool at the arrival block."""
    engine = ExecutionEngine(gas_token=MAINNET_V3.weth)  # gas is paid in ETH
    market.load(engine, arrival_block)
    planner = ExecutionPlanner(
        engine, chain_id=MAINNET_CHAIN_ID, gas_price_wei=cell.gas_price_wei,
        fee_lookup=market.fee_of, venues=["uniswap_v3"],
    )  # fmt: skip
    return plan_now(planner, intent, {}, cell.start, slice_interval_ms=cell.slice_interval_ms)


def plan_created(intent: Intent, planned: PlanResult) -> EventEnvelope:
    """The intent's events up to `PlanCreated`, as the gate and the processor write them."""
    assert planned.plan is not None
    events = IntentAggregate.start(intent)
    events.append(IntentSubmitted(intent=intent), occurred_at=intent.created_at)
    _, created = plan_events(events, planned.orders, planned.plan)
    return created


# -- execution ------------------------------------------------------------------------------


@cache
def throwaway_signer() -> Signer:
    """One per process: deriving the key's address costs as much as a signature."""
    return Signer(THROWAWAY_KEY)


class ListPublisher:
    """Keeps what the orchestrator publishes."""

    def __init__(self) -> None:
        self.envelopes: list[EventEnvelope] = []

    async def publish(self, envelope: EventEnvelope) -> bool:
        self.envelopes.append(envelope)
        return True


@dataclass(frozen=True)
class Execution:
    result: ExecutionResult
    events: tuple[EventEnvelope, ...]
    node: SimulatedChain


async def execute_cell(
    cell: Cell,
    market: Market,
    intent: Intent,
    planned: PlanResult,
    *,
    gas: GasModel | None = None,
    fee_ceiling_wei: int | None = None,
) -> Execution:
    """The plan through the real orchestrator, sender and adapter on a simulated node.
    The wallet holds exactly the plan's input and has approved the router."""
    assert planned.plan is not None
    plan, signer, clock = planned.plan, throwaway_signer(), SimClock(cell.start)
    spend = {plan.steps[0].token_in: plan.amount_in}  # the paths' first legs
    node = SimulatedChain(
        SimulatedVenue(market, cell.impact), clock, base_fee_wei=cell.gas_price_wei,
        latency_blocks=cell.latency_blocks, holdings={signer.address: spend}, gas=gas,
    )  # fmt: skip
    ceiling = fee_ceiling_wei if fee_ceiling_wei is not None else 2 * cell.gas_price_wei
    policy = SenderPolicy(fee_ceiling_wei=ceiling, poll_interval_s=0.0, chain_check_settle_s=0.0)
    journal = Journal(Path(":memory:"))
    try:
        sender = TransactionSender(node, signer, journal, chain_id=MAINNET_CHAIN_ID, policy=policy)
        adapter = UniswapV3Adapter(node, MAINNET_CHAIN_ID, MAINNET_V3)
        publisher = ListPublisher()
        orchestrator = ExecutionOrchestrator(
            adapter, sender, publisher, wallet=signer.address, clock=clock.now,
            sleep=clock.sleep,
        )  # fmt: skip
        result = await orchestrator.execute(intent, plan, after=plan_created(intent, planned))
    finally:
        journal.close()
    return Execution(result, tuple(publisher.envelopes), node)


# -- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    block: int
    mid: float
    base_target: Decimal


def shortfall_bps(side: IntentType, price: float | None, benchmark: float | None) -> float | None:
    """What the fills cost against `benchmark`, in bps (positive: worse than it)."""
    if price is None or benchmark is None:
        return None
    signed = price - benchmark if side is IntentType.ACQUIRE else benchmark - price
    return signed / benchmark * BPS


def fill_of(
    confirmed: ExecutionStepConfirmed, step: int, tx: SimTx, cell: Cell, market: Market, mid: float
) -> Fill:
    assert tx.execution is not None
    base_in = cell.side is IntentType.DISPOSE
    base_units, quote_units = (
        (confirmed.amount_in, confirmed.amount_out)
        if base_in
        else (confirmed.amount_out, confirmed.amount_in)
    )
    base = base_units / 10 ** market.decimals(market.base)
    quote = quote_units / 10 ** market.decimals(market.quote)
    fee_usd = 0.0
    for hop in tx.execution.hops:
        fee = hop.amount_in * (market.fee_of(hop.pool) or 0) / 1e6
        fee /= 10 ** market.decimals(hop.token_in)
        fee_usd += fee * mid if hop.token_in.lower() == market.base.lower() else fee
    return Fill(
        step=step, block=confirmed.block_number,
        timestamp=market.blocks.timestamp(confirmed.block_number),
        pools=tuple(hop.pool for hop in tx.execution.hops),
        amount_in=confirmed.amount_in, amount_out=confirmed.amount_out, base=base,
        quote=quote, price=quote / base if base else float("nan"), fee_usd=fee_usd,
        gas_used=confirmed.gas_used,
    )  # fmt: skip


def fills_of(
    cell: Cell, market: Market, plan: ExecutionPlan, run: Execution, mid: float
) -> list[Fill]:
    steps = {step.step_id: step.index for step in plan.steps}
    txs = {"0x" + tx.tx_hash.hex(): tx for tx in run.node.transactions}
    fills = []
    for envelope in run.events:
        event = envelope.event()
        if isinstance(event, ExecutionStepConfirmed):
            tx = txs[event.tx_hash]
            fills.append(fill_of(event, steps[event.step_id], tx, cell, market, mid))
    return fills


def verdict(run: Execution) -> tuple[IntentStatus, str | None]:
    """The cell's status and the reason it did not complete."""
    result = run.result
    if result.status is IntentStatus.COMPLETED:
        return result.status, None
    reason = None
    for envelope in run.events:
        event = envelope.event()
        if isinstance(event, IntentFailed):
            reason = event.reason
        elif isinstance(event, IntentExpired):
            reason = f"expired: the window ended at {event.deadline.isoformat()}"
    reverts = [tx.execution.revert for tx in run.node.transactions if tx.execution]
    if reverts and reverts[-1] is not None:
        reason = f"{reason} ({reverts[-1]})"
    status = IntentStatus.PARTIALLY_FILLED if result.steps_confirmed else result.status
    return status, reason


def gas_of(transactions: Sequence[SimTx]) -> tuple[int, float]:
    """Gas used by every mined transaction, and what it cost in ETH."""
    mined = [tx.receipt for tx in transactions if tx.receipt is not None]
    gas = sum(int(r["gasUsed"]) for r in mined)
    wei = sum(int(r["gasUsed"]) * int(r["effectiveGasPrice"]) for r in mined)
    return gas, wei / WEI_PER_ETH


def measured(
    cell: Cell, market: Market, arrival: Arrival, planned: PlanResult, run: Execution
) -> CellResult:
    assert planned.plan is not None
    fills = fills_of(cell, market, planned.plan, run, arrival.mid)
    base = sum(f.base for f in fills)
    quote = sum(f.quote for f in fills)
    price = quote / base if base else None
    end = fills[-1].block if fills else market.blocks.head_at(cell_deadline(cell))
    vwap = market.vwap(arrival.block + 1, end)
    gas, gas_eth = gas_of(run.node.transactions)
    status, reason = verdict(run)
    planned_in = planned.plan.amount_in
    return CellResult(
        cell=cell, status=status, reason=reason, arrival_block=arrival.block,
        arrival_mid=arrival.mid, base_target=float(arrival.base_target), base_filled=base,
        quote_filled=quote, avg_price=price,
        shortfall_bps=shortfall_bps(cell.side, price, arrival.mid), vwap=vwap,
        shortfall_vwap_bps=shortfall_bps(cell.side, price, vwap),
        fees_usd=sum(f.fee_usd for f in fills), gas_used=gas, gas_eth=gas_eth,
        gas_usd=gas_eth * arrival.mid, child_orders=len(planned.orders),
        steps=len(planned.plan.steps), steps_filled=len(fills),
        filled_fraction=sum(f.amount_in for f in fills) / planned_in,
        transactions=len(run.node.transactions), end_block=end, fills=tuple(fills),
    )  # fmt: skip


def unplanned(cell: Cell, market: Market, arrival: Arrival, planned: PlanResult) -> CellResult:
    """A cell whose plan could not be made: nothing was sent."""
    end = market.blocks.head_at(cell_deadline(cell))
    return CellResult(
        cell=cell, status=IntentStatus.FAILED,
        reason=f"{planned.error_code}: {planned.error_message}", arrival_block=arrival.block,
        arrival_mid=arrival.mid, base_target=float(arrival.base_target), base_filled=0.0,
        quote_filled=0.0, avg_price=None, shortfall_bps=None,
        vwap=market.vwap(arrival.block + 1, end), shortfall_vwap_bps=None, fees_usd=0.0,
        gas_used=0, gas_eth=0.0, gas_usd=0.0, child_orders=len(planned.orders), steps=0,
        steps_filled=0, filled_fraction=0.0, transactions=0, end_block=end,
    )  # fmt: skip


def cell_deadline(cell: Cell) -> datetime:
    return cell.start + timedelta(milliseconds=cell.window_ms)


def as_market(market: Market | Mapping[str, PoolReplay] | Sequence[PoolReplay]) -> Market:
    if isinstance(market, Market):
        return market
    replays = market.values() if isinstance(market, Mapping) else market
    return Market(replays)


async def run_cell_async(
    cell: Cell,
    market: Market | Mapping[str, PoolReplay] | Sequence[PoolReplay],
    *,
    gas: GasModel | None = None,
    fee_ceiling_wei: int | None = None,
) -> CellResult:
    """Run one cell (see the module docstring). Build the `Market` once and pass it to
    every cell: from bare replays it is rebuilt each time."""
    market = as_market(market)
    block = market.blocks.head_at(cell.start)
    mid = market.mid(block)
    arrival = Arrival(block, mid, base_amount(cell, market, mid))
    intent = cell_intent(cell, market, arrival.base_target)
    planned = plan_cell(cell, market, intent, block)
    if not planned.ok:
        return unplanned(cell, market, arrival, planned)
    run = await execute_cell(
        cell, market, intent, planned, gas=gas, fee_ceiling_wei=fee_ceiling_wei
    )
    return measured(cell, market, arrival, planned, run)


def run_cell(
    cell: Cell,
    market: Market | Mapping[str, PoolReplay] | Sequence[PoolReplay],
    *,
    gas: GasModel | None = None,
    fee_ceiling_wei: int | None = None,
) -> CellResult:
    """`run_cell_async` in an event loop of its own (not from inside a running loop)."""
    return asyncio.run(run_cell_async(cell, market, gas=gas, fee_ceiling_wei=fee_ceiling_wei))
