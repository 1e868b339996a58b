"""Devnet fixtures: every test gets its own anvil, started from the committed saved state
on a free port (never 8545) and stopped afterwards.

The wallets are anvil's public test mnemonic accounts: devnet-only keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from pydantic import SecretStr

from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import AnvilProcess, load_deployment, start_anvil, stop_anvil
from platform_core.chain.journal import Journal
from platform_core.chain.sender import SenderPolicy, TransactionSender
from platform_core.chain.signer import Signer
from platform_core.config import Settings
from platform_core.market.uniswap_v3 import UniswapV3Adapter, UniswapV3Addresses
from platform_core.streaming.event_stream import EventStream
from tests.integration.conftest import free_port

CHAIN_ID = 42161
DEV_MNEMONIC = "test test test test test test test test test test test junk"  # anvil's, public
FEE_CEILING = 100 * 10**9

Account.enable_unaudited_hdwallet_features()


def dev_key(index: int) -> SecretStr:
    account = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return SecretStr(account.key.to_0x_hex())


@pytest.fixture(scope="session")
def deployment() -> dict[str, Any]:
    return load_deployment()


@pytest.fixture(scope="session")
def tokens(deployment: dict[str, Any]) -> dict[str, str]:
    return {symbol: t["address"] for symbol, t in deployment["tokens"].items()}


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[AnvilProcess]:
    process = start_anvil(tmp_path / "anvil", port=free_port(), die_with_parent=True)
    try:
        yield process
    finally:
        stop_anvil(process.pid)


@pytest.fixture
async def client(anvil: AnvilProcess) -> AsyncIterator[ChainClient]:
    chain = ChainClient(anvil.rpc_url, timeout_s=10)
    try:
        yield chain
    finally:
        await chain.close()


@pytest.fixture
def uniswap(client: ChainClient, deployment: dict[str, Any]) -> UniswapV3Adapter:
    return UniswapV3Adapter(client, CHAIN_ID, UniswapV3Addresses.from_deployment(deployment))


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.sqlite")
    try:
        yield j
    finally:
        j.close()


def make_sender(
    client: ChainClient, journal: Journal, wallet_index: int, **policy: Any
) -> TransactionSender:
    return TransactionSender(
        client,
        Signer(dev_key(wallet_index)),
        journal,
        chain_id=CHAIN_ID,
        policy=SenderPolicy(fee_ceiling_wei=policy.pop("fee_ceiling_wei", FEE_CEILING), **policy),
    )


@pytest.fixture
def sender(client: ChainClient, journal: Journal) -> TransactionSender:
    return make_sender(client, journal, 1)


@pytest.fixture
async def stream(isolated_settings: Settings) -> AsyncIterator[EventStream]:
    events = await EventStream.connect(
        isolated_settings.nats_url,
        stream=isolated_settings.stream_name,
        subject_prefix=isolated_settings.subject_prefix,
    )
    try:
        yield events
    finally:
        await events.close()
