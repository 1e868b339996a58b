"""`collect` against real services under isolated names and an anvil of the test's own: the
event log (PostgreSQL), the read model (Redis), the journals (SQLite files beside the
journal path), the chain (transactions of our wallets with receipts, balances) and the API
calls (JSON lines) all come back as they were written."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from pydantic import SecretStr

from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import AnvilProcess, start_anvil, stop_anvil
from platform_core.chain.journal import (
    Attempt,
    AttemptKind,
    Journal,
    StepState,
    wallet_journal_path,
)
from platform_core.chain.signer import Signer
from platform_core.chaos.checker import ETH, check
from platform_core.chaos.collect import collect
from platform_core.chaos.history import ApiCall, write_jsonl
from platform_core.config import ChainSettings, Settings
from platform_core.state.event_store import EventStore
from platform_core.state.projection import fold
from platform_core.state.read_model import ReadModel
from tests.integration.conftest import drop_test_resources, free_port, isolated_names
from tests.integration.event_factory import USDC, WETH, lifecycle

CHAIN_ID = 42161
# anvil's account 1: a public devnet-only key
KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
WALLET = Account.from_key(KEY).address


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[AnvilProcess]:
    process = start_anvil(tmp_path / "anvil", port=free_port(), die_with_parent=True)
    try:
        yield process
    finally:
        stop_anvil(process.pid)


@pytest.fixture
def settings(tmp_path: Path, anvil: AnvilProcess) -> Iterator[Settings]:
    tag = uuid.uuid4().hex[:10]
    yield Settings(
        **isolated_names(tag),
        journal_path=tmp_path / "journal.sqlite",
        chains={CHAIN_ID: ChainSettings(name="arbitrum", rpc_url=anvil.rpc_url)},
    )
    drop_test_resources(tag)


async def send_self_transfer(settings: Settings, client: ChainClient) -> bytes:
    """One journalled transaction of WALLET, mined: a zero-value transfer to itself."""
    journal = Journal(wallet_journal_path(settings.journal_path, CHAIN_ID, WALLET))
    try:
        record = journal.prepare(
            "plan-x:0:swap", chain_id=CHAIN_ID, sender=WALLET, to=WALLET, value=0, data=b"",
            max_fee_ceiling=settings.fee_ceiling_wei, meta={"kind": "swap"},
        )  # fmt: skip
        nonce = await client.nonce(WALLET, "pending")
        fees = await client.fees(ceiling=settings.fee_ceiling_wei)
        signed = Signer(SecretStr(KEY)).sign(
            {"type": 2, "chainId": CHAIN_ID, "nonce": nonce, "to": WALLET, "value": 0,
             "data": b"", "gas": 21_000, "maxFeePerGas": fees.max_fee_per_gas,
             "maxPriorityFeePerGas": fees.max_priority_fee_per_gas}
        )  # fmt: skip
        attempt = Attempt(signed.hash, signed.raw, AttemptKind.ORIGINAL, nonce,
                          fees.max_fee_per_gas, fees.max_priority_fee_per_gas)  # fmt: skip
        journal.record_signed(record.step_key, attempt, 21_000)
        await client.send_raw(signed.raw)
        for _ in range(200):
            receipt = await client.receipt(signed.hash)
            if receipt is not None:
                break
            await asyncio.sleep(0.05)
        assert receipt is not None and receipt["status"] == 1
        journal.set_state(record.step_key, StepState.CONFIRMED, final_tx_hash=signed.hash,
                          block_number=int(receipt["blockNumber"]))  # fmt: skip
        return signed.hash
    finally:
        journal.close()


async def test_collect_gathers_the_whole_history(settings: Settings, tmp_path: Path) -> None:
    events = [*lifecycle(), *lifecycle()]
    store = await EventStore.connect(settings.postgres_dsn)
    read_model = ReadModel.from_url(settings.redis_url, prefix=settings.redis_key_prefix)
    try:
        await store.append(events)
        await read_model.apply(events[:5])  # the second intent's view is missing
    finally:
        await store.close()
        await read_model.close()
    calls_path = tmp_path / "calls.jsonl"
    intent = str(events[0].intent_id)
    call = ApiCall("c1", "submit", str(events[0].strategy_id), "k1", {"a": 1}, 202,
                   {"intent_id": intent}, intent, 1.0, 1.2)  # fmt: skip
    write_jsonl(calls_path, [call])

    client = ChainClient(settings.chains[CHAIN_ID].rpc_url)
    try:
        start_block = await client.block_number() + 1
        eth_before = await client.balance(WALLET)
        tx_hash = await send_self_transfer(settings, client)
    finally:
        await client.close()

    evidence = await collect(settings, api_calls_path=calls_path, start_block=start_block,
                             wallets=[WALLET])  # fmt: skip

    assert evidence.api_calls == [call]
    assert [e.event_id for e in evidence.events] == [e.event_id for e in events]
    first, second = str(events[0].intent_id), str(events[5].intent_id)
    assert evidence.views[first] == fold(events[:5])
    assert evidence.views[second] is None
    [journal] = evidence.journals
    assert journal.chain_id is None  # never bound: this test sent without a sender
    [step] = journal.steps
    assert step.step_key == "plan-x:0:swap" and step.state is StepState.CONFIRMED
    assert step.attempts[0].tx_hash == tx_hash and step.final_tx_hash == tx_hash
    [mined] = evidence.chain_txs
    assert mined.hash == "0x" + tx_hash.hex() and mined.sender == WALLET.lower()
    assert mined.status == 1 and mined.gas_used == 21_000 and mined.to == WALLET.lower()
    wallet = evidence.balances[WALLET.lower()]
    assert wallet[ETH].start == eth_before
    assert wallet[ETH].start - wallet[ETH].end == mined.gas_used * mined.effective_gas_price
    assert wallet[USDC.lower()].start == wallet[USDC.lower()].end  # the plan's tokens, read
    assert wallet[WETH.lower()].start == wallet[WETH.lower()].end

    found = check(evidence)
    # The second intent's view is missing; our transaction is journalled but in no event;
    # the factory's confirmed steps name transactions this chain never saw, and its wallet's
    # balance does not show them; the factory gives both intents' steps one (wallet, nonce).
    assert {v.rule for v in found} == {
        "read_model", "chain_accounted", "balance", "nonce_payload"
    }  # fmt: skip
    assert check(evidence, ["final_status", "idempotency", "denied_sent_nothing"]) == []
    assert [v.subject for v in found if v.rule == "read_model"] == [second]
    assert any(v.detail == "in no event (journal step plan-x:0:swap, kind swap)"
               for v in found if v.rule == "chain_accounted")  # fmt: skip
    assert not any(v.subject.startswith(WALLET.lower()) for v in found if v.rule == "balance")


@pytest.fixture
def isolated() -> Iterator[Settings]:
    tag = uuid.uuid4().hex[:10]
    yield Settings(**isolated_names(tag))
    drop_test_resources(tag)


async def test_canaries_search_redis_and_postgres(isolated: Settings) -> None:
    import asyncpg
    import redis.asyncio as aioredis

    from platform_core.chaos.canaries import (
        find_secrets,
        postgres_places,
        redis_places,
        signing_key_secrets,
    )

    events = lifecycle()
    store = await EventStore.connect(isolated.postgres_dsn)
    try:
        await store.append(events)
    finally:
        await store.close()
    conn = await asyncpg.connect(isolated.postgres_dsn)
    try:
        await conn.execute("CREATE TABLE leaky (note text)")
        await conn.execute("INSERT INTO leaky VALUES ($1)", f"key={KEY.removeprefix('0x')}")
    finally:
        await conn.close()
    prefix = isolated.redis_key_prefix
    redis = aioredis.from_url(isolated.redis_url)
    try:
        await redis.hset(f"{prefix}intent:x", mapping={"status": "pending", "dbg": KEY})
        await redis.set(f"{prefix}clean", "nothing")
        places = [p async for p in redis_places(redis, prefix)]
    finally:
        await redis.aclose()
    places += [p async for p in postgres_places(isolated.postgres_dsn)]
    assert any(p.name.endswith(".events") and len(p.data) > 0 for p in places)
    leaks = find_secrets(signing_key_secrets({WALLET: KEY}), places)
    assert sorted(leak.place for leak in leaks) == [
        "postgres:public.leaky",
        f"redis:{prefix}intent:x",
    ]
