"""The chaos workload: seeded and reproducible, every kind in the mix, within the budgets,
valid submissions pass the API's request model and the gate's window rules, and each
invalid one is invalid for the reason it names (checked in the model, by the gate's rules
or through the in-process API)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from pydantic import ValidationError

from platform_core.api.app import create_app
from platform_core.chaos.workload import (
    FORBIDDEN,
    GATE_DENIED,
    INVALID_KINDS,
    MIN_AGGRESSIVE_WINDOW_MS,
    MIN_PASSIVE_SLICES,
    SCHEMA_INVALID,
    BudgetExhausted,
    Cancel,
    Market,
    Resubmit,
    StrategySpec,
    Submit,
    Workload,
    WorkloadConfig,
    arrival_times,
    devnet_strategies,
    generate,
    read_devnet_wallets,
)
from platform_core.config import PROJECT_ROOT, Settings
from platform_core.intent.decomposer import MIN_SLICES, slice_count
from platform_core.intent.validator import GatePolicy, venue_refusals, window_refusal
from platform_core.types import IntentSubmission
from tests.unit.memory_backends import MemoryBackends

MARKET = Market.load(PROJECT_ROOT / "devnet" / "deployment.json")
STRATEGIES = devnet_strategies(read_devnet_wallets(PROJECT_ROOT / "devnet" / "devnet.env"))
KEY = re.compile(r"^[A-Za-z0-9._:\-]{1,200}$")


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate(STRATEGIES, MARKET, seed=11, intents=3000)


@pytest.fixture(scope="module")
def broken() -> Workload:
    """Every submission invalid: each reason many times."""
    config = WorkloadConfig(invalid_share=1.0)
    return generate(STRATEGIES, MARKET, seed=5, intents=400, config=config)


def test_same_seed_same_workload(workload: Workload) -> None:
    again = generate(STRATEGIES, MARKET, seed=11, intents=3000)
    assert again.actions == workload.actions
    other = generate(STRATEGIES, MARKET, seed=12, intents=3000)
    assert other.actions != workload.actions
    # The run id keeps keys apart between runs of one seed against one database.
    renamed = generate(STRATEGIES, MARKET, seed=11, intents=50,
                       config=WorkloadConfig(run_id="run2"))  # fmt: skip
    assert all(s.idempotency_key.startswith("run2-11-") for s in renamed.submissions)


def test_devnet_inputs() -> None:
    assert len(STRATEGIES) == 3 and len({s.wallet for s in STRATEGIES}) == 3
    assert set(MARKET.tokens) == {"WETH", "USDC", "USDT", "WBTC", "ARB"}
    assert MARKET.neighbours("USDC") == ["ARB", "USDT", "WBTC", "WETH"]
    assert ("USDC", "WETH") in MARKET.pairs()


def test_mix_holds_every_kind(workload: Workload, broken: Workload) -> None:
    mix = workload.mix()
    assert mix["submit"] == 3000
    for kind in ("acquire", "dispose", "aggressive", "passive", "single", "basket",
                 "percentage", "invalid", "resubmit", "cancel", "expect:accept",
                 "expect:deny", "expect:invalid", "expect:forbidden"):  # fmt: skip
        assert mix[kind] > 0, kind
    # Roughly the configured shares.
    assert 0.01 < mix["invalid"] / 3000 < 0.06
    assert 0.4 < mix["dispose"] / (mix["acquire"] + mix["dispose"]) < 0.6
    assert 0.2 < mix["passive"] / mix["expect:accept"] < 0.4
    assert mix["resubmit"] > 50 and mix["cancel"] > 50
    assert {s.reason for s in broken.submissions} == set(INVALID_KINDS)


def test_actions_are_ordered_and_refer_to_submissions(workload: Workload) -> None:
    times = [a.at for a in workload.actions]
    assert times == sorted(times)
    subs = workload.by_key()
    assert len(subs) == len(workload.submissions)
    assert all(KEY.match(key) for key in subs)
    seen: set[str] = set()
    for action in workload.actions:
        if isinstance(action, Submit):
            seen.add(action.idempotency_key)
            continue
        assert action.idempotency_key in seen  # after its submission
        sub = subs[action.idempotency_key]
        assert action.strategy_id == sub.strategy_id
        if isinstance(action, Cancel):
            assert sub.expect == "accept" and action.at >= sub.at
            assert 0 < action.after_accept_s <= 1.5
        else:
            assert isinstance(action, Resubmit) and action.at == pytest.approx(
                sub.at + action.after_s, abs=1e-3
            )
    races = [a for a in workload.actions if isinstance(a, Resubmit) and a.after_s == 0]
    assert races, "some resubmits race their first request"


def test_arrivals_burst() -> None:
    import random

    config = WorkloadConfig(rate_per_s=5, burst_every_s=20, burst_length_s=5, burst_factor=6)
    times = arrival_times(random.Random(1), 5000, config)
    assert times == sorted(times)
    in_burst = sum(1 for t in times if t % 20 >= 15)
    steady = len(times) - in_burst
    # 5 s of bursts at 30/s against 15 s at 5/s per period: twice as many in the bursts.
    assert 1.5 < in_burst / steady < 2.5
    flat = arrival_times(random.Random(1), 2000, replace(config, burst_every_s=0))
    assert 2000 / 5 * 0.9 < flat[-1] < 2000 / 5 * 1.1


def test_valid_submissions_pass_the_request_model(workload: Workload) -> None:
    for sub in workload.submissions:
        if sub.expect != "accept":
            continue
        intent = IntentSubmission.model_validate(sub.body)
        assert str(intent.strategy_id) == sub.strategy_id
        assert intent.counter_asset is not None
        assert len(intent.sized_assets) == (1 if "single" in sub.tags else len(intent.assets) - 1)
        assert intent.type.value == sub.tags[0]
        assert intent.constraints.execution_style.value == sub.tags[1]
        for spec in intent.sized_assets:  # known tokens, the deployment's claims
            token = MARKET.tokens[spec.asset.symbol]
            assert (spec.asset.address, spec.asset.decimals) == (token.address, token.decimals)


def test_windows_pass_the_gate_and_slice_as_intended(workload: Workload) -> None:
    config = workload.config
    policy = GatePolicy(slice_interval_ms=config.slice_interval_ms)
    assert policy.min_aggressive_window_ms == MIN_AGGRESSIVE_WINDOW_MS
    assert MIN_PASSIVE_SLICES == MIN_SLICES
    for sub in workload.submissions:
        if sub.expect != "accept":
            continue
        constraints = IntentSubmission.model_validate(sub.body).constraints
        assert window_refusal(constraints, policy) is None
        assert not venue_refusals(constraints, ("uniswap_v3",))
        if "passive" in sub.tags:
            window = constraints.time_window_ms
            assert window < 5 * config.slice_interval_ms  # finishes in seconds
            # Slices planned up to half an interval after submission: k of them.
            k = (window - config.slice_interval_ms // 2) // config.slice_interval_ms
            assert k in config.passive_slices
            for late_ms in (1, config.slice_interval_ms // 2 - 1):
                assert slice_count(window - late_ms, config.slice_interval_ms) == k


def test_budgets_respected(workload: Workload) -> None:
    spend = workload.spend()
    for strategy in STRATEGIES:
        for symbol, amount in spend[strategy.strategy_id].items():
            assert amount <= strategy.budgets[symbol], (strategy.strategy_id, symbol)
    # Only valid submissions spend, and each spends something.
    for sub in workload.submissions:
        assert bool(sub.spend) == (sub.expect == "accept")
        assert all(amount > 0 for amount in sub.spend.values())


def test_ten_thousand_intents_fit_devnet_wallets() -> None:
    big = generate(STRATEGIES, MARKET, seed=3, intents=10_000)
    for strategy in STRATEGIES:
        for symbol, amount in big.spend()[strategy.strategy_id].items():
            # Well under what the wallet holds: no extra funding needed.
            assert amount < strategy.holdings[symbol] / 100


def test_small_budgets_run_out_loudly() -> None:
    poor = [
        StrategySpec(s.strategy_id, s.wallet, {sym: Decimal(50) for sym in ("USDC", "USDT")}, {})
        for s in STRATEGIES
    ]
    with pytest.raises(BudgetExhausted, match="raise the budgets"):
        generate(poor, MARKET, seed=1, intents=500)
    # With enough budget for a few, the generator keeps to the tokens it may spend.
    few = generate(poor, MARKET, seed=1, intents=5)
    for sub in few.submissions:
        assert set(sub.spend) <= {"USDC", "USDT"}


def test_percentages_size_against_holdings(workload: Workload) -> None:
    found = 0
    for sub in workload.submissions:
        if "percentage" not in sub.tags:
            continue
        strategy = next(s for s in STRATEGIES if s.strategy_id == sub.strategy_id)
        for spec in IntentSubmission.model_validate(sub.body).sized_assets:
            if spec.percentage is None:
                continue
            found += 1
            assert Decimal(0) < spec.percentage <= 100
            held_units = strategy.holdings[spec.asset.symbol].scaleb(spec.asset.decimals)
            assert held_units * spec.percentage / 100 >= 1  # never rounds to nothing
            usd = (
                strategy.holdings[spec.asset.symbol]
                * spec.percentage
                / 100
                * (workload.config.prices_usd[spec.asset.symbol])
            )
            assert usd < 2 * Decimal(repr(workload.config.notional_usd[1]))
    assert found > 0


def test_schema_invalid_submissions_fail_the_model_for_their_reason(broken: Workload) -> None:
    checked = 0
    for sub in broken.submissions:
        if sub.reason not in SCHEMA_INVALID:
            continue
        assert sub.expect == "invalid"
        with pytest.raises(ValidationError) as caught:
            IntentSubmission.model_validate(sub.body)
        codes = {str(error["type"]).upper() for error in caught.value.errors()}
        assert sub.reason in codes, (sub.reason, codes)
        checked += 1
    assert checked > 50


def test_gate_denied_submissions_break_their_rule(broken: Workload) -> None:
    policy = GatePolicy(slice_interval_ms=broken.config.slice_interval_ms)
    by_address = {t.address: t for t in MARKET.tokens.values()}
    min_fee = min(p.fee for p in MARKET.pools) / 1_000_000
    checked = 0
    for sub in broken.submissions:
        if sub.reason not in GATE_DENIED + FORBIDDEN:
            continue
        intent = IntentSubmission.model_validate(sub.body)  # the schema lets it through
        sized = intent.sized_assets[0]
        token = by_address.get(sized.asset.address)
        strategy = next(s for s in STRATEGIES if s.strategy_id == sub.strategy_id)
        match sub.reason:
            case "WINDOW_TOO_SHORT":
                assert window_refusal(intent.constraints, policy) is not None
            case "INSUFFICIENT_BALANCE":
                assert intent.type.value == "dispose" and sized.amount is not None
                assert sized.amount > strategy.holdings[sized.asset.symbol]
            case "SYMBOL_MISMATCH":
                assert token is not None and token.symbol != sized.asset.symbol
            case "DECIMALS_MISMATCH":
                assert token is not None and token.decimals != sized.asset.decimals
            case "TOKEN_NOT_FOUND":
                assert token is None
            case "UNSUPPORTED_VENUE":
                assert venue_refusals(intent.constraints, ("uniswap_v3",))
            case "SLIPPAGE_TOO_TIGHT":
                assert intent.constraints.max_slippage < Decimal(repr(min_fee))
            case "STRATEGY_MISMATCH":
                assert sub.expect == "forbidden" and str(intent.strategy_id) != sub.strategy_id
        if sub.reason != "STRATEGY_MISMATCH":
            assert sub.expect == "deny"
        checked += 1
    assert checked > 100


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    backends = MemoryBackends()
    backends.tokens = {f"key-{s.strategy_id}": UUID(s.strategy_id) for s in STRATEGIES}
    app = create_app(Settings(), backends)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://sep.test") as client:  # fmt: skip
        yield client


async def test_through_the_api_request_model(api: httpx.AsyncClient, broken: Workload) -> None:
    """Valid ones are taken (this gate accepts all), schema-invalid ones get 422 naming
    their reason, foreign ones 403."""
    sample = generate(STRATEGIES, MARKET, seed=2, intents=150,
                      config=WorkloadConfig(invalid_share=0.0))  # fmt: skip
    for sub in [*sample.submissions, *broken.submissions]:
        headers = {"authorization": f"Bearer key-{sub.strategy_id}",
                   "idempotency-key": sub.idempotency_key}  # fmt: skip
        answer = await api.post("/intents", json=sub.body, headers=headers)
        if sub.expect in ("accept", "deny"):
            assert answer.status_code == 202, (sub.reason, answer.text)
        elif sub.expect == "forbidden":
            assert answer.status_code == 403
            assert answer.json()["reason_codes"] == [sub.reason]
        else:
            assert answer.status_code == 422
            assert sub.reason in answer.json()["reason_codes"], answer.text


def test_actions_write_as_json_lines(tmp_path: Path, workload: Workload) -> None:
    import json

    path = tmp_path / "workload.jsonl"
    workload.to_jsonl(path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == len(workload.actions)
    assert {line["type"] for line in lines} == {"submit", "resubmit", "cancel"}
