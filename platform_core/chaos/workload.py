"""The chaos run's workload: a seeded, reproducible list of what the clients do and when.

Pure: nothing here touches the network or the clock. Given the strategies (id, wallet, what
each may spend), the devnet's tokens and pools (`devnet/deployment.json`), a seed and an
intent count, `generate` gives the same actions every time:

- `Submit`: one `POST /intents` at `at` seconds after the run's start, with its
  Idempotency-Key and body, what the API should answer (`expect`: "accept"; "deny", the
  gate's 422 with `reason` among its `reason_codes`; "invalid", the schema's 422 naming
  `reason`; "forbidden", 403 `reason`) and the most it can spend (`spend`, estimated).
  Valid ones mix ACQUIRE and DISPOSE, AGGRESSIVE and PASSIVE, single assets and baskets
  (several sized assets against one counter asset), amounts and percentages of holdings.
- `Resubmit`: the same key and body sent again, as a client whose first request timed
  out would (`after_s` 0 races the first one).
- `Cancel`: `POST /intents/{id}/cancel` of a submission, `after_accept_s` after its 202.

Arrivals are a Poisson process at `rate_per_s`, `burst_factor` times faster during the last
`burst_length_s` of every `burst_every_s`.

Windows (the gate's rules, `platform_core/intent/validator.py`): AGGRESSIVE needs at least
10 s; PASSIVE at least 2 slice intervals (`SEP_PASSIVE_SLICE_INTERVAL_MS`), and runs one
slice per whole interval left in its window. A PASSIVE window here is (k + 1/2) intervals
for k in `passive_slices`, so the decomposer cuts k slices even after half an interval of
queueing; `slice_interval_ms` must be what the platform runs with (the runner's
`SEP_PASSIVE_SLICE_INTERVAL_MS`, 2 s by default here).

Amounts are a few dollars each (`notional_usd`, at the devnet's prices), so budgets last:
`Workload.spend()` says what each strategy may spend at most, per token, and `generate`
raises `BudgetExhausted` before it plans more than a strategy's budget.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, Literal

from platform_core.errors import ErrorCode, PlatformError

Expect = Literal["accept", "deny", "invalid", "forbidden"]

# The devnet's prices (devnet/README.md) and what each strategy wallet holds at genesis
# (devnet/deploy.py WALLET_FUNDING).
DEVNET_PRICES_USD: Mapping[str, Decimal] = {
    "WETH": Decimal(3000),
    "WBTC": Decimal(60_000),
    "ARB": Decimal("0.75"),
    "USDC": Decimal(1),
    "USDT": Decimal(1),
}
DEVNET_WALLET_HOLDINGS: Mapping[str, Decimal] = {
    "WETH": Decimal(1000),
    "USDC": Decimal(10_000_000),
    "USDT": Decimal(10_000_000),
    "WBTC": Decimal(100),
    "ARB": Decimal(10_000_000),
}
# The gate's fixed minimum for AGGRESSIVE (`GatePolicy.min_aggressive_window_ms`) and the
# decomposer's least number of PASSIVE slices (`MIN_SLICES`).
MIN_AGGRESSIVE_WINDOW_MS = 10_000
MIN_PASSIVE_SLICES = 2
# Schema rules the invalid submissions break (the 422's reason codes).
SCHEMA_INVALID = (
    "AMOUNT_PRECISION",
    "AMOUNT_NOT_POSITIVE",
    "DECIMAL_STRING_REQUIRED",
    "AMOUNT_AND_PERCENTAGE",
    "ASSET_DUPLICATE",
    "SLIPPAGE_RANGE",
    "TIME_WINDOW_RANGE",
    "EXTRA_FORBIDDEN",
)
# Gate rules the denied submissions break (valid schema; the gate's 422 names the code).
GATE_DENIED = (
    "WINDOW_TOO_SHORT",
    "INSUFFICIENT_BALANCE",
    "SYMBOL_MISMATCH",
    "DECIMALS_MISMATCH",
    "TOKEN_NOT_FOUND",
    "UNSUPPORTED_VENUE",
    "SLIPPAGE_TOO_TIGHT",
)
FORBIDDEN = ("STRATEGY_MISMATCH",)  # a valid body naming another strategy: 403
INVALID_KINDS = SCHEMA_INVALID + GATE_DENIED + FORBIDDEN

DENIED_WINDOW_MS = 5_000  # valid for the schema (>= 1 s), below the gate's AGGRESSIVE 10 s
TIGHT_SLIPPAGE = "0.00005"  # below every fee tier (0.01 % is the lowest): never fillable
UNSUPPORTED_VENUE = "sushiswap"
AMOUNT_PLACES = 6  # amounts carry at most this many fractional digits (or the token's)
PERCENT_PLACES = 6


@dataclass(frozen=True)
class Token:
    symbol: str
    address: str
    decimals: int


@dataclass(frozen=True)
class Pool:
    token0: str
    token1: str
    fee: int  # pips: 500 is 0.05 %


@dataclass(frozen=True)
class Market:
    """The devnet's tokens and pools, from `devnet/deployment.json`."""

    chain_id: int
    tokens: Mapping[str, Token]
    pools: tuple[Pool, ...]

    @classmethod
    def from_deployment(cls, deployment: Mapping[str, Any]) -> Market:
        tokens = {
            symbol: Token(symbol, str(info["address"]), int(info["decimals"]))
            for symbol, info in deployment["tokens"].items()
        }
        pools = tuple(
            Pool(str(p["token0"]), str(p["token1"]), int(p["fee"]))
            for p in deployment["pools"]
            if p["token0"] in tokens and p["token1"] in tokens
        )
        return cls(int(deployment["chain_id"]), tokens, pools)

    @classmethod
    def load(cls, path: Path) -> Market:
        return cls.from_deployment(json.loads(path.read_text()))

    def pairs(self) -> list[tuple[str, str]]:
        """Each pair of tokens with a pool between them, once, in a stable order."""
        return sorted({tuple(sorted((p.token0, p.token1))) for p in self.pools})  # type: ignore[misc]

    def neighbours(self, symbol: str) -> list[str]:
        return sorted({b for a, b in self.pairs() if a == symbol} |
                      {a for a, b in self.pairs() if b == symbol})  # fmt: skip

    def asset(self, symbol: str) -> dict[str, Any]:
        token = self.tokens[symbol]
        return {"symbol": token.symbol, "address": token.address, "decimals": token.decimals,
                "chain_id": self.chain_id}  # fmt: skip


@dataclass(frozen=True)
class StrategySpec:
    """A strategy of the run: its wallet, the most the workload may spend of each token
    (token units), and what the wallet holds at the start (percentages are sized against
    it; a token it does not list is never sized by percentage)."""

    strategy_id: str
    wallet: str
    budgets: Mapping[str, Decimal]
    holdings: Mapping[str, Decimal] = field(default_factory=dict)


def read_devnet_wallets(env_path: Path) -> dict[str, str]:
    """strategy id -> wallet, from `devnet/devnet.env`'s DEVNET_STRATEGY_WALLETS."""
    for line in env_path.read_text().splitlines():
        found = re.match(r"^\s*DEVNET_STRATEGY_WALLETS\s*=\s*(\{.*\})\s*$", line)
        if found:
            wallets = json.loads(found.group(1))
            return {str(k): str(v) for k, v in wallets.items()}
    raise ValueError(f"{env_path}: no DEVNET_STRATEGY_WALLETS")


def devnet_strategies(
    strategy_wallets: Mapping[str, str],
    *,
    holdings: Mapping[str, Decimal] = DEVNET_WALLET_HOLDINGS,
    budget_share: Decimal = Decimal("0.5"),
) -> list[StrategySpec]:
    """One spec per strategy, each on its own devnet wallet: budgets a share of holdings.
    Strategies sharing a wallet split that share between them."""
    per_wallet = Counter(strategy_wallets.values())
    return [
        StrategySpec(
            strategy_id,
            wallet,
            {s: h * budget_share / per_wallet[wallet] for s, h in holdings.items()},
            dict(holdings),
        )
        for strategy_id, wallet in sorted(strategy_wallets.items())
    ]


@dataclass(frozen=True)
class WorkloadConfig:
    rate_per_s: float = 8.0  # steady submissions per second, over all strategies
    burst_every_s: float = 60.0  # 0: no bursts
    burst_length_s: float = 5.0
    burst_factor: float = 5.0
    dispose_share: float = 0.5
    passive_share: float = 0.3
    basket_share: float = 0.1
    basket_sizes: tuple[int, ...] = (2, 3)
    percentage_share: float = 0.1  # of sized assets
    invalid_share: float = 0.03
    duplicate_share: float = 0.05  # submissions sent again under the same key
    duplicate_race_share: float = 0.25  # of those, sent at once (racing the first)
    duplicate_delay_s: tuple[float, float] = (0.1, 3.0)
    cancel_share_passive: float = 0.15
    cancel_share_aggressive: float = 0.03
    cancel_delay_s: tuple[float, float] = (0.05, 1.5)  # after the 202
    notional_usd: tuple[float, float] = (5.0, 25.0)  # per sized asset
    max_slippage: tuple[str, ...] = ("0.01", "0.02", "0.03")
    aggressive_windows_ms: tuple[int, ...] = (15_000, 30_000, 60_000)
    slice_interval_ms: int = 2_000  # the platform's SEP_PASSIVE_SLICE_INTERVAL_MS
    passive_slices: tuple[int, ...] = (2, 3)
    # Spend estimates allow for prices this far from the devnet's, and for holdings (the
    # base of percentages) growing this much over the run.
    price_margin: Decimal = Decimal("0.25")
    holdings_growth: Decimal = Decimal("0.25")
    prices_usd: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEVNET_PRICES_USD))
    run_id: str = "chaos"  # prefixes every Idempotency-Key: one per run against one database

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.burst_factor <= 0:
            raise ValueError("rate_per_s and burst_factor must be positive")
        if min(self.passive_slices) < MIN_PASSIVE_SLICES:
            raise ValueError(f"PASSIVE needs at least {MIN_PASSIVE_SLICES} slices")
        if min(self.aggressive_windows_ms) < MIN_AGGRESSIVE_WINDOW_MS:
            raise ValueError(f"AGGRESSIVE windows below {MIN_AGGRESSIVE_WINDOW_MS} ms are denied")
        if not re.fullmatch(r"[A-Za-z0-9._:\-]{1,64}", self.run_id):
            raise ValueError("run_id: 1 to 64 of A-Z a-z 0-9 . _ : -")

    def passive_window_ms(self, slices: int) -> int:
        return slices * self.slice_interval_ms + self.slice_interval_ms // 2


@dataclass(frozen=True)
class Submit:
    at: float  # seconds after the run's start
    strategy_id: str
    idempotency_key: str
    body: dict[str, Any]  # the JSON sent
    tags: tuple[str, ...]  # e.g. ("acquire", "passive", "basket", "percentage")
    expect: Expect
    reason: str | None = None  # the code expected when not accepted
    spend: Mapping[str, Decimal] = field(default_factory=dict)  # most it pays, per token


@dataclass(frozen=True)
class Resubmit:
    """The submission under `idempotency_key` again, same body, `after_s` after it."""

    at: float
    strategy_id: str
    idempotency_key: str
    after_s: float


@dataclass(frozen=True)
class Cancel:
    """Cancel the intent the submission under `idempotency_key` created, `after_accept_s`
    after its 202 (not at all when it was not accepted). `at` is nominal (for ordering)."""

    at: float
    strategy_id: str
    idempotency_key: str
    after_accept_s: float


Action = Submit | Resubmit | Cancel


@dataclass(frozen=True)
class Workload:
    seed: int
    actions: tuple[Action, ...]  # ordered by `at`
    strategies: tuple[StrategySpec, ...]
    config: WorkloadConfig

    @property
    def submissions(self) -> list[Submit]:
        return [a for a in self.actions if isinstance(a, Submit)]

    def by_key(self) -> dict[str, Submit]:
        return {s.idempotency_key: s for s in self.submissions}

    @property
    def duration_s(self) -> float:
        return max((a.at for a in self.actions), default=0.0)

    def spend(self) -> dict[str, dict[str, Decimal]]:
        """strategy id -> token -> the most its submissions spend (estimated, see
        `WorkloadConfig.price_margin`)."""
        totals: dict[str, dict[str, Decimal]] = {s.strategy_id: {} for s in self.strategies}
        for sub in self.submissions:
            mine = totals.setdefault(sub.strategy_id, {})
            for symbol, amount in sub.spend.items():
                mine[symbol] = mine.get(symbol, Decimal(0)) + amount
        return totals

    def mix(self) -> Counter[str]:
        """How many of each kind: tags, expectations, invalid reasons, resubmits, cancels."""
        counts: Counter[str] = Counter()
        for action in self.actions:
            if isinstance(action, Submit):
                counts["submit"] += 1
                counts[f"expect:{action.expect}"] += 1
                counts.update(action.tags)
                if action.reason:
                    counts[f"reason:{action.reason}"] += 1
            elif isinstance(action, Resubmit):
                counts["resubmit"] += 1
            else:
                counts["cancel"] += 1
        return counts

    def to_jsonl(self, path: Path) -> None:
        """The actions, one JSON object a line (`type` names the kind)."""
        with path.open("w", encoding="utf-8") as out:
            for action in self.actions:
                record = {"type": type(action).__name__.lower(), **_plain(action.__dict__)}
                out.write(json.dumps(record, separators=(",", ":")) + "\n")


class BudgetExhausted(PlatformError, ValueError):
    """The workload would spend more than a strategy's budget."""

    code = ErrorCode.WORKLOAD_OVER_BUDGET


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _quantize(value: Decimal, places: int) -> Decimal:
    step = Decimal(1).scaleb(-places)
    return max(value.quantize(step, rounding=ROUND_DOWN), step)


def arrival_times(rng: random.Random, count: int, config: WorkloadConfig) -> list[float]:
    """`count` Poisson arrivals; faster by `burst_factor` in each period's last stretch."""
    times: list[float] = []
    t = 0.0
    every, length = config.burst_every_s, config.burst_length_s
    while len(times) < count:
        bursting = every > 0 and length > 0 and t % every >= every - length
        t += rng.expovariate(config.rate_per_s * (config.burst_factor if bursting else 1.0))
        times.append(round(t, 4))
    return times


class _Builder:
    def __init__(
        self,
        rng: random.Random,
        market: Market,
        strategies: Sequence[StrategySpec],
        config: WorkloadConfig,
    ) -> None:
        self.rng = rng
        self.market = market
        self.strategies = strategies
        self.config = config
        self.left = {s.strategy_id: dict(s.budgets) for s in strategies}
        self.pairs = market.pairs()
        self.basket_counters = [
            symbol for symbol in sorted(market.tokens)
            if len(market.neighbours(symbol)) >= min(config.basket_sizes)
        ]  # fmt: skip
        for symbol in market.tokens:
            if symbol not in config.prices_usd:
                raise ValueError(f"no price for {symbol}: add it to WorkloadConfig.prices_usd")

    def price(self, symbol: str) -> Decimal:
        return Decimal(self.config.prices_usd[symbol])

    def notional(self) -> Decimal:
        low, high = self.config.notional_usd
        return Decimal(repr(round(self.rng.uniform(low, high), 2)))

    def constraints(self, passive: bool) -> dict[str, Any]:
        c = self.config
        if passive:
            window = c.passive_window_ms(self.rng.choice(c.passive_slices))
        else:
            window = self.rng.choice(c.aggressive_windows_ms)
        return {"max_slippage": self.rng.choice(c.max_slippage), "time_window_ms": window,
                "execution_style": "passive" if passive else "aggressive"}  # fmt: skip

    def valid(
        self, strategy: StrategySpec
    ) -> tuple[dict[str, Any], tuple[str, ...], dict[str, Decimal]]:
        """A valid, affordable body: re-drawn until it fits what the strategy has left."""
        for _ in range(64):
            body, tags, spend = self._draw(strategy)
            left = self.left[strategy.strategy_id]
            if all(left.get(symbol, Decimal(0)) >= amount for symbol, amount in spend.items()):
                for symbol, amount in spend.items():
                    left[symbol] -= amount
                return body, tags, spend
        raise BudgetExhausted(
            f"strategy {strategy.strategy_id}: budgets left {self.left[strategy.strategy_id]} "
            "cannot pay another intent; raise the budgets (fund the wallet) or lower "
            "notional_usd or the intent count"
        )

    def _draw(
        self, strategy: StrategySpec
    ) -> tuple[dict[str, Any], tuple[str, ...], dict[str, Decimal]]:
        rng, c = self.rng, self.config
        dispose = rng.random() < c.dispose_share
        passive = rng.random() < c.passive_share
        basket = bool(self.basket_counters) and rng.random() < c.basket_share
        if basket:
            counter = rng.choice(self.basket_counters)
            choices = self.market.neighbours(counter)
            size = min(rng.choice(c.basket_sizes), len(choices))
            sized = sorted(rng.sample(choices, size))
        else:
            pair = list(rng.choice(self.pairs))
            rng.shuffle(pair)
            sized, counter = [pair[0]], pair[1]
        constraints = self.constraints(passive)
        slippage = Decimal(constraints["max_slippage"])
        assets: list[dict[str, Any]] = []
        spend: dict[str, Decimal] = {}
        tags = ["dispose" if dispose else "acquire", "passive" if passive else "aggressive",
                "basket" if basket else "single"]  # fmt: skip
        for symbol in sized:
            spec, units = self._sized(strategy, symbol, self.notional())
            if "percentage" in spec and "percentage" not in tags:
                tags.append("percentage")
            assets.append(spec)
            if dispose:
                paid, amount = symbol, units
            else:  # bought: paid in the counter asset, at most (1 + slippage) over the mid
                paid = counter
                value = units * self.price(symbol) / self.price(counter)
                amount = value * (1 + slippage) * (1 + c.price_margin)
            spend[paid] = spend.get(paid, Decimal(0)) + amount
        assets.append({"asset": self.market.asset(counter)})
        body = {"strategy_id": strategy.strategy_id, "intent_type": tags[0], "assets": assets,
                "constraints": constraints}  # fmt: skip
        return body, tuple(tags), spend

    def _sized(
        self, strategy: StrategySpec, symbol: str, notional: Decimal
    ) -> tuple[dict[str, Any], Decimal]:
        """The sized asset's spec (an amount, or a percentage of the holding) and the most
        token units it stands for."""
        token = self.market.tokens[symbol]
        held = Decimal(strategy.holdings.get(symbol, 0))
        units = notional / self.price(symbol)
        if held > 0 and self.rng.random() < self.config.percentage_share:
            percent = _quantize(units / held * 100, PERCENT_PLACES)
            if percent <= 100:
                most = held * (1 + self.config.holdings_growth) * percent / 100
                return {"asset": self.market.asset(symbol),
                        "percentage": _decimal_text(percent)}, most  # fmt: skip
        amount = _quantize(units, min(token.decimals, AMOUNT_PLACES))
        return {"asset": self.market.asset(symbol), "amount": _decimal_text(amount)}, amount

    def invalid(self, strategy: StrategySpec, reason: str) -> tuple[dict[str, Any], Expect]:
        """A body broken for `reason` (one of INVALID_KINDS), else like a valid one."""
        rng = self.rng
        body = self._small(strategy)
        sized = body["assets"][0]
        token = self.market.tokens[sized["asset"]["symbol"]]
        expect: Expect = "invalid"
        match reason:
            case "AMOUNT_PRECISION":
                sized["amount"] = "1." + "0" * token.decimals + "1"
            case "AMOUNT_NOT_POSITIVE":
                sized["amount"] = rng.choice(["0", "-1"])
            case "DECIMAL_STRING_REQUIRED":
                sized["amount"] = float(sized["amount"])
            case "AMOUNT_AND_PERCENTAGE":
                sized["percentage"] = "1"
            case "ASSET_DUPLICATE":
                body["assets"].insert(1, dict(sized))
            case "SLIPPAGE_RANGE":
                body["constraints"]["max_slippage"] = rng.choice(["0", "0.9", "1.5"])
            case "TIME_WINDOW_RANGE":
                body["constraints"]["time_window_ms"] = rng.choice([0, 500, 90_000_000])
            case "EXTRA_FORBIDDEN":
                body[rng.choice(["status", "id", "priority"])] = "completed"
            case "WINDOW_TOO_SHORT":
                expect = "deny"
                body["constraints"].update(execution_style="aggressive",
                                           time_window_ms=DENIED_WINDOW_MS)  # fmt: skip
            case "INSUFFICIENT_BALANCE":
                expect = "deny"
                body["intent_type"] = "dispose"
                held = Decimal(strategy.holdings.get(token.symbol, 0))
                too_much = max(held, Decimal(10**9) / self.price(token.symbol)) * 1000
                sized["amount"] = _decimal_text(too_much.quantize(Decimal(1)))
            case "SYMBOL_MISMATCH":
                expect = "deny"
                sized["asset"]["symbol"] = token.symbol + "X"
            case "DECIMALS_MISMATCH":
                expect = "deny"
                sized["asset"]["decimals"] = 18 if token.decimals != 18 else 6
                sized["amount"] = "1"
            case "TOKEN_NOT_FOUND":
                expect = "deny"
                sized["asset"] = {"symbol": "NOPE", "address": "0x" + "de" * 4 +
                                  f"{rng.getrandbits(128):032x}", "decimals": 18,
                                  "chain_id": self.market.chain_id}  # fmt: skip
            case "UNSUPPORTED_VENUE":
                expect = "deny"
                body["constraints"]["allowed_venues"] = [UNSUPPORTED_VENUE]
            case "SLIPPAGE_TOO_TIGHT":
                expect = "deny"
                body["constraints"]["max_slippage"] = TIGHT_SLIPPAGE
            case "STRATEGY_MISMATCH":
                expect = "forbidden"
                others = [s.strategy_id for s in self.strategies if s is not strategy]
                body["strategy_id"] = (
                    rng.choice(others) if others else "00000000-0000-7000-8000-00000000c4a0"
                )
            case _:
                raise ValueError(f"unknown invalid kind {reason!r}")
        return body, expect

    def _small(self, strategy: StrategySpec) -> dict[str, Any]:
        """A valid single-asset AGGRESSIVE body by amount (spends nothing: it is broken)."""
        pair = list(self.rng.choice(self.pairs))
        self.rng.shuffle(pair)
        amount = _quantize(self.notional() / self.price(pair[0]),
                           min(self.market.tokens[pair[0]].decimals, AMOUNT_PLACES))  # fmt: skip
        return {
            "strategy_id": strategy.strategy_id,
            "intent_type": self.rng.choice(["acquire", "dispose"]),
            "assets": [
                {"asset": self.market.asset(pair[0]), "amount": _decimal_text(amount)},
                {"asset": self.market.asset(pair[1])},
            ],
            "constraints": self.constraints(passive=False),
        }


def generate(
    strategies: Sequence[StrategySpec],
    market: Market,
    *,
    seed: int,
    intents: int,
    config: WorkloadConfig | None = None,
) -> Workload:
    """`intents` submissions (valid and not) over `strategies`, with their resubmits and
    cancels, the same for the same arguments."""
    if not strategies:
        raise ValueError("no strategies")
    config = config or WorkloadConfig()
    rng = random.Random(seed)
    builder = _Builder(rng, market, strategies, config)
    actions: list[Action] = []
    for index, at in enumerate(arrival_times(rng, intents, config)):
        strategy = rng.choice(strategies)
        key = f"{config.run_id}-{seed}-{index:06d}"
        if rng.random() < config.invalid_share:
            reason = rng.choice(INVALID_KINDS)
            body, expect = builder.invalid(strategy, reason)
            submit = Submit(at, strategy.strategy_id, key, body, ("invalid",), expect, reason)
        else:
            body, tags, spend = builder.valid(strategy)
            submit = Submit(at, strategy.strategy_id, key, body, tags, "accept", None, spend)
        actions.append(submit)
        if rng.random() < config.duplicate_share:
            race = rng.random() < config.duplicate_race_share
            after = 0.0 if race else round(rng.uniform(*config.duplicate_delay_s), 3)
            actions.append(Resubmit(round(at + after, 4), strategy.strategy_id, key, after))
        if submit.expect == "accept":
            passive = "passive" in submit.tags
            share = config.cancel_share_passive if passive else config.cancel_share_aggressive
            if rng.random() < share:
                after = round(rng.uniform(*config.cancel_delay_s), 3)
                actions.append(Cancel(round(at + after, 4), strategy.strategy_id, key, after))
    actions.sort(key=lambda a: a.at)  # stable: a submission stays before its followers
    return Workload(seed, tuple(actions), tuple(strategies), config)
