"""`WalletState`: what the gate needs to know from one chain, cached so that a submission
reads nothing from it in steady state.

- Token facts (has code, decimals, symbol) never change for a contract: cached for the
  life of the process. An address without code is not cached (a contract may be deployed
  there later).
- A wallet's balance of a token, and whether approving the router for it succeeds, change
  with blocks: cached per (wallet, token) with the block they were read at (`Holding`).
  `on_head(block)` re-reads every known pair at that block in one round of reads and
  swaps the results in; until then, lookups answer from the previous block. A pair seen
  for the first time is read through, at the last head announced.

The block of a balance matters to the reservation ledger: a reservation released at a
later block than the balance still counts (its spend is not in the balance yet). Heads are
pushed by whoever follows the chain (the market feed); nothing here polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_abi.exceptions import DecodingError
from eth_utils import to_checksum_address
from web3.types import BlockIdentifier

from platform_core.chain.abi import Function
from platform_core.chain.errors import SimulationReverted
from platform_core.market import contracts as c
from platform_core.market.adapter import MAX_UINT256

if TYPE_CHECKING:
    from platform_core.chain.client import ChainClient
    from platform_core.market.uniswap_v3 import UniswapV3Adapter


@dataclass(frozen=True)
class TokenFacts:
    has_code: bool
    decimals: int | None = None
    symbol: str | None = None


@dataclass(frozen=True)
class Holding:
    """A wallet's balance of one token and whether it can approve the router, at `block`."""

    balance: int
    approvable: bool
    block: int


async def read_token_facts(client: ChainClient, address: str) -> TokenFacts:
    code = await client.rpc("eth_getCode", [address, "latest"])
    if not code or code in ("0x", "0x0"):
        return TokenFacts(has_code=False)

    async def read(function: Function) -> object | None:
        try:
            raw = await client.call({"to": address, "data": function.encode()})
            value: object = function.decode_output(raw)[0]
        except (SimulationReverted, DecodingError, ValueError):  # missing, or not ERC-20's
            return None
        return value

    decimals, symbol = await asyncio.gather(read(c.DECIMALS), read(c.SYMBOL))
    return TokenFacts(
        has_code=True,
        decimals=decimals if isinstance(decimals, int) else None,
        symbol=symbol if isinstance(symbol, str) else None,
    )


async def approval_succeeds(
    client: ChainClient, router: str, token: str, wallet: str, block: BlockIdentifier = "latest"
) -> bool:
    """Simulates the unlimited approval the execution layer sends before a swap."""
    call = {"from": wallet, "to": token, "data": c.APPROVE.encode(router, MAX_UINT256)}
    try:
        result = await client.call(call, block)
        # Tokens that return nothing (pre-final ERC-20s) are fine; an explicit false is not.
        return not result or c.APPROVE.decode_output(result)[0] is True
    except (SimulationReverted, DecodingError):
        return False


Pair = tuple[str, str]  # (wallet, token), both lower case


class WalletState:
    def __init__(self, adapter: UniswapV3Adapter) -> None:
        self.client = adapter.client
        self.router = adapter.addresses.swap_router
        self.head: int | None = None  # the last block announced (or read, before any)
        self._tokens: dict[str, TokenFacts] = {}
        self._holdings: dict[Pair, Holding] = {}

    async def token_facts(self, address: str) -> TokenFacts:
        key = address.lower()
        facts = self._tokens.get(key)
        if facts is None:
            facts = await read_token_facts(self.client, address)
            if facts.has_code:
                self._tokens[key] = facts
        return facts

    async def holdings(self, wallet: str, tokens: Sequence[str]) -> dict[str, Holding]:
        """Lower-case token address -> the wallet's holding, from the cache; pairs not seen
        before are read at the last head, in one round."""
        pairs = [(wallet.lower(), token.lower()) for token in tokens]
        missing = [pair for pair in dict.fromkeys(pairs) if pair not in self._holdings]
        if missing:
            block = self.head if self.head is not None else await self._chain_head()
            self._store(await self._read(missing, block))
        return {token: self._holdings[(owner, token)] for owner, token in pairs}

    async def on_head(self, block: int) -> None:
        """Re-read every known pair at `block` (a head announced by the market feed); older
        or repeated heads are ignored. Lookups keep answering from the previous block until
        the reads are in. A failed read raises and leaves the cache as it was."""
        if self.head is not None and block <= self.head:
            return
        if self._holdings:
            self._store(await self._read(list(self._holdings), block))
        self.head = block if self.head is None else max(self.head, block)

    async def _chain_head(self) -> int:
        block = await self.client.block_number()
        self.head = block if self.head is None else max(self.head, block)
        return self.head

    async def _read(self, pairs: Sequence[Pair], block: int) -> dict[Pair, Holding]:
        # Balances in one JSON-RPC batch; approvals need a `from`, so they go alongside.
        named = [(to_checksum_address(w), to_checksum_address(t)) for w, t in pairs]
        balances, approvals = await asyncio.gather(
            self.client.batch_call(
                [(token, c.BALANCE_OF.encode(wallet)) for wallet, token in named], block
            ),
            asyncio.gather(
                *(
                    approval_succeeds(self.client, self.router, token, wallet, block)
                    for wallet, token in named
                )
            ),
        )
        return {
            pair: Holding(int(c.BALANCE_OF.decode_output(raw)[0]), approvable, block)
            for pair, raw, approvable in zip(pairs, balances, approvals, strict=True)
        }

    def _store(self, read: dict[Pair, Holding]) -> None:
        """Keep the newer of what is cached and what was read (reads may finish out of
        order)."""
        for pair, holding in read.items():
            cached = self._holdings.get(pair)
            if cached is None or cached.block <= holding.block:
                self._holdings[pair] = holding
