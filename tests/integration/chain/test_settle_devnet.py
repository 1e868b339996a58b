"""Settling steps on a real devnet: receipts that come late after the account's nonce has
moved (a node that answers the nonce before the receipt, as one did under load) are waited
for and the intent completes; a transaction signed elsewhere at our nonce is reported as the
replacement it is; and the node names the transaction at a nonce, asked or searched."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from eth_account import Account

from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import AnvilProcess
from platform_core.chain.journal import Journal, StepState
from platform_core.chain.sender import TransactionSender
from platform_core.config import Settings
from platform_core.execution.orchestrator import ExecutionOrchestrator
from platform_core.execution.runner import ExecutionRunner
from platform_core.market.uniswap_v3 import UniswapV3Adapter, UniswapV3Addresses
from platform_core.streaming.event_stream import EventStream
from platform_core.types.intent import IntentStatus
from tests.integration.chain.conftest import CHAIN_ID, dev_key, make_sender
from tests.integration.chain.test_chain_sender import swap_request
from tests.integration.chain.test_execution_runner_devnet import NoCancels, handoff_for
from tests.integration.chain.test_orchestrator_devnet import intent_and_plan, stream_contents
from tests.integration.chain.test_planner_devnet import synced_planner


class LateReceipts(ChainClient):
    """The real node, except that each transaction's receipt (and its by-hash lookup)
    answers None the first `late` times it is asked. `hidden_mined` counts the answers that
    hid a transaction the chain had already mined, its sender's nonce already past it."""

    def __init__(self, rpc_url: str, late: int = 3) -> None:
        super().__init__(rpc_url, timeout_s=10)
        self.late = late
        self._asked: Counter[bytes] = Counter()
        self.hidden_mined = 0

    async def _hide(self, tx_hash: bytes) -> bool:
        self._asked[tx_hash] += 1
        if self._asked[tx_hash] > self.late:
            return False
        mined = await super().receipt(tx_hash)
        if mined is not None:
            tx = await super().transaction(tx_hash)
            assert tx is not None and await self.nonce(tx["from"], "latest") > tx["nonce"]
            self.hidden_mined += 1
        return True

    async def receipt(self, tx_hash: bytes) -> dict[str, Any] | None:
        return None if await self._hide(tx_hash) else await super().receipt(tx_hash)

    async def transaction(self, tx_hash: bytes) -> dict[str, Any] | None:
        return None if self._asked[tx_hash] < self.late else await super().transaction(tx_hash)


async def test_late_receipts_after_the_nonce_moved_end_confirmed_and_the_intent_completes(
    anvil: AnvilProcess,
    deployment: dict[str, Any],
    journal: Journal,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    lagging = LateReceipts(anvil.rpc_url)
    uniswap = UniswapV3Adapter(lagging, CHAIN_ID, UniswapV3Addresses.from_deployment(deployment))
    sender = make_sender(lagging, journal, 1)
    intent, plan = intent_and_plan(await synced_planner(uniswap), seed_intent)
    runner = ExecutionRunner(
        ExecutionOrchestrator(uniswap, sender, stream, wallet=sender.address), NoCancels()
    )
    assert runner.start(handoff_for(intent, plan, sender.address))
    result = await asyncio.wait_for(runner.wait(intent.id), 120)

    assert result is not None and result.status is IntentStatus.COMPLETED
    assert lagging.hidden_mined >= 2  # the approval's and the swap's receipts came late
    steps = [journal.get(f"{plan.plan_id}:{step.index}:swap") for step in plan.steps]
    assert all(step.state is StepState.CONFIRMED for step in steps)
    kinds = [e.event_type for e in await stream_contents(isolated_settings)]
    assert "ExecutionStepFailed" not in kinds and kinds[-1] == "ExecutionCompleted"
    await lagging.close()


async def test_a_transaction_signed_elsewhere_at_our_nonce_is_a_replacement(
    uniswap: UniswapV3Adapter, client: ChainClient, journal: Journal, tokens: dict[str, str]
) -> None:
    sender = make_sender(client, journal, 6)
    await client.rpc("evm_setAutomine", [False])
    record = await sender.prepare(await swap_request(uniswap, tokens, sender.address, "ours"))
    ours = await sender.sign_and_journal(record.step_key, await sender.preflight(record))
    await sender.broadcast(record.step_key, ours)
    # Another process holding the same key takes the nonce with a transfer of its own,
    # priced to replace ours in the pool; the journal never sees it.
    theirs = Account.sign_transaction(
        {
            "type": 2, "chainId": CHAIN_ID, "nonce": ours.nonce, "to": sender.address,
            "value": 1, "gas": 21_000, "maxFeePerGas": ours.max_fee_per_gas * 2,
            "maxPriorityFeePerGas": ours.max_priority_fee_per_gas * 2,
        },
        dev_key(6).get_secret_value(),
    )  # fmt: skip
    await client.send_raw(bytes(theirs.raw_transaction))
    await client.rpc("evm_mine", [])

    outcome = await sender.wait(record.step_key, timeout_s=10)
    assert outcome.state is StepState.REPLACED
    assert outcome.detail is not None and f"0x{bytes(theirs.hash).hex()}" in outcome.detail
    assert await client.receipt(ours.tx_hash) is None
    assert await client.mined_transaction_at(sender.address, ours.nonce) == bytes(theirs.hash)


async def test_the_transaction_at_a_nonce_is_found_asked_or_searched(
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    client: ChainClient,
    tokens: dict[str, str],
) -> None:
    for key in ("n1", "n2"):
        await sender.execute(await swap_request(uniswap, tokens, sender.address, key))
    second = sender.journal.get("n2:swap")
    assert second.nonce is not None and second.final_tx_hash is not None
    assert await client.mined_transaction_at(sender.address, second.nonce) == second.final_tx_hash
    # A node without eth_getTransactionBySenderAndNonce: the blocks are bisected instead.
    assert await client._search_by_nonce(sender.address, second.nonce) == second.final_tx_hash
    pending = await client.nonce(sender.address, "latest")
    assert await client.mined_transaction_at(sender.address, pending) is None
    assert await client._search_by_nonce(sender.address, pending) is None
