"""`IntentValidator`: the deep checks an intent passes before the platform accepts it.

The schema (pydantic) has already checked the intent's shape; these checks look at the
world: the strategy's wallet, the chain's venues, the tokens' contracts, the wallet's
balances, whether the router can be approved, whether a route exists, whether the slippage
tolerance could ever be met and the window is long enough. What open intents reserve is
the ledger's part (`ReservationLedger`, called by the manager): the report says what the
plan pays (`needs`), with the balances it was checked against and their blocks.

Every failing check is reported, each as a stable upper-case code and a message, so a
client fixes everything at once. Checks that depend on an earlier one (a balance needs a
wallet and a real token) are skipped when that one failed: its refusal already says why.

Routes come from the planner's engine (`plan_now`, as the planner itself plans); token
facts, balances and approvals from the chain's `WalletState` cache. A fed gate (no
watcher) reads nothing from the chain in steady state: the market feed keeps the engine
and the cache at the head. A gate with a watcher brings both to the head itself, at most
once per poll interval. A chain that cannot be read raises (`TransportError`): that is the
platform's trouble, not a refusal of the intent (for the API: 503, not 422).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import platform_rust
from platform_core.chain.client import ChainClient
from platform_core.config import Settings
from platform_core.errors import ErrorCode
from platform_core.execution.planner import ExecutionPlanner
from platform_core.execution.planning_service import PlanResult, plan_now
from platform_core.intent.decomposer import MIN_SLICES, SLICE_INTERVAL_MS
from platform_core.intent.ledger import Need
from platform_core.intent.reservations import paid_amounts
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.uniswap_v3 import UniswapV3Adapter, UniswapV3Addresses
from platform_core.market.wallet_state import Holding, TokenFacts, WalletState
from platform_core.market.watcher import MarketWatcher
from platform_core.types.intent import ExecutionStyle, Intent, IntentConstraints
from platform_core.types.plan import ExecutionPlan, RouteHop

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
    """One chain as the gate sees it: routes through the planner (whose engine holds the
    chain's pools), token facts and holdings from the wallet-state cache. With a watcher,
    the gate brings both to the head itself; without one it is fed: the market feed moves
    the engine and calls `wallets.on_head`, and a submission reads nothing from the chain."""

    adapter: UniswapV3Adapter
    planner: ExecutionPlanner
    wallets: WalletState
    watcher: MarketWatcher | None = None


async def connect_chain(
    settings: Settings,
    chain_id: int,
    deployment: Mapping[str, Any],
    *,
    registry: PoolRegistry | None = None,
) -> ChainAccess:
    """The gate's access to a configured chain: a client on its RPC URL, the adapter for the
    deployment's contracts, a planner and the wallet-state cache. Given the `registry` a
    market feed keeps, the gate is fed: nothing is read now, and the feed is to call
    `wallets.on_head`. Without one, the planner's engine holds every pool as of now, the
    cache starts at that block, and the market watcher brings both to the head later.
    Close `adapter.client` after."""
    client = ChainClient(settings.chains[chain_id].rpc_url, timeout_s=settings.rpc_timeout_s)
    adapter = UniswapV3Adapter(client, chain_id, UniswapV3Addresses.from_deployment(deployment))
    wallets = WalletState(adapter)
    if registry is not None:
        return ChainAccess(adapter, ExecutionPlanner(registry, chain_id=chain_id), wallets)
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    watcher = MarketWatcher(adapter, registry, min_interval_s=settings.market_poll_interval_s)
    try:
        await wallets.on_head((await watcher.refresh()).block)
    except BaseException:
        await client.close()
        raise
    planner = ExecutionPlanner(registry, chain_id=chain_id)
    return ChainAccess(adapter, planner, wallets, watcher)


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
    needs: tuple[Need, ...] = ()  # what the plan pays, per token, and the balance checked

    @property
    def ok(self) -> bool:
        return not self.refusals

    def refused(self, *refusals: Refusal) -> ValidationReport:
        """This report with more refusals (found after validation: the ledger, features)."""
        return replace(self, refusals=(*self.refusals, *refusals))

    @property
    def reason_codes(self) -> list[ErrorCode]:
        """Each code once, in the order first found."""
        return list(dict.fromkeys(r.code for r in self.refusals))


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


def route_refusal(code: ErrorCode, message: str) -> Refusal:
    """A planner or decomposer refusal as the gate reports it."""
    gate_code = _ROUTE_CODES.get(code, code)
    return Refusal(gate_code, message if gate_code == code else f"{code}: {message}")


def funding_refusals(
    intent: Intent, wallet: str, needs: Sequence[Need], holdings: Mapping[str, Holding]
) -> list[Refusal]:
    """INSUFFICIENT_BALANCE for each paid token the wallet holds too little of (before any
    reservation: the ledger checks those), CANNOT_APPROVE for each it cannot approve."""
    symbols = {s.asset.address.lower(): s.asset.symbol for s in intent.assets}
    refusals = []
    for need in needs:
        symbol = symbols[need.token]
        if need.balance < need.amount:
            refusals.append(
                Refusal(
                    ErrorCode.INSUFFICIENT_BALANCE,
                    f"{symbol}: needs {need.amount} base units, wallet holds {need.balance}",
                )
            )
        if not holdings[need.token].approvable:
            refusals.append(
                Refusal(
                    ErrorCode.CANNOT_APPROVE,
                    f"{symbol}: approve to the router reverts for wallet {wallet}",
                )
            )
    return refusals


class IntentValidator:
    def __init__(
        self,
        settings: Settings,
        chains: Mapping[int, ChainAccess],
        *,
        policy: GatePolicy | None = None,
        wallets: Mapping[UUID, str] | None = None,
    ) -> None:
        self.settings = settings
        self.chains = chains
        self.policy = policy or GatePolicy.from_settings(settings)
        self.wallets = settings.strategy_wallets if wallets is None else wallets

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

        holdings = await self._holdings(access, intent, wallet)
        balances = {token: holding.balance for token, holding in holdings.items()}
        legs: tuple[RoutedLeg, ...] = ()
        plan = None
        # A percentage is a share of the wallet's balance: without a wallet it means nothing.
        unsized = wallet is None and any(s.percentage is not None for s in intent.sized_assets)
        if not venue_problems and not unsized:
            result, legs = await asyncio.to_thread(self._route, access.planner, intent, balances)
            plan = result.plan
            if result.error_code is not None:
                refusals.append(route_refusal(result.error_code, result.error_message or ""))
            slippage = slippage_refusal(intent.constraints.max_slippage, legs)
            if slippage is not None:
                refusals.append(slippage)

        needs: tuple[Need, ...] = ()
        if wallet is not None:
            paid = _paid_by_legs(legs) or paid_amounts(intent, balances)
            needs = tuple(
                Need(token, amount, holdings[token].balance, holdings[token].block)
                for token, amount in paid.items()
            )
            refusals += funding_refusals(intent, wallet, needs, holdings)
        return ValidationReport(tuple(refusals), wallet, legs, plan, needs)

    async def _holdings(
        self, access: ChainAccess, intent: Intent, wallet: str | None
    ) -> dict[str, Holding]:
        """Lower-case token -> the wallet's holding (empty without a wallet), from the cache.
        A gate that is not fed first brings pools and holdings to the head, when due."""
        if access.watcher is not None:
            refresh = await access.watcher.refresh_if_due()
            if refresh is not None:
                await access.wallets.on_head(refresh.block)
        if wallet is None:
            return {}
        return await access.wallets.holdings(wallet, [s.asset.address for s in intent.assets])

    async def _token_refusals(self, access: ChainAccess, intent: Intent) -> list[Refusal]:
        facts = await asyncio.gather(
            *(access.wallets.token_facts(s.asset.address) for s in intent.assets)
        )
        return [
            refusal
            for spec, fact in zip(intent.assets, facts, strict=True)
            for refusal in token_refusals(
                spec.asset.address, spec.asset.symbol, spec.asset.decimals, fact
            )
        ]

    def _route(
        self, planner: ExecutionPlanner, intent: Intent, balances: dict[str, int]
    ) -> tuple[PlanResult, tuple[RoutedLeg, ...]]:
        """The planner's own decomposition and routing, and the legs of its plan."""
        result = plan_now(
            planner,
            intent,
            balances,
            datetime.now(UTC),
            slice_interval_ms=self.policy.slice_interval_ms,
        )
        return result, () if result.plan is None else tuple(_legs(planner, result.plan))


def _paid_by_legs(legs: Sequence[RoutedLeg]) -> dict[str, int]:
    """Lower-case token -> what the routed legs take in: exactly what the plan pays."""
    paid: dict[str, int] = {}
    for leg in legs:
        paid[leg.token_in.lower()] = paid.get(leg.token_in.lower(), 0) + leg.amount_in
    return paid


def _legs(planner: ExecutionPlanner, plan: ExecutionPlan) -> list[RoutedLeg]:
    """One leg per traded pair, over the plan's paths (chains of steps from the intent's
    tokens to its output, each with its part of the amounts). A pair's fees and cost are
    over all its paths: fees weighted by what each path takes in; cost against the lowest of
    the paths' mid rates (no fee, no impact). Venues may price a pair apart, and a route
    takes the dearer one's gap: against the lowest mid that is no cost, so the gate never
    calls unfillable what could fill."""
    totals: dict[tuple[str, str], list[float]] = {}
    for path in plan.paths():
        pair = (path.steps[0].token_in, path.steps[-1].token_out)
        hops = [hop for step in path.steps for hop in step.hops]
        fee_kept, mid_rate = _mid_rate(planner, hops)
        # [paid, received, the lowest mid rate, paid x fees]
        total = totals.setdefault(pair, [0, 0, mid_rate, 0.0])
        total[0] += path.amount_in
        total[1] += path.expected_amount_out
        total[2] = min(total[2], mid_rate)
        total[3] += path.amount_in * (1 - fee_kept)
    legs = []
    for (token_in, token_out), (paid, received, mid, fees) in totals.items():
        cost = 1 - received / (paid * mid) if paid * mid > 0 else 1.0
        fee = fees / paid if paid else 0.0
        legs.append(RoutedLeg(token_in, token_out, int(paid), int(received), fee, max(cost, 0.0)))
    return legs


def _mid_rate(planner: ExecutionPlanner, hops: Sequence[RouteHop]) -> tuple[float, float]:
    """(the share the path's fees leave, its mid rate): a small probe along the same pools
    pays the fees but moves no price; its rate, fees taken back out, is the mid rate.

    A probe the pools cannot quote (they moved since the plan: the engine follows every
    block) takes the path's own quoted rate as its mid rate: no price impact counted, so
    the gate never refuses for it (a 10,000-intent run saw a 500 here)."""
    fee_kept = 1.0
    for hop in hops:
        assert hop.fee_pips is not None, "the planner gives every hop its fee tier"
        fee_kept *= 1 - hop.fee_pips / 1_000_000
    probe_in = max(hops[0].amount_in // _PROBE_FRACTION, 1)
    try:
        probe_out = planner.engine.quote([h.pool_id for h in hops], hops[0].token_in, probe_in)
    except ValueError:  # NoRouteError too
        probe_in, probe_out = hops[0].amount_in, hops[-1].amount_out
    return fee_kept, probe_out / probe_in / fee_kept
