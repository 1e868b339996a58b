"""An async JSON-RPC client for one chain (web3.py `AsyncWeb3`), with every call bounded by
a timeout and node errors mapped to the chain layer's own exceptions."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import aiohttp
from eth_typing import Hash32
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import (
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import BlockIdentifier, FilterParams, TxParams

from platform_core.chain.abi import revert_reason
from platform_core.chain.errors import (
    BroadcastRejected,
    NonceError,
    SimulationReverted,
    TransportError,
)
from platform_core.chain.fees import Fees, fees_from_node

_TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, TimeExhausted)
_NONCE_MESSAGES = ("nonce too low", "nonce too high", "already known", "known transaction")


def _hex_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    try:
        return bytes(HexBytes(value))
    except (TypeError, ValueError):
        return None


class ChainClient:
    def __init__(self, rpc_url: str, *, timeout_s: float = 10.0) -> None:
        provider = AsyncHTTPProvider(
            rpc_url,
            request_kwargs={"timeout": aiohttp.ClientTimeout(total=timeout_s)},
            exception_retry_configuration=None,  # retries are decided by the caller
        )
        self.w3 = AsyncWeb3(provider)
        self.rpc_url = rpc_url
        self.timeout_s = timeout_s

    async def close(self) -> None:
        await self.w3.provider.disconnect()

    async def _guard(self, coro: Any) -> Any:
        try:
            return await asyncio.wait_for(coro, self.timeout_s)
        except _TRANSPORT_ERRORS as exc:
            raise TransportError(f"{self.rpc_url}: {type(exc).__name__}: {exc}") from exc

    async def rpc(self, method: str, params: Sequence[Any]) -> Any:
        """A raw JSON-RPC call (anvil's dev methods, for instance); raises on an error."""
        response = await self._guard(self.w3.provider.make_request(method, list(params)))
        if "error" in response:
            raise Web3RPCError(str(response["error"]))
        return response.get("result")

    async def chain_id(self) -> int:
        return int(await self._guard(self.w3.eth.chain_id))

    async def block_number(self) -> int:
        return int(await self._guard(self.w3.eth.block_number))

    async def get_block(self, block: BlockIdentifier = "latest") -> dict[str, Any]:
        return dict(await self._guard(self.w3.eth.get_block(block)))

    async def nonce(self, address: str, block: BlockIdentifier = "pending") -> int:
        address = to_checksum_address(address)
        return int(await self._guard(self.w3.eth.get_transaction_count(address, block)))

    async def balance(self, address: str, block: BlockIdentifier = "latest") -> int:
        return int(await self._guard(self.w3.eth.get_balance(to_checksum_address(address), block)))

    async def fees(self, *, ceiling: int | None) -> Fees:
        """EIP-1559 fees from the node: twice the latest base fee plus the suggested tip.
        Above `ceiling` this raises `FeeCeilingExceeded`; `None` skips the check (for a
        caller that applies its own, as replacements do)."""
        base_fee, tip = await self._base_fee_and_tip()
        return fees_from_node(base_fee, tip, ceiling=ceiling)

    async def gas_price_now(self) -> int:
        """What a transaction sent now is expected to pay per gas (EIP-1559: the latest base
        fee plus the suggested tip), for pricing gas into a route."""
        base_fee, tip = await self._base_fee_and_tip()
        return base_fee + tip

    async def _base_fee_and_tip(self) -> tuple[int, int]:
        block = await self.get_block("latest")
        tip = int(await self._guard(self.w3.eth.max_priority_fee))
        return int(block["baseFeePerGas"]), tip

    async def call(self, tx: dict[str, Any], block: BlockIdentifier = "latest") -> bytes:
        """`eth_call`; a revert raises `SimulationReverted` with the decoded reason."""
        try:
            return bytes(await self._guard(self.w3.eth.call(cast(TxParams, tx), block)))
        except ContractLogicError as exc:
            data = _hex_bytes(exc.data)
            raise SimulationReverted(revert_reason(data), data) from None

    async def estimate_gas(self, tx: dict[str, Any]) -> int:
        try:
            return int(await self._guard(self.w3.eth.estimate_gas(cast(TxParams, tx))))
        except ContractLogicError as exc:
            data = _hex_bytes(exc.data)
            raise SimulationReverted(revert_reason(data), data) from None

    async def batch_call(
        self, calls: Sequence[tuple[str, bytes]], block: BlockIdentifier = "latest"
    ) -> list[bytes]:
        """Many `eth_call`s in one JSON-RPC batch (one HTTP round trip)."""
        if not calls:
            return []
        async with self.w3.batch_requests() as batch:
            for to, data in calls:
                batch.add(self.w3.eth.call({"to": to, "data": data}, block))
            results = await self._guard(batch.async_execute())
        return [bytes(result) for result in results]

    async def send_raw(self, raw: bytes) -> bytes:
        """Broadcast signed bytes. A nonce problem raises `NonceError`, any other refusal
        `BroadcastRejected`; a transport failure raises `TransportError` (outcome unknown)."""
        try:
            return bytes(await self._guard(self.w3.eth.send_raw_transaction(raw)))
        except Web3RPCError as exc:
            message = str(exc).lower()
            if any(m in message for m in _NONCE_MESSAGES):
                raise NonceError(str(exc)) from None
            raise BroadcastRejected(str(exc)) from None

    async def receipt(self, tx_hash: bytes) -> dict[str, Any] | None:
        try:
            return dict(await self._guard(self.w3.eth.get_transaction_receipt(Hash32(tx_hash))))
        except TransactionNotFound:
            return None

    async def transaction(self, tx_hash: bytes) -> dict[str, Any] | None:
        try:
            return dict(await self._guard(self.w3.eth.get_transaction(Hash32(tx_hash))))
        except TransactionNotFound:
            return None

    async def mined_transaction_at(self, address: str, nonce: int) -> bytes | None:
        """The hash of the mined transaction `address` sent with `nonce`; None when the node
        shows none (not mined, or not visible yet). The node is asked directly
        (`eth_getTransactionBySenderAndNonce`: anvil, reth); when that fails (no such
        method, or no state for a block it looks at) the blocks are searched here."""
        address = to_checksum_address(address)
        try:
            found = await self.rpc("eth_getTransactionBySenderAndNonce", [address, hex(nonce)])
        except Web3RPCError:
            return await self._search_by_nonce(address, nonce)
        if not found or found.get("blockNumber") is None:
            return None
        return bytes(HexBytes(found["hash"]))

    async def _search_by_nonce(self, address: str, nonce: int) -> bytes | None:
        """Find the first block by whose end `address` had passed `nonce` (galloping back
        from the head, then bisecting) and the transaction in it; None when there is none.
        Blocks whose state the node no longer keeps count as before it."""
        high = await self.block_number()  # invariant: passed by the end of `high`
        if not await self._passed(address, nonce, high):
            return None
        low, distance = -1, 1  # invariant: not passed by the end of `low` (-1: genesis)
        while high > 0:
            probe = max(high - distance, 0)
            if not await self._passed(address, nonce, probe):
                low = probe
                break
            high, distance = probe, distance * 2
        while high - low > 1:
            middle = (low + high) // 2
            if await self._passed(address, nonce, middle):
                high = middle
            else:
                low = middle
        block = await self._guard(self.w3.eth.get_block(high, full_transactions=True))
        for tx in block["transactions"]:
            if tx["from"].lower() == address.lower() and int(tx["nonce"]) == nonce:
                return bytes(tx["hash"])
        return None

    async def _passed(self, address: str, nonce: int, block: int) -> bool:
        """Whether `address` had sent more than `nonce` transactions by the end of `block`;
        False where the node keeps no state for that block."""
        try:
            return await self.nonce(address, block) > nonce
        except Web3RPCError:
            return False

    async def get_logs(self, filter_params: dict[str, Any]) -> list[dict[str, Any]]:
        logs = await self._guard(self.w3.eth.get_logs(cast(FilterParams, filter_params)))
        return [dict(log) for log in logs]
