"""The chain monitor on a private devnet anvil: it follows new blocks (over anvil's
WebSocket, or by polling when there is none), reports our mined swap with its block and
wakes the sender's receipt wait, names the attempt our speed-up replaced and a foreign
transaction that took our nonce, steps back over a reorg, and gives the orchestrator's
confirmation its front-run indicator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from eth_account import Account

from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import AnvilProcess
from platform_core.chain.journal import AttemptKind, Journal, StepState
from platform_core.chain.monitor import (
    ChainMonitor,
    Inclusion,
    JournalBook,
    MonitorPolicy,
    Replacement,
    RpcChainSource,
)
from platform_core.chain.sender import TransactionSender, TxRequest
from platform_core.config import Settings
from platform_core.execution.orchestrator import ExecutionOrchestrator
from platform_core.market.adapter import Route, SwapOrder, deadline_from_window
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.streaming.event_stream import EventStream
from platform_core.types.events import ExecutionStepConfirmed
from platform_core.types.intent import IntentStatus
from tests.integration.chain.conftest import CHAIN_ID, dev_key, make_sender
from tests.integration.chain.test_chain_sender import swap_request
from tests.integration.chain.test_orchestrator_devnet import (
    RecordingPublisher,
    approve_router,
    intent_and_plan,
    planned,
)
from tests.integration.chain.test_planner_devnet import synced_planner
from tests.integration.conftest import free_port

GWEI = 10**9


class WakingSink:
    """What the monitor reported, passed on to the sender as the execution actor does."""

    def __init__(self, sender: TransactionSender) -> None:
        self.sender = sender
        self.inclusions: list[Inclusion] = []
        self.replacements: list[Replacement] = []
        self.changed = asyncio.Event()

    async def included(self, inclusion: Inclusion) -> None:
        self.inclusions.append(inclusion)
        self.sender.included(inclusion.tx_hash)
        self.changed.set()

    async def replaced(self, replacement: Replacement) -> None:
        self.replacements.append(replacement)
        for tx_hash in (*replacement.replaced, replacement.by):
            self.sender.included(tx_hash)
        self.changed.set()

    async def until(self, check: Callable[[], bool], timeout_s: float = 60) -> None:
        async def waiting() -> None:
            while not check():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(waiting(), timeout_s)


@asynccontextmanager
async def following(
    anvil: AnvilProcess, journal: Journal, sink: WakingSink, *, ws_url: str | None = None
) -> AsyncIterator[ChainMonitor]:
    """A monitor of `sink.sender`'s wallet over `journal`, running until the block ends."""
    source = RpcChainSource(anvil.rpc_url, ws_url=ws_url, timeout_s=10)
    book = JournalBook({sink.sender.address: journal.path})
    policy = MonitorPolicy(poll_interval_s=0.05, ws_retry_s=600)
    monitor = ChainMonitor(source, book, sink, [sink.sender.address], policy)
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop))
    try:
        await asyncio.wait_for(monitor.reached(await source.head_number()), 30)
        yield monitor
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await source.close()


async def stuck_swap(sender: TransactionSender, client: ChainClient, request: TxRequest) -> Any:
    """A swap signed, journalled and broadcast with mining off: it waits in the pool."""
    await client.rpc("evm_setAutomine", [False])
    record = await sender.prepare(request)
    attempt = await sender.sign_and_journal(record.step_key, await sender.preflight(record))
    await sender.broadcast(record.step_key, attempt)
    return attempt


async def napping_on(sender: TransactionSender, tx_hash: bytes) -> None:
    """Until a receipt wait of `sender` pauses on `tx_hash`."""
    while tx_hash not in sender._wakers:  # noqa: ASYNC110 (the sender's own registry)
        await asyncio.sleep(0.01)


async def test_our_mined_swap_is_reported_with_its_block_and_wakes_the_receipt_wait(
    anvil: AnvilProcess, client: ChainClient, uniswap: UniswapV3Adapter, journal: Journal,
    tokens: dict[str, str],
) -> None:  # fmt: skip
    # The receipt wait polls every 10 minutes: only the monitor's wake-up ends it in time.
    sender = make_sender(client, journal, 1, poll_interval_s=600, redeliver_after_s=600,
                         receipt_timeout_s=1200)  # fmt: skip
    sink = WakingSink(sender)
    async with following(anvil, journal, sink) as monitor:
        assert monitor.mode == "websocket" or monitor.mode == "starting"
        request = await swap_request(uniswap, tokens, sender.address, "inc")
        attempt = await stuck_swap(sender, client, request)
        waiting = asyncio.create_task(sender.wait("inc:swap"))
        await asyncio.wait_for(napping_on(sender, attempt.tx_hash), 30)
        await client.rpc("evm_mine", [])
        outcome = await asyncio.wait_for(waiting, 60)
        assert monitor.mode == "websocket"
    assert outcome.state is StepState.CONFIRMED and outcome.tx_hash == attempt.tx_hash
    receipt = await client.receipt(attempt.tx_hash)
    assert receipt is not None
    (inclusion,) = sink.inclusions
    assert inclusion == Inclusion(
        sender.address, attempt.nonce, attempt.tx_hash, "inc:swap", AttemptKind.ORIGINAL,
        receipt["blockNumber"], bytes(receipt["blockHash"]), receipt["transactionIndex"],
    )  # fmt: skip
    assert sink.replacements == []


async def test_a_sped_up_swap_is_reported_as_replaced_by_our_own_second_attempt(
    anvil: AnvilProcess, client: ChainClient, uniswap: UniswapV3Adapter, journal: Journal,
    tokens: dict[str, str],
) -> None:  # fmt: skip
    sender = make_sender(client, journal, 2)
    sink = WakingSink(sender)
    async with following(anvil, journal, sink):
        request = await swap_request(uniswap, tokens, sender.address, "slow")
        first = await stuck_swap(sender, client, request)
        faster = await sender.speed_up("slow:swap")  # the existing stuck-transaction path
        await client.rpc("evm_mine", [])
        await sink.until(lambda: bool(sink.replacements))
        outcome = await sender.wait("slow:swap", timeout_s=30)
    (replacement,) = sink.replacements
    assert (replacement.step_key, replacement.nonce, replacement.replaced) == (
        "slow:swap", first.nonce, (first.tx_hash,),
    )  # fmt: skip
    assert replacement.by == faster.tx_hash and replacement.by_kind is AttemptKind.SPEED_UP
    assert not replacement.foreign
    assert [(i.tx_hash, i.kind) for i in sink.inclusions] == [(faster.tx_hash,
                                                                AttemptKind.SPEED_UP)]  # fmt: skip
    assert outcome.state is StepState.CONFIRMED and outcome.tx_hash == faster.tx_hash


async def test_our_nonce_taken_by_bytes_outside_the_journal_is_a_foreign_replacement(
    anvil: AnvilProcess, client: ChainClient, uniswap: UniswapV3Adapter, journal: Journal,
    tokens: dict[str, str],
) -> None:  # fmt: skip
    sender = make_sender(client, journal, 3)
    sink = WakingSink(sender)
    async with following(anvil, journal, sink):
        request = await swap_request(uniswap, tokens, sender.address, "taken")
        ours = await stuck_swap(sender, client, request)
        # The same wallet, the same nonce, other bytes, signed outside the platform.
        foreign = Account.from_key(dev_key(3).get_secret_value()).sign_transaction(
            {
                "type": 2,
                "chainId": CHAIN_ID,
                "nonce": ours.nonce,
                "to": sender.address,
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": ours.max_fee_per_gas * 2,
                "maxPriorityFeePerGas": ours.max_priority_fee_per_gas * 2,
            }
        )
        await client.send_raw(bytes(foreign.raw_transaction))
        await client.rpc("evm_mine", [])
        await sink.until(lambda: bool(sink.replacements))
        outcome = await sender.wait("taken:swap", timeout_s=30)
    (replacement,) = sink.replacements
    assert replacement.foreign and replacement.by == bytes(foreign.hash)
    assert (replacement.step_key, replacement.nonce, replacement.replaced) == (
        "taken:swap", ours.nonce, (ours.tx_hash,),
    )  # fmt: skip
    assert sink.inclusions == []
    assert outcome.state is StepState.REPLACED


async def test_without_a_websocket_the_monitor_polls_and_still_reports_every_block(
    anvil: AnvilProcess, client: ChainClient, uniswap: UniswapV3Adapter, journal: Journal,
    tokens: dict[str, str],
) -> None:  # fmt: skip
    sender = make_sender(client, journal, 4)
    sink = WakingSink(sender)
    nowhere = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    async with following(anvil, journal, sink, ws_url=nowhere) as monitor:
        start = await client.block_number()
        requests = [await swap_request(uniswap, tokens, sender.address, f"p{i}") for i in range(3)]
        outcomes = [await sender.execute(request) for request in requests]
        await client.rpc("evm_mine", [])  # an empty block among them
        await sink.until(lambda: len(sink.inclusions) == 3)
        head = await client.block_number()
        await asyncio.wait_for(monitor.reached(head), 30)
        assert monitor.mode == "polling"
        assert all(monitor.block_at(n) is not None for n in range(start + 1, head + 1))
    assert [i.tx_hash for i in sink.inclusions] == [o.tx_hash for o in outcomes]
    assert all(o.state is StepState.CONFIRMED for o in outcomes)


async def test_a_node_without_raw_transactions_gives_the_same_block_as_json(
    anvil: AnvilProcess, client: ChainClient, uniswap: UniswapV3Adapter, sender: TransactionSender,
    tokens: dict[str, str],
) -> None:  # fmt: skip
    outcome = await sender.execute(await swap_request(uniswap, tokens, sender.address, "j"))
    assert outcome.receipt is not None
    number = outcome.receipt["blockNumber"]
    raw, as_json = RpcChainSource(anvil.rpc_url), RpcChainSource(anvil.rpc_url)
    as_json.raw_method = False  # as after a node answered "method not found"
    try:
        decoded, from_json = await raw.block(number), await as_json.block(number)
    finally:
        await raw.close()
        await as_json.close()
    assert decoded == from_json and decoded.swaps  # the swap's pool, by both paths
    (tx,) = decoded.txs
    assert (tx.tx_hash, tx.sender) == (outcome.tx_hash, sender.address)


async def test_a_reorg_is_followed_from_the_fork_point(
    anvil: AnvilProcess, client: ChainClient, uniswap: UniswapV3Adapter, journal: Journal,
    tokens: dict[str, str],
) -> None:  # fmt: skip
    sender = make_sender(client, journal, 5)
    sink = WakingSink(sender)
    async with following(anvil, journal, sink) as monitor:
        outcome = await sender.execute(await swap_request(uniswap, tokens, sender.address, "r"))
        await sink.until(lambda: len(sink.inclusions) == 1)
        assert outcome.tx_hash is not None
        raw = await client.rpc("eth_getRawTransactionByHash", ["0x" + outcome.tx_hash.hex()])
        head = await client.block_number()
        old = monitor.block_at(head)
        assert old is not None
        # The last block replaced by one holding the same transaction, then one more block.
        await client.rpc("evm_setAutomine", [False])
        await client.rpc("anvil_reorg", [1, [[raw, 0]]])
        await client.rpc("evm_mine", [])
        await sink.until(lambda: len(sink.inclusions) == 2)
        await asyncio.wait_for(monitor.reached(head + 1), 30)
        new = monitor.block_at(head)
        assert new is not None and new.head.hash != old.head.hash
        assert new.head.hash == bytes((await client.get_block(head))["hash"])
    first, again = sink.inclusions
    assert first.tx_hash == again.tx_hash == outcome.tx_hash
    assert (first.block_number, again.block_number) == (head, head)
    assert first.block_hash == old.head.hash and again.block_hash == new.head.hash
    assert monitor.orphaned == [first]


async def other_swap_on(
    uniswap: UniswapV3Adapter, client: ChainClient, pool_hop: Any, weth: str, index: int
) -> bytes:
    """Another wallet's swap through the pool of `pool_hop`, paying ETH, with a high tip
    (anvil orders a block by tip: it goes first)."""
    other = Account.from_key(dev_key(index).get_secret_value())
    pair = (pool_hop.token_out, pool_hop.token_in)
    if pair[0].lower() != weth.lower():
        pair = (pool_hop.token_in, pool_hop.token_out)
    assert pair[0].lower() == weth.lower(), "the test's pool pairs WETH"
    order = SwapOrder(route=Route(pair, (pool_hop.fee_pips,)), amount_in=10**16,
                      min_amount_out=1, recipient=other.address,
                      deadline=deadline_from_window(300_000), native_in=True)  # fmt: skip
    (request,) = await uniswap.build_swap_tx(order, other.address, "other")
    signed = other.sign_transaction(
        {
            "type": 2,
            "chainId": CHAIN_ID,
            "nonce": await client.nonce(other.address, "pending"),
            "to": request.to,
            "data": request.data,
            "value": request.value,
            "gas": 600_000,
            "maxFeePerGas": 90 * GWEI,
            "maxPriorityFeePerGas": 50 * GWEI,
        }
    )
    return await client.send_raw(bytes(signed.raw_transaction))


async def run_plan_in_one_block(
    anvil: AnvilProcess, uniswap: UniswapV3Adapter, journal: Journal,
    stream: EventStream, seed_intent: dict[str, Any], tokens: dict[str, str], *,
    other_first: bool,
) -> tuple[list[ExecutionStepConfirmed], bytes | None, Any, ChainMonitor]:  # fmt: skip
    """Run the seed intent's plan with mining off; when its swaps are out (and, when
    `other_first`, another wallet's swap on the first step's pool), mine one block."""
    client = uniswap.client
    sender = make_sender(client, journal, 6)
    intent, plan = intent_and_plan(await synced_planner(uniswap), seed_intent)
    await approve_router(uniswap, sender, plan)
    sink = WakingSink(sender)
    other: bytes | None = None
    async with following(anvil, journal, sink) as monitor:
        publisher = RecordingPublisher(stream)
        orchestrator = ExecutionOrchestrator(uniswap, sender, publisher, wallet=sender.address,
                                             front_runs=monitor)  # fmt: skip
        await client.rpc("evm_setAutomine", [False])
        run = asyncio.create_task(orchestrator.execute(intent, plan, after=planned(intent, plan)))
        await asyncio.wait_for(publisher.submitted.wait(), 60)  # the wave is broadcast
        if other_first:
            other = await other_swap_on(uniswap, client, plan.steps[0].hops[0], tokens["WETH"], 7)
        await client.rpc("evm_mine", [])
        result = await asyncio.wait_for(run, 120)
    assert result.status is IntentStatus.COMPLETED
    confirmed = [e.event() for e in result.events if e.event_type == "ExecutionStepConfirmed"]
    assert len(confirmed) == len(plan.steps)
    assert len({c.block_number for c in confirmed}) == 1  # type: ignore[attr-defined]
    return confirmed, other, plan, monitor  # type: ignore[return-value]


async def test_a_swap_by_another_wallet_before_ours_on_our_pool_is_named_on_our_confirmation(
    anvil: AnvilProcess, uniswap: UniswapV3Adapter, journal: Journal, stream: EventStream,
    isolated_settings: Settings, seed_intent: dict[str, Any], tokens: dict[str, str],
) -> None:  # fmt: skip
    confirmed, other, plan, _ = await run_plan_in_one_block(
        anvil, uniswap, journal, stream, seed_intent, tokens, other_first=True
    )
    assert other is not None
    receipt = await uniswap.client.receipt(other)
    assert receipt is not None and receipt["blockNumber"] == confirmed[0].block_number
    pool = plan.steps[0].hops[0].pool_id.lower()
    other_sender = Account.from_key(dev_key(7).get_secret_value()).address
    for event, step in zip(confirmed, plan.steps, strict=True):
        on_pool = pool in {hop.pool_id.lower() for hop in step.hops}
        if not on_pool:
            assert event.front_run is None
            continue
        assert event.front_run is not None
        assert (event.front_run.tx_hash, event.front_run.sender, event.front_run.pool) == (
            "0x" + other.hex(), other_sender, pool,
        )  # fmt: skip
        assert event.front_run.index == receipt["transactionIndex"]
    assert confirmed[0].front_run is not None


async def test_a_block_where_only_we_swapped_carries_no_front_run(
    anvil: AnvilProcess, uniswap: UniswapV3Adapter, journal: Journal, stream: EventStream,
    isolated_settings: Settings, seed_intent: dict[str, Any], tokens: dict[str, str],
) -> None:  # fmt: skip
    confirmed, _, _, monitor = await run_plan_in_one_block(
        anvil, uniswap, journal, stream, seed_intent, tokens, other_first=False
    )
    block = monitor.block_at(confirmed[0].block_number)
    assert block is not None and block.swaps  # the monitor read the block: our swaps only
    assert [event.front_run for event in confirmed] == [None] * len(confirmed)
