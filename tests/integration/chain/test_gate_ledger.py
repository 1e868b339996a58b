"""The gate without locks, on a private devnet and the real Redis: two gates (as two API
replicas) sharing the reservation ledger never over-commit a wallet, and a fed gate
answers from its caches, reading nothing from the chain until a new head is announced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

import platform_rust
from platform_core.api.backends import ServiceBackends
from platform_core.chain.abi import Function
from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import AnvilProcess
from platform_core.chain.sender import TransactionSender
from platform_core.config import ChainSettings, Settings
from platform_core.intent.ledger import ReservationLedger
from platform_core.intent.manager import IntentManager, ManagerDecision
from platform_core.intent.prioritizer import OnnxPrioritizer
from platform_core.intent.validator import ChainAccess, IntentValidator, connect_chain
from platform_core.market.adapter import Route, SwapOrder, deadline_from_window
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.market.watcher import MarketWatcher
from platform_core.types import EventEnvelope, IntentSubmission, IntentSubmitted
from tests.integration.chain.quoter import send_order

CHAIN_ID = 42161
TRANSFER = Function("transfer(address,uint256)", ("bool",))
SINK = "0x000000000000000000000000000000000000bEEF"


async def leave(client: ChainClient, token: str, wallet: str, keep: int) -> int:
    """Send all but `keep` of the wallet's `token` away (anvil lets us act as the wallet);
    the balance left, as the chain has it."""
    balance_of = Function("balanceOf(address)", ("uint256",))
    raw = await client.call({"to": token, "data": balance_of.encode(wallet)})
    excess = balance_of.decode_output(raw)[0] - keep
    await client.rpc("anvil_impersonateAccount", [wallet])
    tx = {"from": wallet, "to": token, "data": "0x" + TRANSFER.encode(SINK, excess).hex()}
    await client.rpc("eth_sendTransaction", [tx])
    await client.rpc("anvil_stopImpersonatingAccount", [wallet])
    raw = await client.call({"to": token, "data": balance_of.encode(wallet)})
    return int(balance_of.decode_output(raw)[0])


def dispose(seed: dict[str, Any], strategy: UUID, amount: str) -> IntentSubmission:
    """Sell `amount` WETH (the seed's first asset) for USDC."""
    body = {**seed, "strategy_id": str(strategy), "intent_type": "dispose"}
    body["assets"] = [{**seed["assets"][0], "amount": amount}, seed["assets"][1]]
    return IntentSubmission.model_validate(body)


def acquire(seed: dict[str, Any], strategy: UUID, style: str = "aggressive") -> IntentSubmission:
    """The seed: buy 1.5 WETH with USDC."""
    constraints = {**seed["constraints"], "execution_style": style}
    body = {**seed, "strategy_id": str(strategy), "constraints": constraints}
    return IntentSubmission.model_validate(body)


def devnet_settings(settings: Settings, anvil: AnvilProcess, wallets: dict[UUID, str]) -> Settings:
    chains = {CHAIN_ID: ChainSettings(name="arbitrum", rpc_url=anvil.rpc_url)}
    return settings.model_copy(update={"chains": chains, "strategy_wallets": wallets})


async def test_two_gates_sharing_the_ledger_accept_exactly_what_the_wallet_holds(
    anvil: AnvilProcess,
    client: ChainClient,
    deployment: dict[str, Any],
    tokens: dict[str, str],
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    strategy, wallet = uuid4(), deployment["wallets"][1]["address"]
    balance = await leave(client, tokens["WETH"], wallet, 10 * 10**18 + 7)
    tenth = balance // 10
    settings = devnet_settings(isolated_settings, anvil, {strategy: wallet})
    gates = [ServiceBackends(settings), ServiceBackends(settings)]  # two API replicas
    try:
        submission = dispose(seed_intent, strategy, str(Decimal(tenth).scaleb(-18)))
        decisions = await asyncio.gather(
            *(gates[i % 2].decide(submission, strategy) for i in range(40))
        )
        accepted = [d for d in decisions if d.accepted]
        denied = [d for d in decisions if not d.accepted]
        assert len(accepted) == 10 and len(denied) == 30
        assert {tuple(d.reason_codes) for d in denied} == {("INSUFFICIENT_BALANCE",)}
        assert all("of which open intents reserve" in d.details[0] for d in denied)
        events = [d.envelope.event() for d in accepted]
        reserved = [e.reserved for e in events if isinstance(e, IntentSubmitted)]
        assert reserved == [{tokens["WETH"].lower(): tenth}] * 10

        ledger = ReservationLedger.from_url(settings.redis_url, prefix=settings.redis_key_prefix)
        try:
            entries = await ledger.entries(wallet, tokens["WETH"])
        finally:
            await ledger.close()
        assert set(entries) == {str(d.intent.id) for d in accepted}
        assert sum(e.amount for e in entries.values()) == 10 * tenth <= balance

        # A request that lost its idempotency claim gives its reservation back: one more fits.
        await gates[0].release(accepted[0].intent.id)
        assert (await gates[1].decide(submission, strategy)).accepted
        assert not (await gates[0].decide(submission, strategy)).accepted
    finally:
        for gate in gates:
            await gate.close()


class Recorder:
    def __init__(self) -> None:
        self.envelopes: list[EventEnvelope] = []

    async def publish(self, envelope: EventEnvelope) -> None:
        self.envelopes.append(envelope)


def count_rpc(client: ChainClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every JSON-RPC round trip the client makes (all go through `_guard`), by caller."""
    calls: list[str] = []
    guard: Callable[[Any], Awaitable[Any]] = client._guard

    async def counted(coro: Any) -> Any:
        calls.append(getattr(coro, "__qualname__", repr(coro)))
        return await guard(coro)

    monkeypatch.setattr(client, "_guard", counted)
    return calls


@pytest.fixture
async def fed_gate(
    anvil: AnvilProcess,
    deployment: dict[str, Any],
    isolated_settings: Settings,
    sender: TransactionSender,
    uniswap: UniswapV3Adapter,
) -> AsyncIterator[tuple[IntentManager, ChainAccess, UUID]]:
    strategy, wallet = uuid4(), deployment["wallets"][0]["address"]
    assert wallet == sender.address  # the gate's wallet is the one the test swaps from
    settings = devnet_settings(isolated_settings, anvil, {strategy: wallet})
    # The pools as a market feed would hold them (read once here, by another client).
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    await MarketWatcher(uniswap, registry).refresh()
    access = await connect_chain(settings, CHAIN_ID, deployment, registry=registry)
    assert access.watcher is None
    ledger = ReservationLedger.from_url(settings.redis_url, prefix=settings.redis_key_prefix)
    validator = IntentValidator(settings, {CHAIN_ID: access})
    scorer = OnnxPrioritizer.from_settings(settings)
    try:
        yield IntentManager(validator, scorer, Recorder(), ledger), access, strategy
    finally:
        await ledger.clear()
        await ledger.close()
        await access.adapter.client.close()


async def test_a_fed_gate_reads_nothing_from_the_chain_between_heads(
    fed_gate: tuple[IntentManager, ChainAccess, UUID],
    client: ChainClient,
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    tokens: dict[str, str],
    seed_intent: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate, access, strategy = fed_gate
    calls = count_rpc(access.adapter.client, monkeypatch)
    weth = tokens["WETH"].lower()

    async def submit(body: IntentSubmission) -> ManagerDecision:
        return await gate.submit(body, strategy)

    assert (await submit(acquire(seed_intent, strategy))).accepted  # warm: reads through
    assert calls
    await client.rpc("evm_mine", [])
    await access.wallets.on_head(await client.block_number())  # one round of reads
    calls.clear()

    bodies = [
        acquire(seed_intent, strategy),
        dispose(seed_intent, strategy, "2"),
        acquire(seed_intent, strategy, "passive"),
        acquire(seed_intent, strategy),
        dispose(seed_intent, strategy, "5000"),  # more than the wallet and the pools hold
    ]
    decisions = [await submit(body) for body in bodies]
    assert [d.accepted for d in decisions] == [True, True, True, True, False]
    assert set(decisions[-1].reason_codes) == {"INSUFFICIENT_BALANCE", "NO_ROUTE"}
    assert calls == []  # steady state: not one JSON-RPC call

    # A swap mines a new block; once its head is announced, the gate sees the new balance.
    (seen,) = decisions[1].report.needs
    await swap_weth(uniswap, sender, tokens, 3 * 10**18)
    head = await client.block_number()
    assert head > seen.balance_block
    await access.wallets.on_head(head)
    calls.clear()
    after = await submit(dispose(seed_intent, strategy, "2"))
    (need,) = after.report.needs
    assert need.token == weth and need.balance_block == head
    assert need.balance == seen.balance - 3 * 10**18
    assert need.balance == await uniswap.balance_of(tokens["WETH"], sender.address)
    assert calls == []


async def swap_weth(
    uniswap: UniswapV3Adapter, sender: TransactionSender, tokens: dict[str, str], amount: int
) -> None:
    """Sell `amount` WETH for USDC from the sender's wallet, as the execution actor does."""
    order = SwapOrder(
        route=Route((tokens["WETH"], tokens["USDC"]), (500,)),
        amount_in=amount,
        min_amount_out=1,
        recipient=sender.address,
        deadline=deadline_from_window(300_000),
    )
    outcomes = await send_order(uniswap, order, sender, "gate-ledger-swap")
    assert outcomes and all(o.receipt is not None for o in outcomes)
