"""The gate on a private devnet, real Redis and real NATS: intents are accepted with a
priority or denied with their codes, and either way the first event is on the stream;
what accepted intents pay is reserved in the Redis ledger."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import nats
import pytest

from platform_core.chain.abi import Function
from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import AnvilProcess
from platform_core.config import ChainSettings, Settings
from platform_core.intent.ledger import ReservationLedger
from platform_core.intent.manager import (
    IntentManager,
    ManagerDecision,
    UsdToken,
    routed_usd_quote,
)
from platform_core.intent.prioritizer import OnnxPrioritizer
from platform_core.intent.validator import IntentValidator, connect_chain
from platform_core.streaming.event_stream import EventStream
from platform_core.types.events import EventEnvelope, IntentDenied, IntentSubmitted
from platform_core.types.intent import IntentStatus, IntentSubmission

CHAIN_ID = 42161
TRANSFER = Function("transfer(address,uint256)", ("bool",))
APPROVE = Function("approve(address,uint256)", ("bool",))
NOBODY = "0x000000000000000000000000000000000000dEaD"
NO_CODE = "0x1212121212121212121212121212121212121212"
SINK = "0x000000000000000000000000000000000000bEEF"  # where the drained USDC goes


@dataclass
class Gate:
    manager: IntentManager
    ledger: ReservationLedger
    settings: Settings
    funded: UUID  # strategy with devnet wallet 1 (10M USDC, 1,000 WETH)
    drained: UUID  # strategy with devnet wallet 2, left with 10,000 USDC
    unfunded: UUID  # strategy with a wallet that holds nothing

    async def submit(self, body: dict[str, Any], strategy: UUID) -> ManagerDecision:
        submission = IntentSubmission.model_validate({**body, "strategy_id": str(strategy)})
        return await self.manager.submit(submission, strategy)


@pytest.fixture
async def gate(
    anvil: AnvilProcess,
    client: ChainClient,
    deployment: dict[str, Any],
    tokens: dict[str, str],
    isolated_settings: Settings,
) -> AsyncIterator[Gate]:
    wallets = [w["address"] for w in deployment["wallets"]]
    funded, drained, unfunded = uuid4(), uuid4(), uuid4()
    settings = isolated_settings.model_copy(
        update={
            "chains": {CHAIN_ID: ChainSettings(name="arbitrum", rpc_url=anvil.rpc_url)},
            "strategy_wallets": {funded: wallets[0], drained: wallets[1], unfunded: NOBODY},
        }
    )
    await leave_usdc(client, tokens["USDC"], wallets[1], 10_000 * 10**6)

    access = await connect_chain(settings, CHAIN_ID, deployment)
    planner = access.planner
    assert planner.engine.pool_count() >= 8  # every devnet pool is in the engine
    ledger = ReservationLedger.from_url(settings.redis_url, prefix=settings.redis_key_prefix)
    stream = await EventStream.connect(
        settings.nats_url, stream=settings.stream_name, subject_prefix=settings.subject_prefix
    )
    validator = IntentValidator(settings, {CHAIN_ID: access})
    usd = UsdToken(tokens["USDC"], 6, quote=routed_usd_quote(planner, tokens["USDC"]))
    scorer = OnnxPrioritizer.from_settings(settings)
    manager = IntentManager(validator, scorer, stream, ledger, usd_tokens={CHAIN_ID: usd})
    try:
        yield Gate(manager, ledger, settings, funded, drained, unfunded)
    finally:
        await ledger.clear()
        await ledger.close()
        await stream.close()
        await access.adapter.client.close()


async def leave_usdc(client: ChainClient, usdc: str, wallet: str, keep: int) -> None:
    """Send all but `keep` of the wallet's USDC away (anvil lets us act as the wallet)."""
    raw = await client.call({"to": usdc, "data": Function("balanceOf(address)").encode(wallet)})
    excess = int.from_bytes(raw, "big") - keep
    await client.rpc("anvil_impersonateAccount", [wallet])
    tx = {"from": wallet, "to": usdc, "data": "0x" + TRANSFER.encode(SINK, excess).hex()}
    await client.rpc("eth_sendTransaction", [tx])
    await client.rpc("anvil_stopImpersonatingAccount", [wallet])


async def stream_envelopes(settings: Settings) -> list[EventEnvelope]:
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        state = (await js.stream_info(settings.stream_name)).state
        messages = [
            await js.get_msg(settings.stream_name, seq)
            for seq in range(state.first_seq, state.last_seq + 1)
        ]
        return [EventEnvelope.from_bytes(m.data) for m in messages if m.data]
    finally:
        await nc.close()


def with_constraints(body: dict[str, Any], **constraints: Any) -> dict[str, Any]:
    return {**body, "constraints": {**body["constraints"], **constraints}}


def with_asset(body: dict[str, Any], index: int, **changes: Any) -> dict[str, Any]:
    assets = [dict(a) for a in body["assets"]]
    assets[index] = {**assets[index], "asset": {**assets[index]["asset"], **changes}}
    return {**body, "assets": assets}


async def test_seed_intent_is_accepted_scored_and_published(
    gate: Gate, seed_intent: dict[str, Any], tokens: dict[str, str]
) -> None:
    decision = await gate.submit(seed_intent, gate.funded)
    assert decision.accepted, decision.report.refusals
    assert decision.priority is not None and 1 <= decision.priority <= 10
    (leg,) = decision.report.legs
    assert (leg.token_in, leg.token_out) == (tokens["USDC"], tokens["WETH"])
    assert leg.amount_out >= 15 * 10**17 and 0 < leg.cost < 0.005
    features = decision.intent.ml_features
    assert features is not None and 3.5 < features.log10_notional_usd < 3.8  # ~$4.5k

    (published,) = await stream_envelopes(gate.settings)
    assert published.event_id == decision.envelope.event_id and published.sequence == 0
    event = published.event()
    assert isinstance(event, IntentSubmitted) and event.priority == decision.priority
    assert event.intent.id == decision.intent.id and event.intent.ml_features == features


async def test_each_refusal_has_its_code_and_a_denied_event(
    gate: Gate, seed_intent: dict[str, Any]
) -> None:
    dispose_5000_weth = {
        **seed_intent,
        "intent_type": "dispose",
        "assets": [{**seed_intent["assets"][0], "amount": "5000"}, seed_intent["assets"][1]],
    }
    cases = [
        (seed_intent, gate.unfunded, {"INSUFFICIENT_BALANCE"}),
        (dispose_5000_weth, gate.funded, {"INSUFFICIENT_BALANCE"}),
        (with_constraints(seed_intent, allowed_venues=["curve"]), gate.funded,
         {"UNSUPPORTED_VENUE"}),
        (with_asset(seed_intent, 1, decimals=18), gate.funded, {"DECIMALS_MISMATCH"}),
        (with_asset(seed_intent, 1, symbol="USDT"), gate.funded, {"SYMBOL_MISMATCH"}),
        (with_asset(seed_intent, 0, address=NO_CODE), gate.funded, {"TOKEN_NOT_FOUND"}),
        (with_constraints(seed_intent, max_slippage="0.0001"), gate.funded,
         {"SLIPPAGE_TOO_TIGHT"}),
        (with_constraints(seed_intent, time_window_ms=5_000), gate.funded, {"WINDOW_TOO_SHORT"}),
        (seed_intent, uuid4(), {"UNKNOWN_STRATEGY_WALLET"}),
    ]  # fmt: skip
    decisions = []
    for body, strategy, expected in cases:
        decision = await gate.submit(body, strategy)
        assert decision.status is IntentStatus.DENIED
        assert expected <= set(decision.reason_codes), (expected, decision.report.refusals)
        decisions.append(decision)
    # The dispose is both unfunded and beyond the pools: every failing check is reported.
    assert set(decisions[1].reason_codes) == {"INSUFFICIENT_BALANCE", "NO_ROUTE"}

    published = {env.event_id: env for env in await stream_envelopes(gate.settings)}
    assert len(published) == len(cases)
    for decision in decisions:
        event = published[decision.envelope.event_id].event()
        assert isinstance(event, IntentDenied)
        assert event.reason_codes == decision.reason_codes and event.details


async def test_open_intents_reserve_the_balance(
    gate: Gate, seed_intent: dict[str, Any], tokens: dict[str, str]
) -> None:
    # 10,000 USDC pay for two 1.5 WETH purchases (~4,530 USDC each), not three.
    first = await gate.submit(seed_intent, gate.drained)
    second = await gate.submit(seed_intent, gate.drained)
    assert first.accepted and second.accepted, (first.reason_codes, second.reason_codes)
    # Each reserved exactly what its plan pays, and its event says so.
    usdc = tokens["USDC"].lower()
    for decision in (first, second):
        event = decision.envelope.event()
        assert isinstance(event, IntentSubmitted)
        (leg,) = decision.report.legs
        assert event.reserved == {usdc: leg.amount_in} and event.wallet is not None

    third = await gate.submit(seed_intent, gate.drained)
    assert third.reason_codes == ["INSUFFICIENT_BALANCE"]
    message = third.report.refusals[0].message
    reserved = sum(d.report.legs[0].amount_in for d in (first, second))
    assert f"wallet holds {10_000 * 10**6} of which open intents reserve {reserved}" in message

    # Once one has ended without spending (the coordinator's part), the same intent fits.
    assert await gate.ledger.release(first.intent.id) == 1
    assert (await gate.submit(seed_intent, gate.drained)).accepted


def approve_reverting_proxy(implementation: str) -> str:
    """Runtime code that reverts `approve` (as a paused or blocklisting token does) and
    delegates every other call to `implementation`, so balances and metadata stay."""
    code = (
        "600035" "60e01c" "63" + APPROVE.selector.hex() + "14" "6045" "57"  # approve?
        "36" "6000" "6000" "37"  # calldata to memory
        "6000" "6000" "36" "6000" "73" + implementation[2:].lower() + "5a" "f4"  # delegate
        "3d" "6000" "6000" "3e"  # its return data to memory
        "6040" "57" "3d" "6000" "fd"  # failed: revert with its data
        "5b" "3d" "6000" "f3"  # 0x40: return its data
        "5b" "6000" "6000" "fd"  # 0x45: approve reverts
    )  # fmt: skip
    return "0x" + code


async def test_a_token_whose_approve_reverts_cannot_be_paid_with(
    gate: Gate, client: ChainClient, seed_intent: dict[str, Any], tokens: dict[str, str]
) -> None:
    usdc, copy = tokens["USDC"], "0x00000000000000000000000000000000c0de0001"
    await client.rpc("anvil_setCode", [copy, await client.rpc("eth_getCode", [usdc, "latest"])])
    await client.rpc("anvil_setCode", [usdc, approve_reverting_proxy(copy)])

    decision = await gate.submit(seed_intent, gate.funded)
    assert decision.reason_codes == ["CANNOT_APPROVE"]
    assert "USDC" in decision.report.refusals[0].message
    (published,) = await stream_envelopes(gate.settings)
    assert published.event_type == "IntentDenied"


async def test_passive_and_dispose_intents_are_accepted(
    gate: Gate, seed_intent: dict[str, Any], tokens: dict[str, str]
) -> None:
    passive = await gate.submit(
        with_constraints(seed_intent, execution_style="passive"), gate.funded
    )
    assert passive.accepted, passive.report.refusals
    plan = passive.report.plan
    assert plan is not None and len({step.not_before for step in plan.steps}) >= 4  # slices

    sell = {**seed_intent, "intent_type": "dispose"}
    sold = await gate.submit(sell, gate.funded)
    assert sold.accepted, sold.report.refusals
    (leg,) = sold.report.legs
    assert (leg.token_in, leg.amount_in) == (tokens["WETH"], 15 * 10**17)
    features = sold.intent.ml_features
    assert features is not None and features.is_dispose == 1.0
    assert 3.5 < features.log10_notional_usd < 3.7  # ~$4.5k received

    too_short = with_constraints(seed_intent, execution_style="passive", time_window_ms=60_000)
    assert (await gate.submit(too_short, gate.funded)).reason_codes == ["WINDOW_TOO_SHORT"]
    published = [env.event_type for env in await stream_envelopes(gate.settings)]
    assert published == ["IntentSubmitted", "IntentSubmitted", "IntentDenied"]


async def test_concurrent_submissions_see_each_others_reservations(
    gate: Gate, seed_intent: dict[str, Any]
) -> None:
    # No lock: the ledger's atomic check-and-reserve lets two of the three through.
    decisions = await asyncio.gather(*(gate.submit(seed_intent, gate.drained) for _ in range(3)))
    assert sorted(d.status for d in decisions) == [
        IntentStatus.DENIED,
        IntentStatus.PENDING,
        IntentStatus.PENDING,
    ]
    (denied,) = [d for d in decisions if not d.accepted]
    assert denied.reason_codes == ["INSUFFICIENT_BALANCE"]
