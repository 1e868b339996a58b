"""Does the chain still hold what a journal recorded?

`check_journal` binds the journal to the node's chain (chain id and genesis hash: another
chain is refused at once) and then compares what the journal recorded as mined with what
the chain shows:

- the step mined in the highest block: its receipt is there, or else its block is (the
  head is not below it) with the hash the journal recorded;
- each wallet's step with the highest nonce: the account's mined nonce is above it, or
  else that transaction's receipt is there.

A devnet restarted from its saved state keeps its genesis but is back at an older head and
older nonces: these checks are what notice it. A node that lags (a head, a nonce or a
receipt not visible yet) looks the same for a moment, so a difference counts only when it
is still there after `settle_s`; then `JournalChainMismatch` names it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from platform_core.chain.client import ChainClient
from platform_core.chain.journal import Journal, chain_mismatch


async def check_journal(
    journal: Journal,
    client: ChainClient,
    *,
    senders: Iterable[str] | None = None,
    record: bool = True,
    settle_s: float = 5.0,
    poll_s: float = 0.25,
) -> None:
    """Bind `journal` to the node's chain (`record=False`: compare only, write nothing) and
    check its history there; raise `JournalChainMismatch` saying what differs."""
    chain_id = await client.chain_id()
    genesis = await client.get_block(0)
    await asyncio.to_thread(journal.bind, chain_id, bytes(genesis["hash"]), record=record)
    await check_history(journal, client, senders=senders, settle_s=settle_s, poll_s=poll_s)


async def check_history(
    journal: Journal,
    client: ChainClient,
    *,
    senders: Iterable[str] | None = None,
    settle_s: float = 5.0,
    poll_s: float = 0.25,
) -> None:
    """Raise `JournalChainMismatch` when the chain still lacks, after `settle_s`, what the
    journal recorded as mined (for `senders`' nonces: every wallet in it by default)."""
    wallets = list(senders) if senders is not None else await asyncio.to_thread(journal.senders)
    deadline = time.monotonic() + settle_s
    while found := await differences(journal, client, wallets):
        if time.monotonic() >= deadline:
            raise chain_mismatch(journal.path, "; ".join(found))
        await asyncio.sleep(poll_s)


async def differences(journal: Journal, client: ChainClient, wallets: list[str]) -> list[str]:
    """What the journal recorded as mined and the chain does not show now (empty: none)."""
    found = []
    anchor = await asyncio.to_thread(journal.latest_mined)
    if anchor is not None and anchor.block_number is not None:
        if await client.receipt(anchor.tx_hash) is None:
            mined = f"transaction 0x{anchor.tx_hash.hex()} (step {anchor.step_key})"
            head = await client.block_number()
            if anchor.block_number > head:
                found.append(
                    f"the chain's head is block {head}, below block {anchor.block_number}"
                    f" where {mined} was mined"
                )
            else:
                block = await client.get_block(anchor.block_number)
                if bytes(block["hash"]) != anchor.block_hash:
                    recorded = (anchor.block_hash or b"").hex()
                    found.append(
                        f"block {anchor.block_number} is 0x{bytes(block['hash']).hex()} on"
                        f" chain, the journal has {mined} mined in block 0x{recorded}"
                    )
    for wallet in wallets:
        step = await asyncio.to_thread(journal.highest_mined, wallet)
        if step is None:
            continue
        count = await client.nonce(wallet, "latest")
        if count > step.nonce or await client.receipt(step.tx_hash) is not None:
            continue
        found.append(
            f"wallet {wallet}'s nonce on chain is {count}, but the journal has transaction"
            f" 0x{step.tx_hash.hex()} (step {step.step_key}) mined at nonce {step.nonce}"
        )
    return found
