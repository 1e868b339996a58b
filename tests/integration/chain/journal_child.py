"""A separate process for the crash test: `sign` journals a signed swap and then kills
itself before broadcasting; `recover` is the restarted process that settles the journal.

    python -m tests.integration.chain.journal_child sign|recover RPC_URL JOURNAL STEP_KEY

The key comes from SEP_SIGNING_KEY, as in production (`Settings.load_signing_key`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import load_deployment
from platform_core.chain.journal import Journal
from platform_core.chain.sender import SenderPolicy, TransactionSender
from platform_core.chain.signer import Signer
from platform_core.config import Settings
from platform_core.market.adapter import Route, SwapOrder, deadline_from_window
from platform_core.market.uniswap_v3 import UniswapV3Adapter, UniswapV3Addresses


async def main(mode: str, rpc_url: str, journal_path: str, step_key: str) -> None:
    client = ChainClient(rpc_url)
    sender = TransactionSender(
        client,
        Signer.from_settings(Settings()),
        Journal(Path(journal_path)),
        chain_id=42161,
        policy=SenderPolicy(fee_ceiling_wei=100 * 10**9, receipt_timeout_s=20),
    )
    if mode == "sign":
        deployment = load_deployment()
        uniswap = UniswapV3Adapter(client, 42161, UniswapV3Addresses.from_deployment(deployment))
        weth, usdc = (deployment["tokens"][s]["address"] for s in ("WETH", "USDC"))
        order = SwapOrder(
            route=Route((weth, usdc), (500,)),
            amount_in=10**18,
            min_amount_out=1,
            recipient=sender.address,
            deadline=deadline_from_window(600_000),
            native_in=True,
        )
        (request,) = await uniswap.build_swap_tx(order, sender.address, step_key)
        record = await sender.prepare(request)
        attempt = await sender.sign_and_journal(record.step_key, await sender.preflight(record))
        print(json.dumps({"tx_hash": attempt.tx_hash.hex()}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # crash between journalling and broadcasting
    outcomes = await sender.recover()
    report = [
        {"step": o.step_key, "state": o.state.value, "tx_hash": o.tx_hash and o.tx_hash.hex()}
        for o in outcomes
    ]
    print(json.dumps(report))
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
