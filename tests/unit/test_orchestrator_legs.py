"""A path hopping across venues is executed leg by leg: a leg that spends earlier steps'
outputs (`spends`) is launched only once those steps are confirmed, with its part of what
they received (their receipts, not the plan's simulation), and its planned floor. The real
sender and journal run over a small automining fake node whose swaps pay at their own
rates; a re-run after a crash prepares and signs the same payload."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from platform_core.chain.decode import decode_signed
from platform_core.chain.errors import TransportError
from platform_core.chain.journal import Journal
from platform_core.chain.sender import TxRequest
from platform_core.execution.orchestrator import ExecutionOrchestrator, step_key
from platform_core.market.adapter import SwapOrder
from platform_core.market.contracts import TRANSFER
from platform_core.types.events import EventEnvelope, ExecutionStepConfirmed
from platform_core.types.intent import Intent, IntentStatus
from platform_core.types.plan import ExecutionPlan, ExecutionStep, RouteHop, Spend
from tests.unit.test_orchestrator_gating import ListPublisher, intent_and_plan, plan_created
from tests.unit.test_orchestrator_prerequisites import T0, Node, make_sender, same

USDT = "0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
ROUTERS = {"sushiswap_v2": "0x" + "51" * 20, "uniswap_v3": "0x" + "53" * 20}
# What the node's pools pay per unit in, as (numerator, denominator): never the plan's figure.
RATES = {(USDT, USDC): (987, 1000), (USDC, WETH): (2, 1), (USDT, WETH): (19, 10)}


def _word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address.removeprefix("0x"))


def encode_swap(order: SwapOrder) -> bytes:
    amounts = order.amount_in.to_bytes(32, "big") + order.min_amount_out.to_bytes(32, "big")
    return b"\x5a" + _word(order.token_in) + _word(order.route.tokens[-1]) + amounts


def decode_swap(data: bytes) -> tuple[str, str, int, int]:
    """(token_in, token_out, amount_in, min_amount_out) of a swap `encode_swap` built."""
    words = [data[1 + 32 * i : 33 + 32 * i] for i in range(4)]
    token_in, token_out = ("0x" + w[12:].hex() for w in words[:2])
    return token_in, token_out, int.from_bytes(words[2], "big"), int.from_bytes(words[3], "big")


class SwapNode(Node):
    """The automining node, whose swaps move tokens: the receipt's Transfer logs pay the
    pair's rate, and a swap paying less than its minimum reverts. `on_send` sees each
    transaction as it is broadcast; `refuse_once` makes the next pre-flight to a router
    fail in transport (a crash of the run: the outcome unknown)."""

    def __init__(self, wallet: str, on_send: Callable[[tuple[str, str, int, int]], None]) -> None:
        super().__init__()
        self.wallet = wallet
        self.on_send = on_send
        self.refuse_once: set[str] = set()

    async def call(self, tx: dict[str, Any], block: int | str = "latest") -> bytes:
        to = str(tx["to"]).lower()
        if to in self.refuse_once:
            self.refuse_once.discard(to)
            raise TransportError("the node went away")
        return await super().call(tx, block)

    async def send_raw(self, raw: bytes) -> bytes:
        tx_hash = await super().send_raw(raw)
        swap = decode_swap(decode_signed(raw).input)
        self.on_send(swap)
        token_in, token_out, amount_in, floor = swap
        key = next(pair for pair in RATES if (pair[0].lower(), pair[1].lower()) == swap[:2])
        num, den = RATES[key]
        amount_out = amount_in * num // den
        receipt = self.receipts[tx_hash]
        if amount_out < floor or receipt["to"] in self.revert:
            receipt["status"] = 0
            return tx_hash
        router = receipt["to"]
        receipt["logs"] = [
            self._transfer(token_in, self.wallet, router, amount_in),
            self._transfer(token_out, router, self.wallet, amount_out),
        ]
        return tx_hash

    @staticmethod
    def _transfer(token: str, source: str, target: str, value: int) -> dict[str, Any]:
        return {"address": token, "topics": [TRANSFER.topic, _word(source), _word(target)],
                "data": value.to_bytes(32, "big")}  # fmt: skip


class VenueAdapter:
    """A venue's swap, no approval: the order's tokens, input and minimum, to its router."""

    def __init__(self, venue: str) -> None:
        self.venue = venue

    async def build_swap_tx(self, order: SwapOrder, owner: str, key: str) -> list[TxRequest]:
        return [TxRequest(f"{key}:swap", 42161, ROUTERS[self.venue], encode_swap(order),
                          meta={"kind": "swap"})]  # fmt: skip


def step(index: int, venue: str, token_in: str, token_out: str, amount_in: int, out: int,
         floor: int, spends: dict[int, int] | None = None) -> ExecutionStep:  # fmt: skip
    hop = RouteHop(pool_id=f"{venue}-{index}", token_in=token_in, token_out=token_out,
                   fee_pips=3000, amount_in=amount_in, amount_out=out)  # fmt: skip
    return ExecutionStep(
        index=index, venue=venue, chain_id=42161, token_in=token_in, token_out=token_out,
        amount_in=amount_in, expected_amount_out=out, min_amount_out=floor, hops=[hop],
        deadline=T0 + timedelta(minutes=5),
        spends=[Spend(step=k, amount=v) for k, v in (spends or {}).items()],
    )  # fmt: skip


def hopping_plan(intent: Intent) -> ExecutionPlan:
    """USDT -(SushiSwap)-> USDC -(Uniswap V3)-> WETH, then a direct USDT -> WETH path.
    The legs' simulation says 990 USDC; the node pays 987."""
    return ExecutionPlan(
        intent_id=intent.id,
        created_at=T0,
        steps=[
            step(0, "sushiswap_v2", USDT, USDC, 1_000, 990, 980),
            step(1, "uniswap_v3", USDC, WETH, 990, 1_980, 1_960, spends={0: 990}),
            step(2, "uniswap_v3", USDT, WETH, 500, 950, 940),
        ],
    )


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


class Run:
    """One wallet's orchestrator over a `SwapNode`; `sends` records, for each broadcast
    swap, which events had been published by then."""

    def __init__(self, journal: Journal) -> None:
        self.publisher = ListPublisher()
        self.sends: list[tuple[tuple[str, str, int, int], list[str]]] = []
        self.journal = journal
        self.wallet = make_sender(Node(), journal).address
        self.node = SwapNode(self.wallet, self._seen)

    def _seen(self, swap: tuple[str, str, int, int]) -> None:
        published = [f"{e.event_type}:{e.payload.get('step_id')}" for e in self.publisher.envelopes]
        self.sends.append((swap, published))

    async def execute(self, intent: Intent, plan: ExecutionPlan, after: EventEnvelope) -> Any:
        self.publisher.envelopes.clear()
        sender = make_sender(self.node, self.journal)
        adapters = {venue: VenueAdapter(venue) for venue in ROUTERS}
        orchestrator = ExecutionOrchestrator(
            adapters["uniswap_v3"], sender, self.publisher, wallet=sender.address,
            venues=adapters, clock=lambda: T0,
        )  # fmt: skip
        return await orchestrator.execute(intent, plan, after=after)


def setup() -> tuple[Intent, ExecutionPlan, EventEnvelope]:
    intent, _ = intent_and_plan(1)
    plan = hopping_plan(intent)
    return intent, plan, plan_created(intent, plan)


def confirmed(events: list[EventEnvelope]) -> dict[str, ExecutionStepConfirmed]:
    found = (e.event() for e in events)
    return {str(e.step_id): e for e in found if isinstance(e, ExecutionStepConfirmed)}


async def test_a_leg_waits_for_its_predecessor_and_spends_what_it_received(
    journal: Journal,
) -> None:
    intent, plan, after = setup()
    run = Run(journal)
    result = await run.execute(intent, plan, after)
    assert result.status is IntentStatus.COMPLETED
    first, leg, direct = plan.steps

    # The first leg went out alone: the wave ended before the leg spending its output,
    # which was sent once the first was confirmed, together with the independent path.
    [(swap0, before0), (swap1, before1), (swap2, before2)] = run.sends
    assert before0 == []
    assert f"ExecutionStepConfirmed:{first.step_id}" in before1
    assert before2 == before1  # in the leg's wave: launched before any receipt was read
    # The leg spent all the first leg received (987, the plan said 990), at its own floor.
    assert swap0 == (USDT.lower(), USDC.lower(), 1_000, 980)
    assert swap1 == (USDC.lower(), WETH.lower(), 987, 1_960)
    assert swap2 == (USDT.lower(), WETH.lower(), 500, 940)

    by_step = confirmed(run.publisher.envelopes)
    assert (by_step[str(first.step_id)].amount_in, by_step[str(first.step_id)].amount_out) == (
        1_000, 987,
    )  # fmt: skip
    assert (by_step[str(leg.step_id)].amount_in, by_step[str(leg.step_id)].amount_out) == (
        987, 1_974,
    )  # fmt: skip
    # The intent paid its USDT (first legs) and received its WETH (last legs): the USDC
    # handed between the legs is neither.
    completed = run.publisher.envelopes[-1]
    assert completed.event_type == "ExecutionCompleted"
    assert (completed.payload["amount_in"], completed.payload["amount_out"]) == ("1500", "2924")
    assert (result.amount_in, result.amount_out, result.steps_confirmed) == (1_500, 2_924, 3)
    assert by_step[str(direct.step_id)].amount_out == 950

    # A re-run signs nothing new and publishes the same events.
    again = await run.execute(intent, plan, after)
    assert again.status is IntentStatus.COMPLETED and len(run.sends) == 3
    assert [e.event_id for e in again.events] == [e.event_id for e in result.events]


async def test_a_rerun_after_a_crash_before_the_leg_was_signed_prepares_the_same_payload(
    journal: Journal,
) -> None:
    intent, plan, after = setup()
    run = Run(journal)
    run.node.refuse_once.add(ROUTERS["uniswap_v3"])  # the leg's pre-flight: no answer
    with pytest.raises(TransportError):
        await run.execute(intent, plan, after)
    crashed = list(run.publisher.envelopes)
    assert [e.event_type for e in crashed] == ["ExecutionStepSubmitted", "ExecutionStepConfirmed"]
    key = f"{step_key(plan, plan.steps[1])}:swap"
    prepared = journal.get(key)
    assert not prepared.attempts and decode_swap(prepared.data)[2:] == (987, 1_960)

    # The re-run reads the first leg's confirmation back (journal, receipt): the same
    # amount, so the journal's prepared payload is the one signed (a different one would
    # be refused as "prepared with different content").
    result = await run.execute(intent, plan, after)
    assert result.status is IntentStatus.COMPLETED
    assert same(run.publisher.envelopes[:2], crashed)
    signed = journal.get(key)
    assert signed.data == prepared.data and len(signed.attempts) == 1
    assert [swap[2] for swap, _ in run.sends] == [1_000, 987, 500]
    assert (result.amount_in, result.amount_out) == (1_500, 2_924)


async def test_a_failed_predecessor_leaves_its_leg_unsent(journal: Journal) -> None:
    intent, plan, after = setup()
    run = Run(journal)
    run.node.revert.add(ROUTERS["sushiswap_v2"])  # the first leg is mined reverted
    result = await run.execute(intent, plan, after)
    assert result.status is IntentStatus.FAILED
    assert [e.event_type for e in run.publisher.envelopes] == [
        "ExecutionStepSubmitted", "ExecutionStepFailed", "IntentFailed",
    ]  # fmt: skip
    assert len(run.sends) == 1  # neither the leg nor the later path was sent
    assert result.amount_in == result.amount_out == 0


def test_the_plan_counts_first_legs_in_and_last_legs_out() -> None:
    _, plan, _ = setup()
    assert plan.amount_in == 1_500
    assert plan.expected_amount_out == 1_980 + 950
    assert plan.min_amount_out == 1_960 + 940
    assert [[s.index for s in path.steps] for path in plan.paths()] == [[0, 1], [2]]


async def test_a_shared_leg_hands_each_next_leg_its_part_of_what_it_received(
    journal: Journal,
) -> None:
    """USDT -(SushiSwap)-> USDC once, then two legs spend its USDC: 400 and 590 of the 990
    planned. The node pays 987: the first spends 987 x 400 / 990 = 398 (floored), the last
    what is left, 589; and both wait for the shared leg's confirmation."""
    intent, _ = intent_and_plan(1)
    plan = ExecutionPlan(
        intent_id=intent.id,
        created_at=T0,
        steps=[
            step(0, "sushiswap_v2", USDT, USDC, 1_000, 990, 980),
            step(1, "uniswap_v3", USDC, WETH, 400, 800, 790, spends={0: 400}),
            step(2, "uniswap_v3", USDC, WETH, 590, 1_180, 1_170, spends={0: 590}),
        ],
    )
    run = Run(journal)
    result = await run.execute(intent, plan, plan_created(intent, plan))
    assert result.status is IntentStatus.COMPLETED
    [(swap0, before0), (swap1, before1), (swap2, _)] = run.sends
    assert before0 == [] and f"ExecutionStepConfirmed:{plan.steps[0].step_id}" in before1
    assert [swap[2] for swap in (swap0, swap1, swap2)] == [1_000, 398, 589]
    assert (result.amount_in, result.amount_out) == (1_000, 2 * 398 + 2 * 589)
