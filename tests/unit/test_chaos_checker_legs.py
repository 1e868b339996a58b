"""The history checker over a path hopping across venues: USDC -(SushiSwap)-> USDT
-(Uniswap V3)-> WETH as two legs. The wallet's USDT goes up by what the first leg received
and down by what the second spent (all of it): the balance rule holds, and still catches a
USDT change the confirmed legs do not account for."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from platform_core.chain.journal import StepState
from platform_core.chaos.checker import ETH, Balance, Evidence, WalletJournal, check
from platform_core.intent.aggregate import IntentAggregate
from platform_core.state.projection import fold
from platform_core.types import (
    ExecutionCompleted,
    ExecutionPlan,
    ExecutionStep,
    ExecutionStepConfirmed,
    ExecutionStepSubmitted,
    IntentSubmitted,
    PlanCreated,
    RouteHop,
)
from platform_core.types.plan import Spend
from tests.unit.test_chaos_checker import (
    AMOUNT_IN,
    AMOUNT_OUT,
    GAS,
    NONCE,
    PRICE,
    START,
    USDC,
    WALLET,
    WETH,
    History,
    attempt,
    chain_tx,
    hexh,
    step_record,
)

USDT = "0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9"
HANDED_ON = 4_499_000_000  # the USDT the first leg received and the second spent
HELD = 7_000_000_000  # USDT the wallet held before


def leg(index: int, venue: str, token_in: str, token_out: str, amount_in: int, out: int,
        spends: int | None = None) -> ExecutionStep:  # fmt: skip
    hop = RouteHop(pool_id=f"p{index}", token_in=token_in, token_out=token_out,
                   amount_in=amount_in, amount_out=out, fee_pips=3000)  # fmt: skip
    return ExecutionStep(
        index=index, venue=venue, chain_id=42161, token_in=token_in, token_out=token_out,
        amount_in=amount_in, expected_amount_out=out, min_amount_out=out * 99 // 100,
        deadline=START + timedelta(minutes=5), hops=[hop],
        spends=[] if spends is None else [Spend(step=spends, amount=amount_in)],
    )  # fmt: skip


def hopping_evidence(history: History, *, second_leg_in: int = HANDED_ON) -> Evidence:
    """The clean history's intent A, planned and executed as two legs instead of one step."""
    steps = [leg(0, "sushiswap_v2", USDC, USDT, AMOUNT_IN, HANDED_ON),
             leg(1, "uniswap_v3", USDT, WETH, HANDED_ON, AMOUNT_OUT, spends=0)]  # fmt: skip
    plan = ExecutionPlan(intent_id=history.intent.id, created_at=START, steps=steps)
    attempts = [attempt(NONCE), attempt(NONCE + 1, data=b"\x02swap")]
    moved = [(AMOUNT_IN, HANDED_ON), (second_leg_in, AMOUNT_OUT)]
    agg = IntentAggregate.start(history.intent)
    events = [
        agg.append(IntentSubmitted(intent=history.intent, priority=6, wallet=WALLET,
                                   reserved={USDC.lower(): AMOUNT_IN}), occurred_at=START),
        agg.append(PlanCreated(plan=plan), occurred_at=START),
    ]  # fmt: skip
    for step, sent, (amount_in, amount_out) in zip(steps, attempts, moved, strict=True):
        tx, plan_id, step_id = hexh(sent.tx_hash), plan.plan_id, step.step_id
        submitted = ExecutionStepSubmitted(plan_id=plan_id, step_id=step_id, tx_hash=tx,
                                           wallet=WALLET, nonce=sent.nonce)  # fmt: skip
        confirmed = ExecutionStepConfirmed(
            plan_id=plan_id, step_id=step_id, tx_hash=tx, block_number=10 + step.index,
            amount_in=amount_in, amount_out=amount_out, gas_used=GAS, effective_gas_price=PRICE,
        )  # fmt: skip
        events += [
            agg.append(submitted, occurred_at=START),
            agg.append(confirmed, occurred_at=START),
        ]
    events.append(
        agg.append(
            ExecutionCompleted(plan_id=plan.plan_id, amount_in=AMOUNT_IN, amount_out=AMOUNT_OUT),
            occurred_at=START,
        )
    )
    records = [
        step_record(f"{plan.plan_id}:{i}:swap", (sent,), StepState.CONFIRMED,
                    data=b"\x01swap" if i == 0 else b"\x02swap", final=sent.tx_hash)
        for i, sent in enumerate(attempts)
    ]  # fmt: skip
    clean = history.evidence()
    return replace(
        clean,
        events=[*events, *history.events_b],
        journals=[WalletJournal("journal-42161-w.sqlite", 42161, records)],
        chain_txs=[
            chain_tx(sent.tx_hash, sent.nonce, block=10 + i) for i, sent in enumerate(attempts)
        ],
        views={**clean.views, str(history.intent.id): fold(events)},
        balances={
            WALLET.lower(): {
                USDC.lower(): Balance(10_000_000_000, 10_000_000_000 - AMOUNT_IN),
                USDT.lower(): Balance(HELD, HELD),  # + what leg 0 received - what leg 1 spent
                WETH.lower(): Balance(0, AMOUNT_OUT),
                ETH: Balance(10**19, 10**19 - 2 * GAS * PRICE),
            }
        },
    )


def test_a_hopping_path_passes_every_rule() -> None:
    assert check(hopping_evidence(History())) == []


def test_an_intermediate_token_the_legs_do_not_account_for_is_caught() -> None:
    # Had the second leg spent less than the first received, the USDT left over would show.
    ev = hopping_evidence(History(), second_leg_in=HANDED_ON - 5)
    found = check(ev, ["balance"])
    assert [v.subject for v in found] == [f"{WALLET.lower()} {USDT.lower()}"]
    assert "difference -5" in found[0].detail
    ev.balances[WALLET.lower()][USDT.lower()] = Balance(HELD, HELD + 5)
    assert check(ev, ["balance"]) == []
