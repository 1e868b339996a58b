"""The chain monitor's pure parts (decoding a block's batch, inclusion, replacement and
front-running) and its loop over a scripted chain (no block skipped, reorgs, WebSocket
failures, front-run questions)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Collection, Mapping
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from platform_core.chain.errors import TransportError
from platform_core.chain.journal import Attempt, AttemptKind, Journal
from platform_core.chain.monitor import (
    V2_SWAP_TOPIC,
    V3_SWAP_TOPIC,
    Block,
    BlockTx,
    ChainMonitor,
    Head,
    Inclusion,
    JournalBook,
    MonitorPolicy,
    OurAttempt,
    PoolSwap,
    Replacement,
    assess_block,
    decode_block_txs,
    front_run_of,
    pool_swaps,
    step_pools,
)

OURS = Account.from_key("0x" + "11" * 32)
OTHER = Account.from_key("0x" + "22" * 32)
POOL_A = "0x" + "aa" * 20
POOL_B = "0x" + "bb" * 20


def signed(account: object, nonce: int, tip: int = 10**8) -> tuple[bytes, bytes]:
    to = to_checksum_address("0x" + "cd" * 20)
    tx = {"type": 2, "chainId": 42161, "nonce": nonce, "to": to, "value": 1, "gas": 21_000,
          "maxFeePerGas": 3 * 10**9, "maxPriorityFeePerGas": tip}  # fmt: skip
    out = account.sign_transaction(tx)  # type: ignore[attr-defined]
    return bytes(out.raw_transaction), bytes(out.hash)


def block_of(raws: list[bytes], hashes: list[bytes], swaps: tuple[PoolSwap, ...] = ()) -> Block:
    head = Head(7, b"\x07" * 32, b"\x06" * 32)
    return Block(head, decode_block_txs(raws, hashes), swaps)


def test_a_block_decodes_in_one_batch_with_senders_and_undecodable_items_kept() -> None:
    (raw0, h0), (raw1, h1) = signed(OURS, 3), signed(OTHER, 9)
    system = (b"\x6a" + b"\x00" * 40, b"\x99" * 32)  # a type the decoder does not know
    txs = decode_block_txs([raw0, system[0], raw1], [h0, system[1], h1])
    assert [(t.index, t.sender, t.nonce) for t in txs] == [
        (0, OURS.address, 3), (1, None, None), (2, OTHER.address, 9),
    ]  # fmt: skip
    assert txs[1].tx_hash == system[1]
    with pytest.raises(ValueError, match="hash to"):
        decode_block_txs([raw0], [h1])  # the node's hash list is of another block


def test_swap_logs_of_both_kinds_by_pool_and_index() -> None:
    logs: list[dict[str, Any]] = [
        {"address": POOL_A.upper().replace("0X", "0x"), "topics": ["0x" + V3_SWAP_TOPIC.hex()],
         "transactionIndex": "0x2"},
        {"address": POOL_B, "topics": [V2_SWAP_TOPIC], "transactionIndex": 4},
        {"address": POOL_B, "topics": ["0x" + "00" * 32], "transactionIndex": "0x1"},
        {"address": POOL_B, "topics": [V2_SWAP_TOPIC], "transactionIndex": 5, "removed": True},
    ]  # fmt: skip
    assert pool_swaps(logs) == (PoolSwap(POOL_A, 2), PoolSwap(POOL_B, 4))


def test_step_pools_come_from_the_journalled_hops() -> None:
    meta = {"execution_step": {"hops": [{"pool_id": POOL_A.upper().replace("0X", "0x")},
                                        {"pool_id": "not-an-address"}]}}  # fmt: skip
    assert step_pools(meta) == frozenset({POOL_A})
    assert step_pools({"kind": "approve"}) == frozenset()


def attempt(raw_hash: bytes, nonce: int, kind: AttemptKind = AttemptKind.ORIGINAL,
            pools: Collection[str] = ()) -> OurAttempt:  # fmt: skip
    return OurAttempt("p:0:swap", OURS.address, nonce, raw_hash, kind, frozenset(pools))


def test_our_transaction_in_a_block_is_an_inclusion_with_its_place() -> None:
    (other_raw, other_hash), (raw, tx_hash) = signed(OTHER, 1), signed(OURS, 5)
    block = block_of([other_raw, raw], [other_hash, tx_hash])
    index = {(OURS.address.lower(), 5): [attempt(tx_hash, 5)]}
    report = assess_block(block, index, [OURS.address])
    assert report.inclusions == (
        Inclusion(OURS.address, 5, tx_hash, "p:0:swap", AttemptKind.ORIGINAL, 7, b"\x07" * 32, 1),
    )
    assert report.replacements == () and report.front_runs == ()


def test_our_own_speed_up_names_the_attempt_it_replaced() -> None:
    (_, first), (faster_raw, faster) = signed(OURS, 5), signed(OURS, 5, tip=10**9)
    block = block_of([faster_raw], [faster])
    index = {(OURS.address.lower(), 5): [attempt(first, 5),
                                         attempt(faster, 5, AttemptKind.SPEED_UP)]}  # fmt: skip
    report = assess_block(block, index, [OURS.address])
    assert [i.tx_hash for i in report.inclusions] == [faster]
    (replaced,) = report.replacements
    assert (replaced.replaced, replaced.by, replaced.by_kind) == ((first,), faster,
                                                                 AttemptKind.SPEED_UP)  # fmt: skip
    assert not replaced.foreign and "our speed_up" in replaced.describe()


def test_a_foreign_transaction_at_a_journalled_nonce_is_a_foreign_replacement() -> None:
    (_, ours), (foreign_raw, foreign) = signed(OURS, 5), signed(OURS, 5, tip=10**9)
    block = block_of([foreign_raw], [foreign])
    report = assess_block(block, {(OURS.address.lower(), 5): [attempt(ours, 5)]}, [OURS.address])
    assert report.inclusions == ()
    assert report.replacements == (
        Replacement(OURS.address, 5, "p:0:swap", (ours,), foreign, None, 7, 0),
    )
    assert report.replacements[0].foreign


def test_a_transaction_of_our_wallet_at_a_nonce_never_journalled_is_reported() -> None:
    raw, tx_hash = signed(OURS, 8)
    (found,) = assess_block(block_of([raw], [tx_hash]), {}, [OURS.address]).replacements
    assert (found.step_key, found.replaced, found.by, found.foreign) == (None, (), tx_hash, True)


def test_front_run_is_the_nearest_earlier_foreign_swap_on_one_of_our_pools() -> None:
    raws = [signed(OTHER, n) for n in range(4)] + [signed(OURS, 5)]
    hashes = [h for _, h in raws]
    swaps = (
        PoolSwap(POOL_A, 0),  # foreign, on our pool, earlier
        PoolSwap(POOL_B, 1),  # foreign, another pool
        PoolSwap(POOL_A, 2),  # foreign, on our pool, nearest before ours
        PoolSwap(POOL_A, 4),  # ours
    )
    block = block_of([r for r, _ in raws], hashes, swaps)
    index = {(OURS.address.lower(), 5): [attempt(hashes[4], 5, pools=[POOL_A])]}
    report = assess_block(block, index, [OURS.address])
    ((tx_hash, front),) = report.front_runs
    assert tx_hash == hashes[4]
    assert (front.tx_hash, front.index, front.sender, front.pool, front.swaps_before) == (
        "0x" + hashes[2].hex(), 2, OTHER.address, POOL_A, 2,
    )  # fmt: skip
    # Our pools are known from our own logs too (a step journalled without hops).
    assert front_run_of(block, hashes[4], [], [OURS.address]) == front
    # Only swaps before ours count: none of the block's swaps precedes index 2 here.
    later = block_of([r for r, _ in raws], hashes, (PoolSwap(POOL_A, 4), PoolSwap(POOL_A, 3)))
    assert front_run_of(later, hashes[2], [POOL_A], [OURS.address]) is None
    # A pool we did not swap on does not count.
    elsewhere = block_of([r for r, _ in raws], hashes, (PoolSwap(POOL_B, 1), PoolSwap(POOL_A, 4)))
    assert front_run_of(elsewhere, hashes[4], [POOL_A], [OURS.address]) is None


def test_no_front_run_by_our_own_wallets_or_for_a_cancel() -> None:
    (mine_raw, mine), (raw, tx_hash) = signed(OURS, 4), signed(OURS, 5)
    swaps = (PoolSwap(POOL_A, 0), PoolSwap(POOL_A, 1))
    block = block_of([mine_raw, raw], [mine, tx_hash], swaps)
    index = {(OURS.address.lower(), 5): [attempt(tx_hash, 5, pools=[POOL_A])]}
    assert assess_block(block, index, [OURS.address]).front_runs == ()
    foreign = {(OURS.address.lower(), 5): [attempt(tx_hash, 5, AttemptKind.CANCEL, [POOL_A])]}
    assert assess_block(block, foreign, []).front_runs == ()


# -- the loop over a scripted chain ---------------------------------------------------------


def make_block(number: int, parent: bytes, fork: int = 0, txs: tuple[BlockTx, ...] = ()) -> Block:
    return Block(Head(number, bytes([fork, number % 256]) * 16, parent), txs, ())


class ScriptedChain:
    """A chain whose blocks the test appends or replaces; heads over a "WebSocket" that
    fails when told to."""

    def __init__(self, length: int) -> None:
        self.blocks: list[Block] = []
        for _ in range(length):
            self.append()
        self.reads: list[int] = []
        self.polls = 0
        self.ws_works = True
        self.heads: asyncio.Queue[Head] = asyncio.Queue()

    def append(self, fork: int = 0, txs: tuple[BlockTx, ...] = ()) -> Block:
        parent = self.blocks[-1].head.hash if self.blocks else b"\x00" * 32
        block = make_block(len(self.blocks), parent, fork, txs)
        self.blocks.append(block)
        return block

    def announce(self) -> None:
        self.heads.put_nowait(self.blocks[-1].head)

    async def head_number(self) -> int:
        self.polls += 1
        return len(self.blocks) - 1

    async def block(self, number: int) -> Block:
        self.reads.append(number)
        if number >= len(self.blocks):
            raise TransportError(f"no block {number}")
        return self.blocks[number]

    async def new_heads(self) -> AsyncIterator[Head]:
        if not self.ws_works:
            raise TransportError("no websocket here")
        while True:
            head = await self.heads.get()
            if not self.ws_works:
                raise TransportError("websocket closed")
            yield head


class NoJournal:
    async def attempts(
        self, nonces: Mapping[str, Collection[int]]
    ) -> dict[tuple[str, int], list[OurAttempt]]:
        return {}


class Sink:
    def __init__(self) -> None:
        self.inclusions: list[Inclusion] = []
        self.replacements: list[Replacement] = []

    async def included(self, inclusion: Inclusion) -> None:
        self.inclusions.append(inclusion)

    async def replaced(self, replacement: Replacement) -> None:
        self.replacements.append(replacement)


def monitor_on(chain: ScriptedChain, **policy: object) -> ChainMonitor:
    return ChainMonitor(chain, NoJournal(), Sink(), [OURS.address],
                        MonitorPolicy(**policy))  # type: ignore[arg-type]  # fmt: skip


async def test_every_block_between_the_last_seen_and_the_head_is_read_in_order() -> None:
    chain = ScriptedChain(5)
    monitor = monitor_on(chain)
    await monitor.catch_up(4)
    assert chain.reads == [4] and monitor.last_block == 4
    for _ in range(3):
        chain.append()
    await monitor.catch_up(7)
    assert chain.reads == [4, 5, 6, 7] and monitor.last_block == 7


async def test_a_reorg_steps_back_to_the_fork_point_and_reads_the_new_blocks() -> None:
    chain = ScriptedChain(3)
    monitor = monitor_on(chain)
    await monitor.catch_up(2)
    for _ in range(3):
        chain.append()  # 3, 4, 5
    await monitor.catch_up(5)
    old_four = chain.blocks[4].head.hash
    del chain.blocks[4:]
    for _ in range(3):
        chain.append(fork=1)  # 4', 5', 6'
    chain.reads.clear()
    await monitor.catch_up(6)
    # 6 is read first: the head moved to 6. Then 5' is not the 5 we saw (6' says so),
    # nor 4' the 4: the monitor steps back to 4 and reads forward from there.
    assert chain.reads[:1] == [6] or chain.reads[:2] == [5, 6]
    assert chain.reads[-3:] == [4, 5, 6]
    assert monitor.block_at(4) is not None and monitor.block_at(4).head.hash != old_four  # type: ignore[union-attr]
    assert [monitor.block_at(n).head for n in (4, 5, 6)] == [b.head for b in chain.blocks[4:]]  # type: ignore[union-attr]


async def test_a_new_head_at_a_height_already_seen_is_read_again() -> None:
    chain = ScriptedChain(4)
    monitor = monitor_on(chain)
    await monitor.catch_up(3)
    chain.blocks[3] = make_block(3, chain.blocks[2].head.hash, fork=2)
    chain.reads.clear()
    await monitor.catch_up(3, chain.blocks[3].head.hash)
    assert chain.reads == [3] and monitor.block_at(3) == chain.blocks[3]


async def test_a_failing_websocket_falls_back_to_polling_and_no_block_is_missed() -> None:
    chain = ScriptedChain(2)
    chain.ws_works = False
    monitor = monitor_on(chain, poll_interval_s=0.01, ws_retry_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop))
    await asyncio.wait_for(_until_block(monitor, 1), 10)
    for _ in range(4):
        chain.append()
    await asyncio.wait_for(_until_block(monitor, 5), 10)
    assert monitor.mode == "polling"
    stop.set()
    await asyncio.wait_for(task, 10)
    assert chain.reads == list(range(1, 6))  # each once, in order


async def test_over_the_websocket_every_block_up_to_an_announced_head_is_read() -> None:
    chain = ScriptedChain(2)
    monitor = monitor_on(chain, poll_interval_s=60, ws_retry_s=60)  # no polling meanwhile
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop))
    await asyncio.wait_for(_until_block(monitor, 1), 10)
    for _ in range(3):
        chain.append()
    chain.announce()  # only the last head is announced: blocks 2 and 3 are read as well
    await asyncio.wait_for(_until_block(monitor, 4), 10)
    assert monitor.mode == "websocket"
    chain.ws_works = False  # the socket breaks: polling takes over
    chain.append()
    chain.announce()
    await asyncio.wait_for(_until_mode(monitor, "polling"), 10)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert chain.reads[:4] == [1, 2, 3, 4]


async def test_a_quiet_websocket_is_checked_by_polling_and_stays_subscribed() -> None:
    chain = ScriptedChain(2)
    monitor = monitor_on(chain, poll_interval_s=60, ws_retry_s=60, ws_idle_s=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop))
    while chain.polls < 4:  # noqa: ASYNC110 (idle checks: a count on the scripted chain)
        await asyncio.sleep(0.01)
    chain.append()
    chain.append()
    chain.announce()
    await asyncio.wait_for(_until_block(monitor, 3), 10)
    # The announced head arrives: the subscription survived the idle checks.
    await asyncio.wait_for(_until_mode(monitor, "websocket"), 10)
    stop.set()
    await asyncio.wait_for(task, 10)


async def _until_block(monitor: ChainMonitor, number: int) -> None:
    await monitor.reached(number)


async def _until_mode(monitor: ChainMonitor, mode: str) -> None:
    while monitor.mode != mode:  # noqa: ASYNC110 (the mode is a plain attribute)
        await asyncio.sleep(0.01)


async def test_front_run_questions_wait_for_the_block_and_check_its_hash() -> None:
    raws = [signed(OTHER, 0), signed(OURS, 0)]
    txs = decode_block_txs([r for r, _ in raws], [h for _, h in raws])
    chain = ScriptedChain(2)
    monitor = monitor_on(chain)
    await monitor.catch_up(1)
    block = chain.append(txs=txs)
    chain.blocks[2] = Block(block.head, txs, (PoolSwap(POOL_A, 0), PoolSwap(POOL_A, 1)))
    asked = asyncio.create_task(monitor.front_run(txs[1].tx_hash, 2, block.head.hash, [POOL_A]))
    await asyncio.sleep(0)
    assert not asked.done()  # waits until the monitor has read block 2
    await monitor.catch_up(2)
    found = await asyncio.wait_for(asked, 5)
    assert found is not None and found.tx_hash == "0x" + txs[0].tx_hash.hex()
    wrong = await monitor.front_run(txs[1].tx_hash, 2, b"\x01" * 32, [POOL_A])
    assert wrong is None  # another block at that height: no answer
    unseen = await monitor.front_run(txs[1].tx_hash, 9, b"\x01" * 32, [POOL_A], wait_s=0.05)
    assert unseen is None


async def test_the_journal_book_reads_the_attempts_at_a_blocks_nonces(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    meta = {"execution_step": {"hops": [{"pool_id": POOL_A}]}, "kind": "swap"}
    journal.prepare("p:0:swap", chain_id=42161, sender=OURS.address, to=POOL_B, value=0,
                    data=b"", max_fee_ceiling=10**11, meta=meta)  # fmt: skip
    for kind, tip in ((AttemptKind.ORIGINAL, 1), (AttemptKind.SPEED_UP, 2)):
        raw, tx_hash = signed(OURS, 3, tip=tip)
        journal.record_signed("p:0:swap", Attempt(tx_hash, raw, kind, 3, 10, tip), 21_000)
    journal.close()
    book = JournalBook({OURS.address: path, OTHER.address: tmp_path / "absent.sqlite"})
    found = await book.attempts({OURS.address.lower(): {3, 4}, OTHER.address.lower(): {1}})
    (at_three,) = found.values()
    assert [(a.kind, a.nonce, a.pools) for a in at_three] == [
        (AttemptKind.ORIGINAL, 3, frozenset({POOL_A})),
        (AttemptKind.SPEED_UP, 3, frozenset({POOL_A})),
    ]
    db = sqlite3.connect(path)
    assert json.loads(db.execute("SELECT meta FROM steps").fetchone()[0]) == meta
    db.close()
