"""Pipelined transactions on a real anvil with automine off, so that several of a wallet's
transactions are in the pool at once: each step is broadcast without waiting for the one
before; one that reverts in the middle uses its nonce and the later ones go on; one the node
drops from its pool is sent again, the same journalled bytes, by the wait that notices;
a broadcast the node refuses gives its nonce back, leaving no gap; and the in-flight bound
holds a transaction back until the chain mines. Every step ends in its true state, with one
transaction per step at contiguous nonces."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import AnvilProcess
from platform_core.chain.errors import BroadcastRejected
from platform_core.chain.journal import Journal, StepState
from platform_core.chain.sender import StepOutcome, TransactionSender
from platform_core.config import Settings
from platform_core.execution.orchestrator import ExecutionOrchestrator, step_key
from platform_core.market.adapter import Route, SwapOrder
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.streaming.event_stream import EventStream
from platform_core.types.ids import uuid7
from platform_core.types.intent import IntentStatus
from platform_core.types.plan import ExecutionPlan
from tests.integration.chain.conftest import make_sender
from tests.integration.chain.test_orchestrator_devnet import (
    RecordingPublisher,
    approve_router,
    assert_chained,
    intent_and_plan,
    planned,
    stream_contents,
)
from tests.integration.chain.test_planner_devnet import synced_planner

BOUND_S = 60.0  # every wait below is bounded: a pipeline that stalls fails the test


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while not await check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


async def mine_until_done(client: ChainClient, tasks: Sequence[asyncio.Task[Any]]) -> list[Any]:
    """Mine a block at a time until every task has ended (a re-sent transaction needs a
    block after the one that left its gap)."""
    deadline = time.monotonic() + BOUND_S
    while not all(task.done() for task in tasks):
        assert time.monotonic() < deadline, "the steps never ended"
        await client.rpc("evm_mine", [])
        await asyncio.sleep(0.1)
    return [task.result() for task in tasks]


def eth_to_usdc(tokens: dict[str, str], me: str, deadline: int) -> SwapOrder:
    return SwapOrder(Route((tokens["WETH"], tokens["USDC"]), (500,)), 10**17, 1, me, deadline,
                     native_in=True)  # fmt: skip


async def launch(sender: TransactionSender, uniswap: UniswapV3Adapter, order: SwapOrder,
                 key: str) -> str:  # fmt: skip
    """Build, pre-flight, sign, journal and broadcast one swap; no receipt is waited for."""
    (request,) = await uniswap.build_swap_tx(order, sender.address, key)
    record = await sender.prepare(request)
    await sender.sign_and_broadcast(record.step_key, await sender.preflight(record))
    return record.step_key


async def mined_block(client: ChainClient, tx_hash: bytes | None) -> int:
    assert tx_hash is not None
    receipt = await client.receipt(tx_hash)
    assert receipt is not None
    return int(receipt["blockNumber"])


async def test_steps_in_flight_together_end_true_with_one_reverted_and_one_dropped(
    uniswap: UniswapV3Adapter, client: ChainClient, journal: Journal, tokens: dict[str, str]
) -> None:
    sender = make_sender(client, journal, 1, redeliver_after_s=0.2)
    me, start, wall = sender.address, await client.nonce(sender.address, "latest"), time.time()
    # The second swap's own deadline passes before the block that includes them all.
    deadlines = [int(wall) + 3600, int(wall) + 60, *[int(wall) + 3600] * 3]
    await client.rpc("evm_setAutomine", [False])
    keys = [
        await launch(sender, uniswap, eth_to_usdc(tokens, me, d), f"p{i}")
        for i, d in enumerate(deadlines)
    ]
    assert await client.nonce(me, "pending") == start + 5  # all five out, none mined
    assert await client.nonce(me, "latest") == start

    dropped = journal.get(keys[3]).attempts[0].tx_hash
    await client.rpc("anvil_dropTransaction", ["0x" + dropped.hex()])
    assert await client.transaction(dropped) is None  # the node forgot it; the 5th waits
    waits = [asyncio.create_task(sender.wait(key)) for key in keys]
    await client.rpc("evm_setNextBlockTimestamp", [int(wall) + 120])
    outcomes: list[StepOutcome] = await mine_until_done(client, waits)

    assert [o.state for o in outcomes] == [
        StepState.CONFIRMED, StepState.REVERTED, StepState.CONFIRMED, StepState.CONFIRMED,
        StepState.CONFIRMED,
    ]  # fmt: skip
    records = [journal.get(key) for key in keys]
    assert [r.nonce for r in records] == list(range(start, start + 5))  # contiguous
    for record, outcome in zip(records, outcomes, strict=True):
        # One transaction per step: the journalled one, the dropped one re-sent as it was.
        assert len(record.attempts) == 1 and record.final_tx_hash == record.attempts[0].tx_hash
        assert outcome.tx_hash == record.attempts[0].tx_hash
        tx = await client.transaction(record.attempts[0].tx_hash)
        assert tx is not None and tx["nonce"] == record.nonce
    assert await client.nonce(me, "latest") == start + 5
    receipt = await client.receipt(dropped)
    assert receipt is not None and receipt["status"] == 1
    blocks = [await mined_block(client, o.tx_hash) for o in outcomes]
    assert blocks[0] == blocks[1] == blocks[2] < blocks[3] <= blocks[4]  # in flight together


async def test_a_refused_broadcast_gives_its_nonce_to_the_next_step(
    anvil: AnvilProcess, uniswap: UniswapV3Adapter, journal: Journal, tokens: dict[str, str]
) -> None:
    refusing = RefusesOnce(anvil.rpc_url, nth=2)
    sender = make_sender(refusing, journal, 2)
    me, start, wall = sender.address, await refusing.nonce(sender.address, "latest"), time.time()
    order = eth_to_usdc(tokens, me, int(wall) + 3600)
    await refusing.rpc("evm_setAutomine", [False])
    first = await launch(sender, uniswap, order, "r0")
    with pytest.raises(BroadcastRejected, match="injected"):
        await launch(sender, uniswap, order, "r1")
    third = await launch(sender, uniswap, order, "r2")

    refused = journal.get("r1:swap")
    assert refused.state is StepState.REFUSED and refused.detail is not None
    assert "broadcast refused" in refused.detail
    assert journal.get(third).nonce == refused.nonce == start + 1  # given back: no gap
    assert await refusing.nonce(me, "pending") == start + 2  # nothing waits behind a gap
    waits = [asyncio.create_task(sender.wait(key)) for key in (first, third)]
    outcomes: list[StepOutcome] = await mine_until_done(refusing, waits)
    assert [o.state for o in outcomes] == [StepState.CONFIRMED] * 2
    assert await refusing.nonce(me, "latest") == start + 2
    assert await refusing.transaction(refused.attempts[0].tx_hash) is None  # never on chain
    await refusing.close()


async def test_the_in_flight_bound_holds_a_step_until_the_chain_mines(
    uniswap: UniswapV3Adapter, client: ChainClient, journal: Journal, tokens: dict[str, str]
) -> None:
    sender = make_sender(client, journal, 3, max_in_flight=2)
    me, start, wall = sender.address, await client.nonce(sender.address, "latest"), time.time()
    await client.rpc("evm_setAutomine", [False])
    order = eth_to_usdc(tokens, me, int(wall) + 3600)
    requests = [(await uniswap.build_swap_tx(order, me, f"b{i}"))[0] for i in range(3)]
    runs = [asyncio.create_task(sender.execute(request)) for request in requests]

    await until(lambda: _pending_is(client, me, start + 2), "two transactions in the pool")
    for _ in range(10):  # the third has had every chance to go out, and has not
        await asyncio.sleep(0.05)
        assert await client.nonce(me, "pending") == start + 2
    held = [journal.get(r.step_key) for r in requests]
    assert sorted(r.state for r in held) == [
        StepState.PREPARED, StepState.SUBMITTED, StepState.SUBMITTED,
    ]  # fmt: skip
    outcomes: list[StepOutcome] = await mine_until_done(client, runs)
    assert [o.state for o in outcomes] == [StepState.CONFIRMED] * 3
    assert sorted(journal.get(r.step_key).nonce for r in requests) == [start, start + 1, start + 2]


async def _pending_is(client: ChainClient, wallet: str, count: int) -> bool:
    return await client.nonce(wallet, "pending") == count


class RefusesOnce(ChainClient):
    """The real node, except that the `nth` raw transaction sent is refused (as a node
    refuses one it will not take) and not passed on."""

    def __init__(self, rpc_url: str, nth: int) -> None:
        super().__init__(rpc_url, timeout_s=10)
        self.nth = nth
        self.sent = 0

    async def send_raw(self, raw: bytes) -> bytes:
        self.sent += 1
        if self.sent == self.nth:
            raise BroadcastRejected("insufficient funds for gas * price + value (injected)")
        return await super().send_raw(raw)


def split(plan: ExecutionPlan, parts: int, short_deadline: dict[int, datetime]) -> ExecutionPlan:
    """The plan's one step cut into `parts` smaller swaps along the same route, as the
    planner's splits are; `short_deadline` gives some of them an earlier deadline."""
    (step,) = plan.steps

    def part(i: int) -> dict[str, Any]:
        return {
            "index": i,
            "step_id": uuid7(),
            "amount_in": step.amount_in // parts,
            "expected_amount_out": step.expected_amount_out // parts,
            "min_amount_out": step.min_amount_out // parts,
            "deadline": short_deadline.get(i, step.deadline),
        }

    steps = [step.model_copy(update=part(i)) for i in range(parts)]
    return plan.model_copy(update={"steps": steps})


async def test_a_plans_steps_go_out_together_and_are_reported_in_order(
    uniswap: UniswapV3Adapter,
    client: ChainClient,
    journal: Journal,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    sender = make_sender(client, journal, 4, redeliver_after_s=0.2)
    intent, one_step = intent_and_plan(await synced_planner(uniswap), seed_intent)
    soon = datetime.now(UTC) + timedelta(seconds=60)
    plan = split(one_step, 4, {1: soon})  # step 1 is mined after its deadline: it reverts
    await approve_router(uniswap, sender, plan)
    me, start = sender.address, await client.nonce(sender.address, "latest")
    await client.rpc("evm_setAutomine", [False])
    publisher = RecordingPublisher(stream)
    created = planned(intent, plan)
    orchestrator = ExecutionOrchestrator(uniswap, sender, publisher, wallet=me)
    run = asyncio.create_task(orchestrator.execute(intent, plan, after=created))

    await until(lambda: _pending_is(client, me, start + 4), "the four swaps in the pool")
    assert await client.nonce(me, "latest") == start  # none mined: none waited for another
    keys = [f"{step_key(plan, step)}:swap" for step in plan.steps]
    dropped = journal.get(keys[2]).attempts[0].tx_hash
    await client.rpc("anvil_dropTransaction", ["0x" + dropped.hex()])
    await client.rpc("evm_setNextBlockTimestamp", [int(soon.timestamp()) + 60])
    (result,) = await mine_until_done(client, [run])

    # Step 1 reverted (past its deadline: the intent expired); the steps after it were
    # already out and are followed to their true end, the dropped one re-sent as it was.
    assert result.status is IntentStatus.EXPIRED and result.steps_confirmed == 3
    events = await stream_contents(isolated_settings)
    assert [e.event_type for e in events] == [
        "ExecutionStepSubmitted", "ExecutionStepConfirmed",
        "ExecutionStepSubmitted", "ExecutionStepFailed",
        "ExecutionStepSubmitted", "ExecutionStepConfirmed",
        "ExecutionStepSubmitted", "ExecutionStepConfirmed",
        "IntentExpired",
    ]  # fmt: skip
    assert_chained(events, intent, created)
    assert events[3].event().reverted and events[-1].event().steps_completed == 3
    records = [journal.get(key) for key in keys]
    assert [r.state for r in records] == [
        StepState.CONFIRMED, StepState.REVERTED, StepState.CONFIRMED, StepState.CONFIRMED,
    ]  # fmt: skip
    assert [r.nonce for r in records] == list(range(start, start + 4))
    assert all(len(r.attempts) == 1 for r in records)  # one transaction per step
    assert await client.nonce(me, "latest") == start + 4
    blocks = [await mined_block(client, r.final_tx_hash) for r in records]
    assert blocks[0] == blocks[1] < blocks[2] <= blocks[3]
