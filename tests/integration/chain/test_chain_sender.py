"""The transaction sender on a real devnet: consecutive nonces under concurrency, the fee
ceiling, stuck transactions, unknown outcomes and a crash between signing and sending."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import REPO_ROOT, AnvilProcess
from platform_core.chain.errors import FeeCeilingExceeded, JournalError
from platform_core.chain.journal import AttemptKind, Journal, StepState
from platform_core.chain.sender import TransactionSender, TxRequest
from platform_core.market.adapter import Route, SwapOrder, deadline_from_window
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from tests.integration.chain.conftest import dev_key, make_sender
from tests.integration.conftest import free_port


def eth_to_usdc(tokens: dict[str, str], me: str, amount: int = 10**17) -> SwapOrder:
    return SwapOrder(
        route=Route((tokens["WETH"], tokens["USDC"]), (500,)),
        amount_in=amount,
        min_amount_out=1,
        recipient=me,
        deadline=deadline_from_window(300_000),
        native_in=True,
    )


async def swap_request(
    uniswap: UniswapV3Adapter, tokens: dict[str, str], me: str, key: str
) -> TxRequest:
    (request,) = await uniswap.build_swap_tx(eth_to_usdc(tokens, me), me, key)
    return request


async def test_concurrent_swaps_get_consecutive_nonces_and_all_land(
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    client: ChainClient,
    tokens: dict[str, str],
) -> None:
    me = sender.address
    start = await client.nonce(me, "latest")
    requests = [await swap_request(uniswap, tokens, me, f"c{i}") for i in range(5)]
    outcomes = await asyncio.gather(*(sender.execute(r) for r in requests))
    assert [o.state for o in outcomes] == [StepState.CONFIRMED] * 5
    nonces = []
    for outcome in outcomes:
        tx = await client.transaction(outcome.tx_hash)  # type: ignore[arg-type]
        assert tx is not None
        nonces.append(tx["nonce"])
    assert sorted(nonces) == list(range(start, start + 5))
    assert await client.nonce(me, "latest") == start + 5


async def test_fee_above_the_ceiling_is_refused_not_clamped(
    uniswap: UniswapV3Adapter, client: ChainClient, journal: Journal, tokens: dict[str, str]
) -> None:
    block = await client.get_block("latest")
    stingy = make_sender(client, journal, 2, fee_ceiling_wei=int(block["baseFeePerGas"]))
    nonce = await client.nonce(stingy.address, "pending")
    request = await swap_request(uniswap, tokens, stingy.address, "pricey")
    with pytest.raises(FeeCeilingExceeded, match="exceeds the ceiling"):
        await stingy.execute(request)
    assert await client.nonce(stingy.address, "pending") == nonce
    assert journal.get("pricey:swap").state == StepState.REFUSED
    # The nonce that was never used is handed out again.
    assert await stingy.nonces.reserve(stingy.address) == nonce


async def test_receipt_timeout_is_unknown_then_reconciled(
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    client: ChainClient,
    tokens: dict[str, str],
) -> None:
    await client.rpc("evm_setAutomine", [False])
    record = await sender.prepare(await swap_request(uniswap, tokens, sender.address, "slow"))
    attempt = await sender.sign_and_journal(record.step_key, await sender.preflight(record))
    await sender.broadcast(record.step_key, attempt)
    outcome = await sender.wait(record.step_key, timeout_s=0.3)
    assert outcome.state == StepState.UNKNOWN  # not "failed": we do not know yet
    with pytest.raises(JournalError, match="signed only once"):
        await sender.sign_and_journal(record.step_key, 100_000)
    await client.rpc("evm_mine", [])
    settled = await sender.reconcile(record.step_key)
    assert settled.state == StepState.CONFIRMED and settled.tx_hash == attempt.tx_hash


async def test_transport_error_is_unknown_and_the_same_bytes_are_resent(
    uniswap: UniswapV3Adapter,
    client: ChainClient,
    journal: Journal,
    tokens: dict[str, str],
) -> None:
    nowhere = ChainClient(f"http://127.0.0.1:{free_port()}", timeout_s=1)
    live = make_sender(client, journal, 3)
    cut_off = TransactionSender(
        nowhere, live.signer, journal, chain_id=live.chain_id, policy=live.policy
    )
    start = await client.nonce(live.address, "latest")
    record = await live.prepare(await swap_request(uniswap, tokens, live.address, "cut"))
    attempt = await live.sign_and_journal(record.step_key, await live.preflight(record))
    await cut_off.broadcast(record.step_key, attempt)  # the node is unreachable
    assert journal.get("cut:swap").state == StepState.UNKNOWN
    await nowhere.close()

    settled = await live.reconcile(record.step_key)
    assert settled.state == StepState.CONFIRMED and settled.tx_hash == attempt.tx_hash
    assert await client.nonce(live.address, "latest") == start + 1


async def _stuck(
    sender: TransactionSender, client: ChainClient, request: TxRequest
) -> tuple[Any, int]:
    await client.rpc("evm_setAutomine", [False])
    record = await sender.prepare(request)
    attempt = await sender.sign_and_journal(record.step_key, await sender.preflight(record))
    await sender.broadcast(record.step_key, attempt)
    return attempt, attempt.nonce


async def test_stuck_transaction_is_sped_up_at_the_same_nonce(
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    client: ChainClient,
    tokens: dict[str, str],
) -> None:
    request = await swap_request(uniswap, tokens, sender.address, "stuck")
    first, nonce = await _stuck(sender, client, request)
    faster = await sender.speed_up("stuck:swap")
    assert faster.nonce == nonce and faster.kind is AttemptKind.SPEED_UP
    assert faster.max_fee_per_gas * 1000 >= first.max_fee_per_gas * 1125
    assert faster.max_priority_fee_per_gas * 1000 >= first.max_priority_fee_per_gas * 1125
    await client.rpc("evm_mine", [])
    outcome = await sender.wait("stuck:swap", timeout_s=5)
    assert outcome.state == StepState.CONFIRMED and outcome.tx_hash == faster.tx_hash
    assert await client.receipt(first.tx_hash) is None
    assert await client.nonce(sender.address, "latest") == nonce + 1


async def test_stuck_transaction_is_cancelled_by_a_self_transfer(
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    client: ChainClient,
    tokens: dict[str, str],
) -> None:
    usdc_before = await uniswap.balance_of(tokens["USDC"], sender.address)
    request = await swap_request(uniswap, tokens, sender.address, "oops")
    first, nonce = await _stuck(sender, client, request)
    cancel = await sender.cancel("oops:swap")
    await client.rpc("evm_mine", [])
    outcome = await sender.wait("oops:swap", timeout_s=5)
    assert outcome.state == StepState.DROPPED and outcome.tx_hash == cancel.tx_hash
    tx = await client.transaction(cancel.tx_hash)
    assert tx is not None and tx["to"] == sender.address and tx["value"] == 0
    assert tx["nonce"] == nonce and await client.receipt(first.tx_hash) is None
    assert await uniswap.balance_of(tokens["USDC"], sender.address) == usdc_before


def _child(mode: str, anvil: AnvilProcess, journal: Path, env: dict[str, str]) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "tests.integration.chain.journal_child", mode, anvil.rpc_url,
         str(journal), "crash"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_crash_between_signing_and_broadcast_resends_the_same_bytes(
    anvil: AnvilProcess, client: ChainClient, tmp_path: Path
) -> None:
    key = dev_key(4)
    env = {**os.environ, "SEP_SIGNING_KEY": key.get_secret_value()}
    env.pop("SEP_KEYSTORE_PATH", None)
    journal_path = tmp_path / "crash.sqlite"
    wallet = Account.from_key(key.get_secret_value()).address
    start = await client.nonce(wallet, "latest")

    signer = _child("sign", anvil, journal_path, env)
    assert signer.returncode == -9, signer.stderr  # killed before broadcasting
    assert key.get_secret_value()[2:] not in signer.stdout + signer.stderr
    tx_hash = bytes.fromhex(json.loads(signer.stdout)["tx_hash"])
    assert await client.transaction(tx_hash) is None
    assert await client.nonce(wallet, "pending") == start
    journal = Journal(journal_path)
    assert journal.get("crash:swap").state == StepState.SIGNED

    recovered = _child("recover", anvil, journal_path, env)
    assert recovered.returncode == 0, recovered.stderr
    assert json.loads(recovered.stdout) == [
        {"step": "crash:swap", "state": "confirmed", "tx_hash": tx_hash.hex()}
    ]
    assert await client.nonce(wallet, "latest") == start + 1

    again = _child("recover", anvil, journal_path, env)  # nothing left to do
    assert again.returncode == 0 and json.loads(again.stdout) == []
    assert await client.nonce(wallet, "latest") == start + 1
    journal.close()


async def test_nonce_taken_elsewhere_is_detected_and_the_counter_resyncs(
    uniswap: UniswapV3Adapter, client: ChainClient, journal: Journal, tokens: dict[str, str]
) -> None:
    ours = make_sender(client, journal, 5)
    other_process = make_sender(client, journal, 5)  # same wallet, its own nonce counter
    assert (await ours.execute(await swap_request(uniswap, tokens, ours.address, "a"))).state == (
        StepState.CONFIRMED
    )
    assert (
        await other_process.execute(await swap_request(uniswap, tokens, ours.address, "b"))
    ).state == StepState.CONFIRMED
    # Our counter is now stale: the node refuses the nonce, the step is settled from the
    # chain (its nonce went to a transaction it did not sign), and the counter is re-read.
    stale = await ours.execute(await swap_request(uniswap, tokens, ours.address, "c"))
    assert stale.state == StepState.REPLACED
    fresh = await ours.execute(await swap_request(uniswap, tokens, ours.address, "d"))
    assert fresh.state == StepState.CONFIRMED


async def test_a_mined_swap_a_reorg_dropped_is_sent_again_as_journalled(
    anvil: AnvilProcess, client: ChainClient, uniswap: UniswapV3Adapter, journal: Journal,
    tokens: dict[str, str],
) -> None:  # fmt: skip
    """Seen in a 10,000-intent chaos run: a reorg lost one of our mined swaps for good, and
    the wallet's execution actor refused to send anything more (JOURNAL_CHAIN_MISMATCH). A
    node gives such a transaction back to its pool; anvil's reorg does not. The journal's
    signed bytes go out again: the same hash, at the same nonce."""
    sender = make_sender(client, journal, 6, chain_check_settle_s=0.5)
    outcome = await sender.execute(await swap_request(uniswap, tokens, sender.address, "rg"))
    assert outcome.tx_hash is not None and outcome.state is StepState.CONFIRMED
    await sender.check_chain()  # bound to this chain
    used = await client.nonce(sender.address, "latest")
    head = await client.block_number()

    await client.rpc("anvil_reorg", [1, []])  # the last block, replaced by an empty one
    assert await client.block_number() == head
    assert await client.receipt(outcome.tx_hash) is None
    assert await client.nonce(sender.address, "latest") == used - 1

    await sender.check_chain()  # no mismatch: sent again, mined again
    receipt = await client.receipt(outcome.tx_hash)
    assert receipt is not None and int(receipt["status"]) == 1
    assert await client.nonce(sender.address, "latest") == used
    later = await sender.execute(await swap_request(uniswap, tokens, sender.address, "rg2"))
    assert later.state is StepState.CONFIRMED  # and the wallet goes on sending
