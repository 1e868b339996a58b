"""The chain monitor actor on a local Ray cluster and a private devnet: named per chain and
listed for `sep up`/teardown, it follows the devnet over its WebSocket, reports our mined
swap to the wallet's execution actor (here one that records what it is told) and answers
the orchestrators' front-run question through `ChainMonitorRef`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from actors.chain_monitor import ChainMonitorActor, ChainMonitorRef
from actors.launch import actor_names
from actors.wiring import chain_monitor_name, executor_name
from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import AnvilProcess
from platform_core.chain.journal import Journal, wallet_journal_path
from platform_core.chain.sender import StepOutcome
from platform_core.chain.signer import Signer
from platform_core.config import Settings
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from tests.integration.chain.conftest import CHAIN_ID, dev_key, make_sender
from tests.integration.chain.test_chain_sender import swap_request

WALLET_INDEX = 8


@pytest.fixture(scope="module")
def keyed_cluster() -> Iterator[None]:
    """The wallet's key in the environment before the module's Ray cluster starts (a public
    devnet key): the monitor reads its wallets from the keys, never from an argument."""
    key = dev_key(WALLET_INDEX)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SEP_SIGNING_KEYS", json.dumps({Signer(key).address: key.get_secret_value()}))
        env.delenv("SEP_SIGNING_KEY", raising=False)
        yield


@ray.remote(num_cpus=0)
class RecordingExecutor:
    """Stands in for the wallet's execution actor: records the monitor's wake-ups."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[bytes], str | None]] = []

    async def included(self, tx_hashes: list[bytes], replaced: str | None = None) -> None:
        self.calls.append((list(tx_hashes), replaced))

    async def recorded(self) -> list[tuple[list[bytes], str | None]]:
        return self.calls


async def told(executor: Any, tx_hash: bytes) -> None:
    while not any(tx_hash in hashes for hashes, _ in await executor.recorded.remote()):  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def test_the_monitor_actor_reports_our_swap_to_the_wallets_executor(
    keyed_cluster: None, ray_cluster: None, anvil: AnvilProcess, client: ChainClient,
    uniswap: UniswapV3Adapter, tokens: dict[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    base = tmp_path / "journal.sqlite"
    config: dict[str, Any] = {
        "chains": {CHAIN_ID: {"name": "arbitrum", "rpc_url": anvil.rpc_url}},
        "journal_path": str(base),
    }
    wallet = Signer(dev_key(WALLET_INDEX)).address
    assert chain_monitor_name(CHAIN_ID) in actor_names(Settings(**config))
    executor = RecordingExecutor.options(name=executor_name(CHAIN_ID, wallet)).remote()
    monitor = ChainMonitorActor.options(name=chain_monitor_name(CHAIN_ID)).remote(CHAIN_ID, config)
    journal = Journal(wallet_journal_path(base, CHAIN_ID, wallet))
    try:
        assert await monitor.ready.remote()
        sender = make_sender(client, journal, WALLET_INDEX)
        outcome: StepOutcome = await sender.execute(
            await swap_request(uniswap, tokens, wallet, "actor")
        )
        assert outcome.tx_hash is not None and outcome.receipt is not None
        await asyncio.wait_for(told(executor, outcome.tx_hash), 60)
        status = await monitor.status.remote()
        assert status["mode"] == "websocket"
        assert status["last_block"] >= outcome.receipt["blockNumber"]
        receipt = outcome.receipt
        answer = await ChainMonitorRef(CHAIN_ID).front_run(
            outcome.tx_hash, receipt["blockNumber"], bytes(receipt["blockHash"]), []
        )
        assert answer is None  # our swap alone in its block
        assert await ChainMonitorRef(CHAIN_ID + 1).front_run(b"", 0, b"", []) is None
    finally:
        journal.close()
        await monitor.stop.remote()
        for actor in (monitor, executor):
            ray.kill(actor)
