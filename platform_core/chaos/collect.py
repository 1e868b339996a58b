"""Gather the `Evidence` of a chaos run from a platform, running or stopped.

- the event log: PostgreSQL, in store order (`EventStore.replay`);
- the read model: every view in Redis under the platform's prefix, and one per intent of
  the log (None where Redis has none);
- the journals: every per-(chain, wallet) journal beside `SEP_JOURNAL_PATH`, read through a
  read-only SQLite connection (a running executor keeps writing; nothing is changed);
- the chain over JSON-RPC: every transaction sent by one of our wallets in blocks
  `start_block`..head, with its receipt, and each wallet's ETH and token balances before
  `start_block` and at the head;
- the API calls: the workload's JSON lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from platform_core.chain.client import ChainClient
from platform_core.chain.journal import read_steps, wallet_journals
from platform_core.chaos.checker import ETH, Balance, ChainTx, Evidence, WalletJournal
from platform_core.chaos.history import ApiCall, read_jsonl
from platform_core.config import Settings
from platform_core.market.contracts import BALANCE_OF
from platform_core.state.event_store import EventStore
from platform_core.state.projection import IntentView
from platform_core.state.read_model import ReadModel
from platform_core.types.events import (
    EventEnvelope,
    ExecutionStepSubmitted,
    IntentSubmitted,
    PlanCreated,
)

# -- the event log and the read model -------------------------------------------------------


async def collect_events(store: EventStore) -> list[EventEnvelope]:
    """The whole log, in the order it was stored."""
    return [stored.envelope async for stored in store.replay()]


async def collect_views(
    read_model: ReadModel, client: aioredis.Redis, intent_ids: Iterable[str], *, prefix: str = ""
) -> dict[str, IntentView | None]:
    """The view of every intent named, and of every intent Redis holds under `prefix`."""
    ids = set(intent_ids)
    marker = f"{prefix}intent:"
    async for key in client.scan_iter(match=f"{marker}*", count=500):
        name = key.decode() if isinstance(key, bytes) else str(key)
        ids.add(name[len(marker) :])
    ordered = sorted(ids)
    views: dict[str, IntentView | None] = {}
    for start in range(0, len(ordered), 500):
        page = ordered[start : start + 500]
        views.update(zip(page, await read_model.get_many(page), strict=True))
    return views


# -- the journals ---------------------------------------------------------------------------


def read_journal(path: Path) -> WalletJournal:
    """Every step of one journal file with its attempts, read-only."""
    chain_id, steps = read_steps(path)
    return WalletJournal(str(path), chain_id, steps)


def collect_journals(journal_path: Path) -> list[WalletJournal]:
    """Every per-(chain, wallet) journal beside `journal_path` (`SEP_JOURNAL_PATH`)."""
    return [read_journal(path) for path in wallet_journals(journal_path)]


# -- the chain ------------------------------------------------------------------------------


def _int(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return int(value, 16) if value.startswith("0x") else int(value)
    return int(value)


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value or b"")


async def collect_chain_txs(
    client: ChainClient, wallets: Iterable[str], start_block: int, end_block: int | None = None
) -> list[ChainTx]:
    """Every mined transaction sent by one of `wallets` in `start_block`..`end_block` (the
    head by default), with its receipt's status, gas and effective gas price."""
    ours = {w.lower() for w in wallets}
    end = await client.block_number() if end_block is None else end_block
    found: list[ChainTx] = []
    for number in range(start_block, end + 1):
        block = await client.rpc("eth_getBlockByNumber", [hex(number), True])
        if not block:
            continue
        for tx in block.get("transactions") or []:
            if not isinstance(tx, dict) or str(tx.get("from", "")).lower() not in ours:
                continue
            receipt = await client.rpc("eth_getTransactionReceipt", [tx["hash"]])
            if receipt is None:
                continue
            found.append(
                ChainTx(
                    hash=str(tx["hash"]).lower(),
                    sender=str(tx["from"]).lower(),
                    nonce=_int(tx["nonce"]),
                    block_number=_int(receipt["blockNumber"]),
                    status=_int(receipt.get("status")),
                    gas_used=_int(receipt["gasUsed"]),
                    effective_gas_price=_int(
                        receipt.get("effectiveGasPrice") or tx.get("gasPrice")
                    ),
                    to=None if tx.get("to") is None else str(tx["to"]).lower(),
                    value=_int(tx.get("value")),
                    input=_bytes(tx.get("input")),
                )
            )
    return found


async def read_balances(
    client: ChainClient, wallets: Iterable[str], tokens: Iterable[str], block: int
) -> dict[str, dict[str, int]]:
    """wallet -> token (and `ETH`) -> balance at the end of `block`."""
    token_list = sorted({t.lower() for t in tokens})
    result: dict[str, dict[str, int]] = {}
    for wallet in sorted({w.lower() for w in wallets}):
        row = {ETH: await client.balance(wallet, block)}
        calls = [(token, BALANCE_OF.encode(_checksum(wallet))) for token in token_list]
        outputs = await client.batch_call([(_checksum(t), d) for t, d in calls], block)
        for token, raw in zip(token_list, outputs, strict=True):
            row[token] = int(BALANCE_OF.decode_output(raw)[0])
        result[wallet] = row
    return result


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address(address))


def balances_between(
    start: dict[str, dict[str, int]], end: dict[str, dict[str, int]]
) -> dict[str, dict[str, Balance]]:
    return {
        wallet: {
            token: Balance(start[wallet].get(token, 0), amount) for token, amount in row.items()
        }
        for wallet, row in end.items()
        if wallet in start
    }


# -- everything -----------------------------------------------------------------------------


def wallets_and_tokens(
    events: Sequence[EventEnvelope], journals: Sequence[WalletJournal]
) -> tuple[set[str], set[str]]:
    """Our wallets (the journals' senders, the log's wallets) and the tokens the plans move."""
    wallets = {step.sender.lower() for j in journals for step in j.steps}
    tokens: set[str] = set()
    for env in events:
        try:
            event = env.event()
        except ValueError:
            continue
        if isinstance(event, IntentSubmitted) and event.wallet:
            wallets.add(event.wallet.lower())
        elif isinstance(event, ExecutionStepSubmitted):
            wallets.add(event.wallet.lower())
        elif isinstance(event, PlanCreated):
            for step in event.plan.steps:
                tokens.update((step.token_in.lower(), step.token_out.lower()))
    return wallets, tokens


async def collect(
    settings: Settings,
    *,
    api_calls_path: Path | None = None,
    chain_id: int | None = None,
    start_block: int | None = None,
    start_balances: dict[str, dict[str, int]] | None = None,
    wallets: Iterable[str] = (),
    tokens: Iterable[str] = (),
) -> Evidence:
    """The evidence of a run against the platform `settings` describes. The chain part
    (transactions, balances) needs `start_block`, the run's first block; the starting
    balances are read at `start_block - 1` unless given (taken before the run: a node that
    keeps no history cannot answer for old blocks)."""
    calls = list(read_jsonl(api_calls_path, ApiCall)) if api_calls_path is not None else []
    store = await EventStore.connect(settings.postgres_dsn)
    try:
        events = await collect_events(store)
    finally:
        await store.close()
    redis = aioredis.from_url(settings.redis_url, decode_responses=True)
    read_model = ReadModel(redis, prefix=settings.redis_key_prefix)
    try:
        views = await collect_views(
            read_model,
            redis,
            {str(e.intent_id) for e in events},
            prefix=settings.redis_key_prefix,
        )
    finally:
        await read_model.close()
    journals = await asyncio.to_thread(collect_journals, settings.journal_path)
    ours, moved = wallets_and_tokens(events, journals)
    ours |= {w.lower() for w in wallets}
    moved |= {t.lower() for t in tokens}
    evidence = Evidence(
        api_calls=calls,
        events=events,
        journals=journals,
        views=views,
        wallets=sorted(ours),
        start_block=start_block,
    )
    if start_block is None:
        return evidence
    chain = settings.chains[chain_id if chain_id is not None else next(iter(settings.chains))]
    client = ChainClient(chain.rpc_url, timeout_s=settings.rpc_timeout_s)
    try:
        end_block = await client.block_number()
        evidence.end_block = end_block
        evidence.chain_txs = await collect_chain_txs(client, ours, start_block, end_block)
        if start_balances is None:
            start_balances = await read_balances(client, ours, moved, max(start_block - 1, 0))
        end_balances = await read_balances(client, ours, moved, end_block)
    finally:
        await client.close()
    evidence.balances = balances_between(start_balances, end_balances)
    return evidence
