"""The chain monitor: follows a chain's new blocks, decodes each block's transactions in one
batch (`platform_rust.decode_transactions`, senders recovered) and says what each block
did to our wallets' transactions.

Per block, `assess_block` (pure) decides:
- **inclusion**: a transaction of ours is in the block (wallet, nonce, hash, block, index);
- **replacement**: the block holds one of our wallets' nonces under a hash the journal
  does not hold for it (foreign: something else signed for the wallet), or under another
  attempt of ours (our own speed-up or cancel took the nonce, and the attempts it replaced
  are named);
- **front-running**: for each of our included swaps, a swap by someone else (no wallet of
  ours) on one of the same pools, earlier in the same block (`front_run_of`: the block's
  Uniswap V3 and V2 `Swap` logs by pool and transaction index; our pools are the step's
  hops, from the journal's `meta["execution_step"]`, and those our own transaction's logs
  show).

Fetching (`RpcChainSource`): the header (`eth_getBlockByNumber(n, false)`), then in one
JSON-RPC batch every raw transaction (`eth_getRawTransactionByBlockHashAndIndex`, which anvil,
geth, reth and erigon all serve, by hash so a reorg between calls cannot mix blocks) and the
block's `Swap` logs (`eth_getLogs` by `blockHash`). A node without the raw method gets the
block's transactions as JSON instead (`eth_getBlockByHash(h, true)`: sender and nonce as the
node decoded them). A transaction the decoder does not know (a chain's own system types) is
kept with no sender: it is never ours.

Following (`ChainMonitor.run`): `eth_subscribe("newHeads")` over a WebSocket where the node
has one (anvil serves it on its HTTP port), polling `eth_blockNumber` otherwise and
whenever the WebSocket fails (then the WebSocket is tried again every `ws_retry_s`). No
block is skipped: every block from the last one seen to the head is read in order. A block
whose parent hash is not the hash seen at the height below is a reorg: the monitor steps
back, re-reading each block until the parents agree again (the fork point), and reports the
new blocks from there; our inclusions in the blocks that left the chain are logged and
kept in `orphaned`.

Who holds the front-run fact: the monitor alone computes it, from the blocks it has
read. The orchestrator asks it (`FrontRunSource.front_run`, through `ask_front_run`) when it
records a swap's `ExecutionStepConfirmed`, with the receipt's block number and hash and the
step's pools; the monitor waits (bounded) until it has read that block, and answers None
when it has not seen the block in time, or the block it saw at that height has another hash.
The answer is written into the event (`front_run`), so the event log keeps it, and a re-run
of the step publishes the same event id: the first answer stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from eth_utils import keccak, to_checksum_address

import platform_rust
from platform_core.chain.errors import TransportError
from platform_core.chain.journal import AttemptKind
from platform_core.market.contracts import SWAP
from platform_core.types.events import FrontRun

log = logging.getLogger(__name__)

V3_SWAP_TOPIC = SWAP.topic
V2_SWAP_TOPIC = keccak(text="Swap(address,uint256,uint256,uint256,uint256,address)")
SWAP_TOPICS = (V3_SWAP_TOPIC, V2_SWAP_TOPIC)


# -- what a block holds ---------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    number: int
    hash: bytes
    parent_hash: bytes


@dataclass(frozen=True)
class BlockTx:
    index: int
    tx_hash: bytes
    sender: str | None  # None: a transaction type the decoder does not know
    nonce: int | None


@dataclass(frozen=True)
class PoolSwap:
    """A `Swap` log: the pool (lower-case address) and the transaction that emitted it."""

    pool: str
    tx_index: int


@dataclass(frozen=True)
class Block:
    head: Head
    txs: tuple[BlockTx, ...]
    swaps: tuple[PoolSwap, ...]


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def head_from_json(header: Mapping[str, Any]) -> Head:
    return Head(int(header["number"], 16), _bytes(header["hash"]), _bytes(header["parentHash"]))


def decode_block_txs(raws: Sequence[bytes], hashes: Sequence[bytes]) -> tuple[BlockTx, ...]:
    """The block's transactions from their raw bytes, in one `decode_transactions` call. A
    transaction that does not decode keeps its hash (from the header) and no sender. Raises
    ValueError when a decoded hash differs from the header's (the node served two blocks)."""
    decoded = platform_rust.decode_transactions(raws, recover_sender=True, errors="return")
    txs = []
    for index, (tx, tx_hash) in enumerate(zip(decoded, hashes, strict=True)):
        if isinstance(tx, ValueError):
            txs.append(BlockTx(index, tx_hash, None, None))
            continue
        if _bytes(tx.hash) != tx_hash:
            raise ValueError(
                f"transaction {index}: raw bytes hash to {tx.hash}, not {_hex(tx_hash)}"
            )
        txs.append(BlockTx(index, tx_hash, tx.sender, tx.nonce))
    return tuple(txs)


def txs_from_json(transactions: Iterable[Mapping[str, Any]]) -> tuple[BlockTx, ...]:
    """The block's transactions as the node decoded them (`eth_getBlockByHash(h, true)`)."""
    return tuple(
        BlockTx(
            int(tx["transactionIndex"], 16),
            _bytes(tx["hash"]),
            to_checksum_address(tx["from"]) if tx.get("from") else None,
            int(tx["nonce"], 16) if tx.get("nonce") is not None else None,
        )
        for tx in transactions
    )


def pool_swaps(logs: Iterable[Mapping[str, Any]]) -> tuple[PoolSwap, ...]:
    """The V3 and V2 `Swap` logs among `logs`, by pool and transaction index."""
    found = []
    for entry in logs:
        topics = entry.get("topics") or []
        if topics and _bytes(topics[0]) in SWAP_TOPICS and not entry.get("removed"):
            index = entry["transactionIndex"]
            index = int(index, 16) if isinstance(index, str) else int(index)
            found.append(PoolSwap(str(entry["address"]).lower(), index))
    return tuple(found)


# -- our transactions and what a block did to them ------------------------------------------


@dataclass(frozen=True)
class OurAttempt:
    """One journalled attempt: its step, wallet, nonce, hash and kind, and the pools of the
    step's hops (lower-case; empty for an approval)."""

    step_key: str
    wallet: str
    nonce: int
    tx_hash: bytes
    kind: AttemptKind
    pools: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Inclusion:
    wallet: str
    nonce: int
    tx_hash: bytes
    step_key: str
    kind: AttemptKind
    block_number: int
    block_hash: bytes
    index: int


@dataclass(frozen=True)
class Replacement:
    """A nonce of ours taken by `by`: `by_kind` None when the journal does not hold it
    (foreign), else the kind of our own attempt that took it. `replaced`: the step's other
    attempts (every one when foreign). `step_key` None: the journal holds nothing at that
    nonce (a transaction sent for the wallet outside the platform)."""

    wallet: str
    nonce: int
    step_key: str | None
    replaced: tuple[bytes, ...]
    by: bytes
    by_kind: AttemptKind | None
    block_number: int
    index: int

    @property
    def foreign(self) -> bool:
        return self.by_kind is None

    def describe(self) -> str:
        who = "a transaction the journal does not hold" if self.foreign else f"our {self.by_kind}"
        lost = ", ".join(_hex(h) for h in self.replaced) or "nothing journalled"
        return (f"{self.wallet} nonce {self.nonce} ({self.step_key}): {lost} replaced by {who}"
                f" {_hex(self.by)} in block {self.block_number} at index {self.index}")  # fmt: skip


@dataclass(frozen=True)
class BlockReport:
    head: Head
    inclusions: tuple[Inclusion, ...] = ()
    replacements: tuple[Replacement, ...] = ()
    front_runs: tuple[tuple[bytes, FrontRun], ...] = ()  # (our tx hash, the one before it)


AttemptIndex = Mapping[tuple[str, int], Sequence[OurAttempt]]  # (lower wallet, nonce)


def our_nonces(block: Block, wallets: Collection[str]) -> dict[str, set[int]]:
    """Per wallet of ours (lower-case), the nonces the block holds."""
    mine = {w.lower() for w in wallets}
    found: dict[str, set[int]] = {}
    for tx in block.txs:
        if tx.sender is not None and tx.nonce is not None and tx.sender.lower() in mine:
            found.setdefault(tx.sender.lower(), set()).add(tx.nonce)
    return found


def assess_block(block: Block, attempts: AttemptIndex, wallets: Collection[str]) -> BlockReport:
    """What `block` did to our transactions (`attempts`: the journal's at the block's nonces)."""
    mine = {w.lower() for w in wallets}
    inclusions: list[Inclusion] = []
    replacements: list[Replacement] = []
    front_runs: list[tuple[bytes, FrontRun]] = []
    for tx in block.txs:
        if tx.sender is None or tx.nonce is None or tx.sender.lower() not in mine:
            continue
        at_nonce = attempts.get((tx.sender.lower(), tx.nonce), ())
        ours = next((a for a in at_nonce if a.tx_hash == tx.tx_hash), None)
        if ours is None:
            step = at_nonce[0].step_key if at_nonce else None
            replaced = tuple(a.tx_hash for a in at_nonce)
            replacements.append(Replacement(tx.sender, tx.nonce, step, replaced, tx.tx_hash,
                                            None, block.head.number, tx.index))  # fmt: skip
            continue
        inclusions.append(Inclusion(tx.sender, tx.nonce, tx.tx_hash, ours.step_key, ours.kind,
                                    block.head.number, block.head.hash, tx.index))  # fmt: skip
        others = tuple(a.tx_hash for a in at_nonce if a.tx_hash != tx.tx_hash)
        if others:
            replacements.append(Replacement(tx.sender, tx.nonce, ours.step_key, others,
                                            tx.tx_hash, ours.kind, block.head.number,
                                            tx.index))  # fmt: skip
        if ours.kind is not AttemptKind.CANCEL:
            found = front_run_of(block, tx.tx_hash, ours.pools, mine)
            if found is not None:
                front_runs.append((tx.tx_hash, found))
    return BlockReport(block.head, tuple(inclusions), tuple(replacements), tuple(front_runs))


def front_run_of(
    block: Block, tx_hash: bytes, pools: Collection[str], wallets: Collection[str]
) -> FrontRun | None:
    """The swap nearest before `tx_hash` in `block`, by a sender that is none of `wallets`,
    on one of `pools` or of the pools `tx_hash`'s own `Swap` logs name; None when there is
    none (or `tx_hash` is not in the block)."""
    ours = next((tx for tx in block.txs if tx.tx_hash == tx_hash), None)
    if ours is None:
        return None
    mine = {w.lower() for w in wallets}
    targets = {p.lower() for p in pools}
    targets |= {s.pool for s in block.swaps if s.tx_index == ours.index}
    by_index = {tx.index: tx for tx in block.txs}
    before = [s for s in block.swaps if s.tx_index < ours.index and s.pool in targets]
    for swap in sorted(before, key=lambda s: s.tx_index, reverse=True):
        other = by_index.get(swap.tx_index)
        if other is None or other.sender is None or other.sender.lower() in mine:
            continue
        return FrontRun(tx_hash=_hex(other.tx_hash), index=other.index, sender=other.sender,
                        pool=swap.pool, swaps_before=len({s.tx_index for s in before}))  # fmt: skip
    return None


def step_pools(meta: Mapping[str, Any]) -> frozenset[str]:
    """The pools (lower-case addresses) of a journalled step's hops (`meta["execution_step"]`)."""
    step = meta.get("execution_step") or {}
    pools = (str(hop.get("pool_id", "")).lower() for hop in step.get("hops") or ())
    return frozenset(p for p in pools if p.startswith("0x") and len(p) == 42)


# -- where blocks and attempts come from, where reports go ----------------------------------


class ChainSource(Protocol):
    async def head_number(self) -> int: ...

    async def block(self, number: int) -> Block: ...

    def new_heads(self) -> AsyncIterator[Head]:
        """Each new head as the node announces it; raises when it cannot (no WebSocket)."""
        ...


class AttemptBook(Protocol):
    async def attempts(
        self, nonces: Mapping[str, Collection[int]]
    ) -> dict[tuple[str, int], list[OurAttempt]]:
        """The journalled attempts at these (lower-case wallet -> nonces)."""
        ...


class MonitorSink(Protocol):
    async def included(self, inclusion: Inclusion) -> None: ...

    async def replaced(self, replacement: Replacement) -> None: ...


class FrontRunSource(Protocol):
    async def front_run(
        self, tx_hash: bytes, block_number: int, block_hash: bytes, pools: Sequence[str]
    ) -> FrontRun | None: ...


async def ask_front_run(
    source: FrontRunSource | None,
    receipt: Mapping[str, Any],
    pools: Sequence[str],
    timeout_s: float = 2.0,
) -> FrontRun | None:
    """The monitor's front-run indicator for a mined swap (its receipt), or None when there
    is no monitor, it has not seen the block within `timeout_s`, or it cannot answer."""
    if source is None:
        return None
    try:
        return await asyncio.wait_for(
            source.front_run(_bytes(receipt["transactionHash"]), int(receipt["blockNumber"]),
                             _bytes(receipt["blockHash"]), list(pools)),
            timeout_s,
        )  # fmt: skip
    except Exception as exc:  # an indicator, never a reason to fail a confirmation
        log.info("front-run indicator unavailable: %s: %s", type(exc).__name__, exc)
        return None


class JournalBook:
    """The attempts of our wallets' journals (one SQLite file per wallet), read-only: the
    execution actors write them, the monitor only reads the nonces a block holds."""

    def __init__(self, journals: Mapping[str, Path]) -> None:
        self.journals = {wallet.lower(): path for wallet, path in journals.items()}

    async def attempts(
        self, nonces: Mapping[str, Collection[int]]
    ) -> dict[tuple[str, int], list[OurAttempt]]:
        return await asyncio.to_thread(self._read, nonces)

    def _read(
        self, nonces: Mapping[str, Collection[int]]
    ) -> dict[tuple[str, int], list[OurAttempt]]:
        found: dict[tuple[str, int], list[OurAttempt]] = {}
        for wallet, wanted in nonces.items():
            path = self.journals.get(wallet.lower())
            if path is None or not path.exists() or not wanted:
                continue
            for attempt in read_attempts(path, wanted):
                found.setdefault((attempt.wallet.lower(), attempt.nonce), []).append(attempt)
        return found


def read_attempts(path: Path, nonces: Collection[int]) -> list[OurAttempt]:
    """The attempts journalled at `nonces` in the journal at `path`, in the order written."""
    marks = ",".join("?" * len(nonces))
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT a.tx_hash, a.kind, a.nonce, s.step_key, s.sender, s.meta FROM attempts a"
            f" JOIN steps s ON s.step_key = a.step_key WHERE a.nonce IN ({marks})"
            " ORDER BY a.created_at, a.rowid",
            tuple(nonces),
        ).fetchall()
    finally:
        db.close()
    return [
        OurAttempt(
            key, sender, nonce, bytes(tx_hash), AttemptKind(kind), step_pools(json.loads(meta))
        )
        for tx_hash, kind, nonce, key, sender, meta in rows
    ]


class RpcError(TransportError):
    """A JSON-RPC error answer where a result was needed."""


class RpcChainSource:
    """Blocks from a node over JSON-RPC (HTTP, batched) and heads over its WebSocket."""

    def __init__(self, rpc_url: str, *, ws_url: str | None = None, timeout_s: float = 10.0) -> None:
        self.rpc_url = rpc_url
        self.ws_url = ws_url or rpc_url.replace("https://", "wss://").replace("http://", "ws://")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.raw_method = True  # False once the node refused the raw-transaction method

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def _post(self, body: Any) -> Any:
        try:
            async with self._http().post(self.rpc_url, json=body) as response:
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TransportError(f"{self.rpc_url}: {type(exc).__name__}: {exc}") from exc

    async def call(self, method: str, params: list[Any]) -> Any:
        answer = await self._post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        if "error" in answer:
            raise RpcError(f"{method}: {answer['error']}")
        return answer.get("result")

    async def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """Many calls in one request; each answer (`result` or `error`) in call order."""
        if not calls:
            return []
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
        ]
        answers = await self._post(body)
        if not isinstance(answers, list):
            raise RpcError(f"batch answered {str(answers)[:200]}")
        by_id = {a.get("id"): a for a in answers}
        return [by_id.get(i, {"error": "no answer"}) for i in range(len(calls))]

    async def head_number(self) -> int:
        return int(await self.call("eth_blockNumber", []), 16)

    async def block(self, number: int) -> Block:
        header = await self.call("eth_getBlockByNumber", [hex(number), False])
        if header is None:
            raise RpcError(f"no block {number} yet")
        head = head_from_json(header)
        hashes = [_bytes(h) for h in header.get("transactions") or ()]
        logs_call = (
            "eth_getLogs",
            [{"blockHash": _hex(head.hash), "topics": [[_hex(t) for t in SWAP_TOPICS]]}],
        )
        raw_calls = [("eth_getRawTransactionByBlockHashAndIndex", [_hex(head.hash), hex(i)])
                     for i in range(len(hashes))] if self.raw_method else []  # fmt: skip
        *raw_answers, logs = await self.batch([*raw_calls, logs_call])
        if "error" in logs:
            raise RpcError(f"eth_getLogs: {logs['error']}")
        failed = [a for a in raw_answers if "error" in a or a.get("result") is None]
        if self.raw_method and not failed:
            txs = decode_block_txs([_bytes(a["result"]) for a in raw_answers], hashes)
        else:
            if failed:
                log.warning(
                    "raw transactions unavailable (%s): reading JSON", failed[0].get("error")
                )
                self.raw_method = not any(_missing_method(a) for a in failed)
            full = await self.call("eth_getBlockByHash", [_hex(head.hash), True])
            if full is None:
                raise RpcError(f"block {_hex(head.hash)} left the chain while read")
            txs = txs_from_json(full.get("transactions") or ())
        return Block(head, txs, pool_swaps(logs.get("result") or ()))

    async def new_heads(self) -> AsyncIterator[Head]:
        async with self._http().ws_connect(
            self.ws_url,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=self.timeout.total or 10.0),
            heartbeat=30,
        ) as ws:
            await ws.send_json(
                {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
            )
            first = await ws.receive_json(timeout=self.timeout.total)
            if "error" in first:
                raise RpcError(f"eth_subscribe: {first['error']}")
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise TransportError(f"websocket: {message.type.name}")
                data = json.loads(message.data)
                result = (data.get("params") or {}).get("result")
                if isinstance(result, dict) and "hash" in result:
                    yield head_from_json(result)
            raise TransportError("websocket closed")


def _missing_method(answer: Mapping[str, Any]) -> bool:
    error = answer.get("error")
    return isinstance(error, dict) and error.get("code") == -32601


# -- following the chain --------------------------------------------------------------------


@dataclass
class MonitorPolicy:
    poll_interval_s: float = 0.25
    ws_retry_s: float = 5.0  # after a WebSocket failure: poll this long, then try again
    ws_idle_s: float = 30.0  # no head over the WebSocket this long: check by polling
    keep_blocks: int = 256  # blocks kept for front-run questions and reorg checks
    use_websocket: bool = True


@dataclass
class _Seen:
    block: Block
    report: BlockReport


@dataclass
class ChainMonitor:
    source: ChainSource
    book: AttemptBook
    sink: MonitorSink
    wallets: Collection[str]
    policy: MonitorPolicy = field(default_factory=MonitorPolicy)
    start_block: int | None = None  # the first block to read (None: the head at start)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.wallets = frozenset(w.lower() for w in self.wallets)
        self._seen: dict[int, _Seen] = {}
        self._next: int | None = self.start_block
        self._progress = asyncio.Condition()
        self.orphaned: list[Inclusion] = []  # our inclusions in blocks that left the chain
        self.mode = "starting"  # "websocket" or "polling": how heads are followed now

    @property
    def last_block(self) -> int | None:
        """The highest block read and reported."""
        return None if self._next is None or self._next - 1 not in self._seen else self._next - 1

    async def reached(self, number: int) -> None:
        """Until the monitor has read block `number` (the caller bounds the wait)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self._next is not None and self._next > number)

    def block_at(self, number: int) -> Block | None:
        seen = self._seen.get(number)
        return None if seen is None else seen.block

    async def catch_up(self, target: int, target_hash: bytes | None = None) -> None:
        """Read and report every block up to `target`, stepping back over a reorg."""
        if self._next is None:
            self._next = target
        seen = self._seen.get(target)
        if target_hash is not None and seen is not None and seen.block.head.hash != target_hash:
            self._next = min(self._next, target)  # the block at that height changed
        while self._next <= target:
            await self._read(self._next)

    async def _read(self, number: int) -> None:
        block = await self.source.block(number)
        parent = self._seen.get(number - 1)
        if parent is not None and block.head.parent_hash != parent.block.head.hash:
            log.warning("reorg: block %d's parent is not the block %d we saw; stepping back",
                        number, number - 1)  # fmt: skip
            self._orphan(number - 1)
            self._next = number - 1
            return
        self._orphan(number)  # what we saw at this height and above is gone, when it differs
        nonces = our_nonces(block, self.wallets)
        attempts = await self.book.attempts(nonces) if nonces else {}
        report = assess_block(block, attempts, self.wallets)
        self._seen[number] = _Seen(block, report)
        for old in [n for n in self._seen if n <= number - self.policy.keep_blocks]:
            del self._seen[old]
        await self._dispatch(report)
        async with self._progress:
            self._next = number + 1
            self._progress.notify_all()

    def _orphan(self, number: int) -> None:
        for height in sorted(n for n in self._seen if n >= number):
            gone = self._seen.pop(height)
            if gone.report.inclusions:
                log.warning("reorg: block %d (%s) left the chain with our %s", height,
                            _hex(gone.block.head.hash),
                            [_hex(i.tx_hash) for i in gone.report.inclusions])  # fmt: skip
            self.orphaned.extend(gone.report.inclusions)

    async def _dispatch(self, report: BlockReport) -> None:
        for inclusion in report.inclusions:
            await self.sink.included(inclusion)
        for replacement in report.replacements:
            log.warning("replaced: %s", replacement.describe())
            await self.sink.replaced(replacement)
        for tx_hash, front in report.front_runs:
            log.info("front-run: our %s in block %d after %s's %s on %s", _hex(tx_hash),
                     report.head.number, front.sender, front.tx_hash, front.pool)  # fmt: skip

    async def front_run(
        self, tx_hash: bytes, block_number: int, block_hash: bytes, pools: Sequence[str],
        wait_s: float = 5.0,
    ) -> FrontRun | None:  # fmt: skip
        """The front-run indicator of our `tx_hash` mined in (`block_number`, `block_hash`),
        once the monitor has read that block (waiting at most `wait_s`); None when it has
        not, or the block it read at that height is another."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.reached(block_number), wait_s)
        seen = self._seen.get(block_number)
        if seen is None or seen.block.head.hash != block_hash:
            return None
        return front_run_of(seen.block, tx_hash, pools, self.wallets)

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the chain until `stop`: the WebSocket where it works, polling otherwise."""
        await self._poll_once()
        while not stop.is_set():
            if self.policy.use_websocket:
                try:
                    await _until(stop, self._follow_websocket())
                except Exception as exc:
                    log.warning(
                        "monitor: websocket failed (%s: %s); polling", type(exc).__name__, exc
                    )
            if stop.is_set():
                return
            await self._poll(
                stop, None if not self.policy.use_websocket else self.policy.ws_retry_s
            )

    async def _follow_websocket(self) -> None:
        heads = self.source.new_heads()
        pending: asyncio.Future[Head] | None = None
        try:
            while True:
                # The pending read is never cancelled by the idle check: that would close
                # the subscription (a cancelled async generator is finished).
                pending = pending or asyncio.ensure_future(anext(heads))
                done, _ = await asyncio.wait({pending}, timeout=self.policy.ws_idle_s)
                if not done:
                    await self._poll_once()  # quiet chain, or a silent socket: look anyway
                    continue
                head, pending = pending.result(), None
                self.mode = "websocket"  # a head came over it
                try:
                    await self.catch_up(head.number, head.hash)
                except (TransportError, ValueError) as exc:  # the next head retries from here
                    log.warning("monitor: reading blocks failed: %s", exc)
        finally:
            if pending is not None:
                pending.cancel()

    async def _poll(self, stop: asyncio.Event, for_s: float | None) -> None:
        self.mode = "polling"
        until = None if for_s is None else self.clock() + for_s
        while not stop.is_set() and (until is None or self.clock() < until):
            await self._poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.policy.poll_interval_s)

    async def _poll_once(self) -> None:
        try:
            await self.catch_up(await self.source.head_number())
        except (TransportError, ValueError) as exc:
            log.warning("monitor: reading blocks failed: %s", exc)


async def _until(stop: asyncio.Event, work: Any) -> None:
    """Run `work` until it ends (its error raised) or `stop` is set (then it is cancelled)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.done() and not task.cancelled():
        task.result()
