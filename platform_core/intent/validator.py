"""`IntentValidator`: the deep checks an intent passes before the platform accepts it.

The schema (pydantic) has already checked the intent's shape; these checks look at the
world: the strategy's wallet, the chain's venues, the tokens' contracts, balances net of
what open intents reserve, whether the router can be approved, whether a route exists,
whether the slippage tolerance could ever be met and the window is long enough.

Every failing check is reported, each as a stable upper-case code and a message, so a
client fixes everything at once. Checks that depend on an earlier one (a balance needs a
wallet and a real token) are skipped when that one failed: its refusal already says why.

Routes come from the planner's engine, which the market watcher brings to the chain's head
(at most once per poll interval). A chain that cannot be read raises (`TransportError`):
that is the platform's trouble, not a refusal of the intent (for the API: 503, not 422).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eth_abi.exceptions import DecodingError

import platform_rust
from platform_core.chain.abi import Function
from platform_core.chain.client import ChainClient
from platform_core.chain.errors import SimulationReverted
from platform_core.config import Settings
from platform_core.errors import ErrorCode, PlanningError
from platform_core.execution.planner import ExecutionPlanner
from platform_core.execution.pool_registry import PoolRegistry
from platform_core.intent.decomposer import MIN_SLICES, SLICE_INTERVAL_MS, decompose
from platform_core.intent.reservations import Reservations, paid_amounts
from platform_core.market import contracts as c
from platform_core.market.uniswap_v3 import MAX_UINT256, UniswapV3Adapter, UniswapV3Addresses
from platform_core.market.watcher import MarketWatcher
from platform_core.types.intent import ExecutionStyle, Intent, IntentConstraints
from platform_core.types.plan import ExecutionPlan

# Planner and decomposer codes as the gate reports them; any other code passes unchanged.
_ROUTE_CODES = {
    ErrorCode.INSUFFICIENT_LIQUIDITY: ErrorCode.NO_ROUTE,
    ErrorCode.UNKNOWN_POOL: ErrorCode.NO_ROUTE,
    ErrorCode.QUOTE_UNAVAILABLE: ErrorCode.NO_ROUTE,
    ErrorCode.VENUE_NOT_ALLOWED: ErrorCode.UNSUPPORTED_VENUE,
    ErrorCode.PERCENTAGE_OF_NOTHING: ErrorCode.INSUFFICIENT_BALANCE,
}
# The rate without impact is read by quoting this fraction of the order along its route.
_PROBE_FRACTION = 10_000


@dataclass(frozen=True)
class Refusal:
    code: ErrorCode
    message: str


@dataclass(frozen=True)
class GatePolicy:
    # An AGGRESSIVE intent still needs time to be planned, signed and mined.
    min_aggressive_window_ms: int = 10_000
    # PASSIVE spreads at least MIN_SLICES slices, one interval apart, over its window.
    slice_interval_ms: int = SLICE_INTERVAL_MS

    @property
    def min_passive_window_ms(self) -> int:
        return MIN_SLICES * self.slice_interval_ms

    @classmethod
    def from_settings(cls, settings: Settings) -> GatePolicy:
        return cls(slice_interval_ms=settings.passive_slice_interval_ms)


@dataclass(frozen=True)
class ChainAccess:
    """One chain as the gate sees it: reads through the adapter, routes through the planner
    (whose engine holds the chain's pools, kept at the head by the watcher, if any)."""

    adapter: UniswapV3Adapter
    planner: ExecutionPlanner
    watcher: MarketWatcher | None = None


async def connect_chain(
    settings: Settings, chain_id: int, deployment: Mapping[str, Any]
) -> ChainAccess:
    """The gate's access to a configured chain: a client on its RPC URL, the adapter for the
    deployment's contracts, and a planner whose engine holds every pool as of now, with the
    market watcher that brings it to the head later. Close `adapter.client` after."""
    client = ChainClient(settings.chains[chain_id].rpc_url, timeout_s=settings.rpc_timeout_s)
    adapter = UniswapV3Adapter(client, chain_id, UniswapV3Addresses.from_deployment(deployment))
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    watcher = MarketWatcher(adapter, registry, min_interval_s=settings.market_poll_interval_s)
    try:
        await watcher.refresh()
    except BaseException:
        await client.close()
        raise
    return ChainAccess(adapter, ExecutionPlanner(registry, chain_id=chain_id), watcher)


@dataclass(frozen=True)
class RoutedLeg:
    """One traded pair as currently routed: totals over the plan's steps, and the part
    of the price lost to pool fees and to price impact (fractions of the mid price)."""

    token_in: str
    token_out: str
    amount_in: int
    amount_out: int
    fee: float
    cost: float  # fee + price impact

    @property
    def price_impact(self) -> float:
        return max(self.cost - self.fee, 0.0)


@dataclass(frozen=True)
class ValidationReport:
    refusals: tuple[Refusal, ...]
    wallet: str | None = None
    legs: tuple[RoutedLeg, ...] = ()
    plan: ExecutionPlan | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return not self.refusals

    @property
    def reason_codes(self) -> list[ErrorCode]:
        """Each code once, in the order first found."""
        return list(dict.fromkeys(r.code for r in self.refusals))


@dataclass(frozen=True)
class TokenFacts:
    has_code: bool
    decimals: int | None = None
    symbol: str | None = None


def window_refusal(constraints: IntentConstraints, policy: GatePolicy) -> Refusal | None:
    """WINDOW_TOO_SHORT when the window cannot hold the plan its style needs."""
    window = constraints.time_window_ms
    if constraints.execution_style is ExecutionStyle.PASSIVE:
        needed, why = policy.min_passive_window_ms, f"PASSIVE runs at least {MIN_SLICES} slices"
    else:
        needed, why = policy.min_aggressive_window_ms, "AGGRESSIVE needs time to plan and mine"
    if window < needed:
        return Refusal(ErrorCode.WINDOW_TOO_SHORT, f"time_window_ms {window} < {needed}: {why}")
    return None


def venue_refusals(constraints: IntentConstraints, supported: Sequence[str]) -> list[Refusal]:
    """UNSUPPORTED_VENUE for each allowed venue the chain lacks, and when no venue is left."""
    refusals = [
        Refusal(ErrorCode.UNSUPPORTED_VENUE, f"venue {venue!r} is not supported on this chain")
        for venue in constraints.allowed_venues or ()
        if venue not in supported
    ]
    if not any(constraints.venue_allowed(venue) for venue in supported):
        refusals.append(
            Refusal(
                ErrorCode.UNSUPPORTED_VENUE,
                f"the venue constraints leave no supported venue (supported: {list(supported)})",
            )
        )
    return refusals


def token_refusals(address: str, symbol: str, decimals: int, facts: TokenFacts) -> list[Refusal]:
    if not facts.has_code:
        return [Refusal(ErrorCode.TOKEN_NOT_FOUND, f"no contract at {address}")]
    refusals = []
    if facts.decimals != decimals:
        found = "unreadable" if facts.decimals is None else facts.decimals
        refusals.append(
            Refusal(
                ErrorCode.DECIMALS_MISMATCH,
                f"{address}: decimals() is {found}, intent says {decimals}",
            )
        )
    if facts.symbol != symbol:
        found = "unreadable" if facts.symbol is None else repr(facts.symbol)
        refusals.append(
            Refusal(
                ErrorCode.SYMBOL_MISMATCH, f"{address}: symbol() is {found}, intent says {symbol!r}"
            )
        )
    return refusals


def slippage_refusal(max_slippage: Decimal, legs: Sequence[RoutedLeg]) -> Refusal | None:
    """SLIPPAGE_TOO_TIGHT when fees plus impact alone exceed the tolerance on some leg."""
    worst = max(legs, key=lambda leg: leg.cost, default=None)
    if worst is None or Decimal(repr(worst.cost)) <= max_slippage:
        return None
    return Refusal(
        ErrorCode.SLIPPAGE_TOO_TIGHT,
        f"max_slippage {max_slippage} is below the route's fees and price impact "
        f"({worst.cost:.4%}, fees {worst.fee:.4%}): it could never fill",
    )


def route_error_refusal(exc: PlanningError) -> Refusal:
    code = _ROUTE_CODES.get(exc.code, exc.code)
    return Refusal(code, exc.message if code == exc.code else f"{exc.code}: {exc.message}")


class IntentValidator:
    def __init__(
        self,
        settings: Settings,
        chains: Mapping[int, ChainAccess],
        reservations: Reservations,
        *,
        policy: GatePolicy | None = None,
        wallets: Mapping[UUID, str] | None = None,
    ) -> None:
        self.settings = settings
        self.chains = chains
        self.reservations = reservations
        self.policy = policy or GatePolicy.from_settings(settings)
        self.wallets = settings.strategy_wallets if wallets is None else wallets
        self._tokens: dict[tuple[int, str], TokenFacts] = {}

    async def validate(self, intent: Intent) -> ValidationReport:
        refusals: list[Refusal] = []
        wallet = self.wallets.get(intent.strategy_id)
        if wallet is None:
            refusals.append(
                Refusal(
                    ErrorCode.UNKNOWN_STRATEGY_WALLET,
                    f"no wallet for strategy {intent.strategy_id}",
                )
            )
        window = window_refusal(intent.constraints, self.policy)
        if window is not None:
            refusals.append(window)

        access = self.chains.get(intent.chain_id)
        chain = self.settings.chains.get(intent.chain_id)
        if access is None or chain is None:
            message = f"the gate has no access to chain {intent.chain_id}"
            return ValidationReport(
                (*refusals, Refusal(ErrorCode.UNSUPPORTED_CHAIN, message)), wallet
            )
        venue_problems = venue_refusals(intent.constraints, chain.venues)
        refusals += venue_problems
        token_problems = await self._token_refusals(access, intent)
        if token_problems:  # balances, approvals and routes of a wrong token mean nothing
            return ValidationReport((*refusals, *token_problems), wallet)

        if access.watcher is not None:  # pools move between requests: route on the head
            await access.watcher.refresh_if_due()
        balances = await self._balances(access, intent, wallet)
        legs: tuple[RoutedLeg, ...] = ()
        plan = None
        # A percentage is a share of the wallet's balance: without a wallet it means nothing.
        unsized = wallet is None and any(s.percentage is not None for s in intent.sized_assets)
        if not venue_problems and not unsized:
            try:
                plan, legs = await asyncio.to_thread(self._route, access.planner, intent, balances)
            except PlanningError as exc:
                refusals.append(route_error_refusal(exc))
            slippage = slippage_refusal(intent.constraints.max_slippage, legs)
            if slippage is not None:
                refusals.append(slippage)

        if wallet is not None:
            paid = _paid_by_legs(legs) or paid_amounts(intent, balances=balances, estimate=None)
            refusals += await self._funding_refusals(access, intent, wallet, paid, balances)
        return ValidationReport(tuple(refusals), wallet, legs, plan)

    async def token_facts(self, access: ChainAccess, chain_id: int, address: str) -> TokenFacts:
        key = (chain_id, address.lower())
        cached = self._tokens.get(key)
        if cached is None:
            cached = await read_token_facts(access, address)
            if cached.has_code:  # a contract's metadata never changes; an empty address may
                self._tokens[key] = cached
        return cached

    async def _token_refusals(self, access: ChainAccess, intent: Intent) -> list[Refusal]:
        facts = await asyncio.gather(
            *(self.token_facts(access, intent.chain_id, s.asset.address) for s in intent.assets)
        )
        return [
            refusal
            for spec, fact in zip(intent.assets, facts, strict=True)
            for refusal in token_refusals(
                spec.asset.address, spec.asset.symbol, spec.asset.decimals, fact
            )
        ]

    async def _balances(
        self, access: ChainAccess, intent: Intent, wallet: str | None
    ) -> dict[str, int]:
        """Lower-case token address -> the wallet's balance (empty without a wallet)."""
        if wallet is None:
            return {}
        amounts = await asyncio.gather(
            *(access.adapter.balance_of(s.asset.address, wallet) for s in intent.assets)
        )
        return {
            s.asset.address.lower(): amount
            for s, amount in zip(intent.assets, amounts, strict=True)
        }

    def _route(
        self, planner: ExecutionPlanner, intent: Intent, balances: dict[str, int]
    ) -> tuple[ExecutionPlan, tuple[RoutedLeg, ...]]:
        now = datetime.now(UTC)
        orders = decompose(
            intent,
            balances,
            now,
            sizer=planner.sizer(intent),
            slice_interval_ms=self.policy.slice_interval_ms,
        )
        plan = planner.plan(intent, orders, now)
        return plan, tuple(_legs(planner, plan))

    async def _funding_refusals(
        self,
        access: ChainAccess,
        intent: Intent,
        wallet: str,
        paid: Mapping[str, int],
        balances: Mapping[str, int],
    ) -> list[Refusal]:
        symbols = {s.asset.address.lower(): s.asset for s in intent.assets}
        refusals = []
        for token, amount in paid.items():
            asset = symbols[token]
            balance = balances.get(token, 0)
            reserved = await self.reservations.reserved(
                intent.strategy_id, asset.address, balance=balance
            )
            if balance - reserved < amount:
                refusals.append(
                    Refusal(
                        ErrorCode.INSUFFICIENT_BALANCE,
                        f"{asset.symbol}: needs {amount} base units, wallet holds {balance} of "
                        f"which open intents reserve {reserved}",
                    )
                )
            if not await approval_succeeds(access, asset.address, wallet):
                refusals.append(
                    Refusal(
                        ErrorCode.CANNOT_APPROVE,
                        f"{asset.symbol}: approve to the router reverts for wallet {wallet}",
                    )
                )
        return refusals


def _paid_by_legs(legs: Sequence[RoutedLeg]) -> dict[str, int]:
    paid: dict[str, int] = {}
    for leg in legs:
        paid[leg.token_in.lower()] = paid.get(leg.token_in.lower(), 0) + leg.amount_in
    return paid


async def read_token_facts(access: ChainAccess, address: str) -> TokenFacts:
    client = access.adapter.client
    code = await client.rpc("eth_getCode", [address, "latest"])
    if not code or code in ("0x", "0x0"):
        return TokenFacts(has_code=False)

    async def read(function: Function) -> object | None:
        try:
            raw = await client.call({"to": address, "data": function.encode()})
            value: object = function.decode_output(raw)[0]
        except (SimulationReverted, DecodingError, ValueError):  # missing, or not ERC-20's
            return None
        return value

    decimals, symbol = await asyncio.gather(read(c.DECIMALS), read(c.SYMBOL))
    return TokenFacts(
        has_code=True,
        decimals=decimals if isinstance(decimals, int) else None,
        symbol=symbol if isinstance(symbol, str) else None,
    )


async def approval_succeeds(access: ChainAccess, token: str, wallet: str) -> bool:
    """Simulates the unlimited approval the execution layer sends before a swap."""
    router = access.adapter.addresses.swap_router
    call = {"from": wallet, "to": token, "data": c.APPROVE.encode(router, MAX_UINT256)}
    try:
        result = await access.adapter.client.call(call)
        # Tokens that return nothing (pre-final ERC-20s) are fine; an explicit false is not.
        return not result or c.APPROVE.decode_output(result)[0] is True
    except (SimulationReverted, DecodingError):
        return False


def _legs(planner: ExecutionPlanner, plan: ExecutionPlan) -> list[RoutedLeg]:
    totals: dict[tuple[str, str], list[int]] = {}
    for step in plan.steps:
        total = totals.setdefault((step.token_in, step.token_out), [0, 0])
        total[0] += step.amount_in
        total[1] += step.expected_amount_out
    legs = []
    for (token_in, token_out), (amount_in, amount_out) in totals.items():
        first = next(s for s in plan.steps if (s.token_in, s.token_out) == (token_in, token_out))
        fee_kept = 1.0
        for hop in first.hops:
            assert hop.fee_pips is not None, "the planner gives every hop its fee tier"
            fee_kept *= 1 - hop.fee_pips / 1_000_000
        # A small probe along the same pools pays the fees but moves no price: its rate,
        # fees taken back out, is the mid rate.
        probe_in = max(first.amount_in // _PROBE_FRACTION, 1)
        probe_out = planner.engine.quote([h.pool_id for h in first.hops], token_in, probe_in)
        mid_rate = probe_out / probe_in / fee_kept
        cost = 1 - (amount_out / amount_in) / mid_rate if mid_rate > 0 else 1.0
        legs.append(
            RoutedLeg(token_in, token_out, amount_in, amount_out, 1 - fee_kept, max(cost, 0.0))
        )
    return legs
