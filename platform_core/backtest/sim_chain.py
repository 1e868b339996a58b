"""A simulated chain node: what the platform's sender, orchestrator and Uniswap V3 adapter
ask a `ChainClient`, answered from the replayed market, so that a backtest runs the live
execution path (build, pre-flight, journal, sign, decode-and-check, broadcast, receipt,
`Transfer` logs) unchanged.

What it simulates
    - SwapRouter's `exactInputSingle` and `exactInput` (the calldata the adapter builds,
      decoded with the same ABI): the deadline guard ("Transaction too old"), the token
      pull ("STF" when the allowance or the balance is short), the fill on the replayed
      pools by `SimulatedVenue`, and `amountOutMinimum` ("Too little received"). A mined
      swap's receipt carries the ERC-20 `Transfer` logs of the tokens it moved.
    - ERC-20 `approve`, `allowance` and `balanceOf` of the wallets it is given.
    - Blocks (`BlockTimes`), nonces, EIP-1559 fees at a set base fee (the history has no
      base fees: the cell's gas price is every block's base fee, the tip is 0), receipts.

When things happen
    `eth_call` and `estimateGas` run on the head block's state at the clock's time. A sent
    transaction lands in block head + `latency_blocks`; it is executed when its receipt is
    first asked for, on the state at the end of that block, and the clock moves to that
    block's timestamp (a receipt wait is the only thing that lets time pass on a chain).

Gas
    Every transaction is charged a fixed figure (`GasModel`), reverted ones too (a revert
    late in the swap costs about as much as a success): a swap the gas of the devnet's
    measured `exactInputSingle` (124,439 in `make demo`), plus the engine's 100,000 per
    further hop; ticks crossed are not charged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from web3.types import BlockIdentifier

from platform_core.backtest.history import WETH
from platform_core.backtest.simulator import (
    BacktestError,
    PoolTrade,
    SimClock,
    SimulatedVenue,
)
from platform_core.chain.client import ChainClient
from platform_core.chain.decode import decode_signed
from platform_core.chain.errors import BroadcastRejected, NonceError, SimulationReverted
from platform_core.chain.fees import Fees, fees_from_node
from platform_core.market import contracts as c
from platform_core.market.uniswap_v3 import MAX_UINT256, UniswapV3Addresses

# Uniswap V3 on Ethereum mainnet (only the router is called; the rest name the deployment).
MAINNET_V3 = UniswapV3Addresses(
    factory=to_checksum_address("0x1f98431c8ad98523631ae4a59f267346ea31f984"),
    swap_router=to_checksum_address("0xe592427a0aece92de3edc1f18ebb5c1f4a1e97c3"),
    quoter_v2=to_checksum_address("0x61ffe014ba17989e743c5f6cb21bf9697530b21e"),
    tick_lens=to_checksum_address("0xbfd8137f7d1516d3ea5ca83523914859ec47f573"),
    weth=WETH,
)
MAINNET_CHAIN_ID = 1
_ERROR_SELECTOR = keccak(text="Error(string)")[:4]
_ETH_BALANCE = 10**24  # gas is accounted per transaction, not drawn from a balance


@dataclass(frozen=True)
class GasModel:
    swap: int = 124_439  # one exactInputSingle on the devnet (`make demo`)
    extra_hop: int = 100_000  # the engine's figure per further V3 hop
    approve: int = 46_000  # an ERC-20 approve from zero

    def of_swap(self, hops: int) -> int:
        return self.swap + self.extra_hop * (hops - 1)


@dataclass(frozen=True)
class Execution:
    """What a transaction did (or would do): `revert` is the reason when it reverted."""

    gas_used: int
    output: bytes = b""
    logs: tuple[dict[str, Any], ...] = ()
    hops: tuple[PoolTrade, ...] = ()
    revert: str | None = None


@dataclass
class SimTx:
    """A transaction the node accepted; `execution` once it is mined."""

    tx_hash: bytes
    sender: str
    nonce: int
    to: str
    data: bytes
    value: int
    gas_limit: int
    max_fee_per_gas: int
    block: int  # the block it lands in
    execution: Execution | None = None
    receipt: dict[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SwapCall:
    """A decoded SwapRouter exact-input call."""

    tokens: tuple[str, ...]
    fees: tuple[int, ...]
    recipient: str
    deadline: int
    amount_in: int
    min_amount_out: int


def decode_swap(data: bytes) -> SwapCall | None:
    """`exactInputSingle` or `exactInput` calldata; None for any other call."""
    selector = bytes(data[:4])
    if selector == c.EXACT_INPUT_SINGLE.selector:
        ((t_in, t_out, fee, recipient, deadline, amount, minimum, _limit),) = (
            c.EXACT_INPUT_SINGLE.decode_input(data)
        )
        return SwapCall((t_in, t_out), (fee,), recipient, deadline, amount, minimum)
    if selector == c.EXACT_INPUT.selector:
        ((path, recipient, deadline, amount, minimum),) = c.EXACT_INPUT.decode_input(data)
        tokens, fees = decode_path(bytes(path))
        return SwapCall(tokens, fees, recipient, deadline, amount, minimum)
    return None


def decode_path(path: bytes) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """A SwapRouter path (token, fee, token, ...) as its tokens and fee tiers."""
    if len(path) < 43 or (len(path) - 20) % 23:
        raise ValueError("malformed swap path")
    tokens = [to_checksum_address(path[:20])]
    fees = []
    for at in range(20, len(path), 23):
        fees.append(int.from_bytes(path[at : at + 3], "big"))
        tokens.append(to_checksum_address(path[at + 3 : at + 23]))
    return tuple(tokens), tuple(fees)


def transfer_log(token: str, source: str, target: str, value: int) -> dict[str, Any]:
    def topic(address: str) -> bytes:
        return bytes(12) + bytes.fromhex(address[2:])

    return {
        "address": token,
        "topics": [c.TRANSFER.topic, topic(source), topic(target)],
        "data": value.to_bytes(32, "big"),
    }


def block_hash(number: int) -> bytes:
    return keccak(b"sep-backtest-block" + number.to_bytes(32, "big"))


def _revert_data(reason: str) -> bytes:
    return _ERROR_SELECTOR + encode(["string"], [reason])


class Ledger:
    """ERC-20 balances and allowances of the simulated wallets (addresses case-blind)."""

    def __init__(self) -> None:
        self._balances: dict[tuple[str, str], int] = {}
        self._allowances: dict[tuple[str, str, str], int] = {}

    def balance(self, token: str, owner: str) -> int:
        return self._balances.get((token.lower(), owner.lower()), 0)

    def allowance(self, token: str, owner: str, spender: str) -> int:
        return self._allowances.get((token.lower(), owner.lower(), spender.lower()), 0)

    def mint(self, token: str, owner: str, amount: int) -> None:
        key = (token.lower(), owner.lower())
        self._balances[key] = self._balances.get(key, 0) + amount

    def approve(self, token: str, owner: str, spender: str, amount: int) -> None:
        self._allowances[(token.lower(), owner.lower(), spender.lower())] = amount

    def pull(self, token: str, owner: str, spender: str, amount: int) -> None:
        """Move `amount` out of `owner` on `spender`'s allowance (checked by the caller)."""
        self.mint(token, owner, -amount)
        left = self.allowance(token, owner, spender)
        if left != MAX_UINT256:  # an unlimited approval is never spent down
            self.approve(token, owner, spender, left - amount)


class SimulatedChain(ChainClient):
    """A `ChainClient` over the replayed market (see the module docstring).

    `holdings` gives each wallet's token balances (owner -> token -> base units); with
    `approved` each of them has approved the router for every token it holds (a standing
    approval: no approval transaction, and its gas, per order)."""

    def __init__(
        self,
        venue: SimulatedVenue,
        clock: SimClock,
        *,
        base_fee_wei: int,
        latency_blocks: int = 1,
        holdings: Mapping[str, Mapping[str, int]] | None = None,
        approved: bool = True,
        addresses: UniswapV3Addresses = MAINNET_V3,
        chain_id: int = MAINNET_CHAIN_ID,
        gas: GasModel | None = None,
    ) -> None:
        # No ChainClient.__init__: there is no node to connect to. Every method the platform
        # calls is answered here; the rest raise (`rpc`, `batch_call`, `get_logs`).
        if latency_blocks < 1:
            raise BacktestError("a transaction lands at the earliest in the next block")
        self.rpc_url, self.timeout_s = "simulated://backtest", 0.0
        self.venue, self.market, self.clock = venue, venue.market, clock
        self.base_fee_wei, self.latency_blocks = base_fee_wei, latency_blocks
        self.addresses, self._chain_id = addresses, chain_id
        self.gas = gas or GasModel()
        self.ledger = Ledger()
        for owner, tokens in (holdings or {}).items():
            for token, amount in tokens.items():
                self.ledger.mint(token, owner, amount)
                if approved:
                    self.ledger.approve(token, owner, addresses.swap_router, MAX_UINT256)
        self.transactions: list[SimTx] = []  # every accepted transaction, in order
        self._by_hash: dict[bytes, SimTx] = {}

    # -- chain reads ------------------------------------------------------------------------

    async def close(self) -> None:
        return None

    async def chain_id(self) -> int:
        return self._chain_id

    async def block_number(self) -> int:
        return self.head()

    def head(self) -> int:
        return self.market.blocks.head_at(self.clock.now())

    def _number(self, block: BlockIdentifier) -> int:
        if isinstance(block, int):
            return block
        if block in ("latest", "pending", "safe", "finalized"):
            return self.head()
        raise BacktestError(f"block {block!r} is not simulated")

    async def get_block(self, block: BlockIdentifier = "latest") -> dict[str, Any]:
        number = self._number(block)
        return {
            "number": number,
            "hash": block_hash(number),
            "timestamp": int(self.market.blocks.timestamp(number).timestamp()),
            "baseFeePerGas": self.base_fee_wei,
        }

    async def nonce(self, address: str, block: BlockIdentifier = "pending") -> int:
        mine = [tx for tx in self.transactions if tx.sender.lower() == address.lower()]
        if block == "pending":
            return len(mine)
        return sum(tx.execution is not None for tx in mine)

    async def balance(self, address: str, block: BlockIdentifier = "latest") -> int:
        return _ETH_BALANCE

    async def fees(self, *, ceiling: int | None) -> Fees:
        return fees_from_node(self.base_fee_wei, 0, ceiling=ceiling)

    async def rpc(self, method: str, params: Sequence[Any]) -> Any:
        raise BacktestError(f"{method} is not simulated")

    async def batch_call(
        self, calls: Sequence[tuple[str, bytes]], block: BlockIdentifier = "latest"
    ) -> list[bytes]:
        raise BacktestError("batch calls are not simulated (pool state comes from the replay)")

    async def get_logs(self, filter_params: dict[str, Any]) -> list[dict[str, Any]]:
        raise BacktestError("logs are not simulated (pool state comes from the replay)")

    # -- calls ------------------------------------------------------------------------------

    async def call(self, tx: dict[str, Any], block: BlockIdentifier = "latest") -> bytes:
        return self._simulate(tx).output

    async def estimate_gas(self, tx: dict[str, Any]) -> int:
        return self._simulate(tx).gas_used

    def _simulate(self, tx: dict[str, Any]) -> Execution:
        """Run `tx` on the head block's state at the clock's time; a revert raises."""
        sender = str(tx.get("from") or "0x" + "00" * 20)
        execution = self._execute(
            sender, str(tx["to"]), bytes(tx.get("data") or b""), self.head(),
            int(self.clock.now().timestamp()), commit=False,
        )  # fmt: skip
        if execution.revert is not None:
            raise SimulationReverted(execution.revert, _revert_data(execution.revert))
        return execution

    # -- contracts --------------------------------------------------------------------------

    def _execute(
        self, sender: str, to: str, data: bytes, block: int, timestamp: int, *, commit: bool
    ) -> Execution:
        selector = data[:4]
        if to.lower() == self.addresses.swap_router.lower():
            swap = decode_swap(data)
            if swap is None:
                return Execution(self.gas.swap, revert="router call not simulated")
            return self._swap(sender, swap, block, timestamp, commit=commit)
        if selector == c.APPROVE.selector:
            spender, amount = c.APPROVE.decode_input(data)
            if commit:
                self.ledger.approve(to, sender, spender, amount)
            return Execution(self.gas.approve, encode(["bool"], [True]))
        if selector == c.ALLOWANCE.selector:
            owner, spender = c.ALLOWANCE.decode_input(data)
            return Execution(0, encode(["uint256"], [self.ledger.allowance(to, owner, spender)]))
        if selector == c.BALANCE_OF.selector:
            (owner,) = c.BALANCE_OF.decode_input(data)
            return Execution(0, encode(["uint256"], [self.ledger.balance(to, owner)]))
        return Execution(self.gas.swap, revert=f"call to {to} not simulated")

    def _swap(
        self, sender: str, swap: SwapCall, block: int, timestamp: int, *, commit: bool
    ) -> Execution:
        """SwapRouter's exact-input swap, in the order its checks run."""
        gas = self.gas.of_swap(len(swap.fees))
        if timestamp > swap.deadline:
            return Execution(gas, revert="Transaction too old")
        pools = self._path_pools(swap)
        if pools is None:
            return Execution(gas, revert="no replayed pool for the path")
        if self._pullable(swap.tokens[0], sender) < swap.amount_in:
            return Execution(gas, revert="STF")
        try:
            hops = self.venue.quote(block, pools, swap.tokens[0], swap.amount_in)
        except BacktestError:  # a simulation the venue cannot do: not a revert
            raise
        except ValueError as exc:  # the replayed pools cannot absorb the input
            return Execution(gas, revert=f"the replayed pool cannot fill it: {exc}")
        out = hops[-1].amount_out
        if out < swap.min_amount_out:
            return Execution(gas, revert="Too little received")
        if commit:
            self._settle_swap(sender, swap, hops)
        return Execution(
            gas, encode(["uint256"], [out]), _swap_logs(sender, swap, hops), tuple(hops)
        )

    def _path_pools(self, swap: SwapCall) -> list[str] | None:
        """The replayed pool of each hop (token, fee, token); None when one is missing."""
        pools = []
        for a, b, fee in zip(swap.tokens[:-1], swap.tokens[1:], swap.fees, strict=True):
            pool = self.market.pool_for(a, b, fee)
            if pool is None:
                return None
            pools.append(pool)
        return pools

    def _pullable(self, token: str, owner: str) -> int:
        """What the router can take from `owner`: the allowance, at most the balance."""
        router = self.addresses.swap_router
        return min(self.ledger.allowance(token, owner, router), self.ledger.balance(token, owner))

    def _settle_swap(self, sender: str, swap: SwapCall, hops: Sequence[PoolTrade]) -> None:
        self.ledger.pull(swap.tokens[0], sender, self.addresses.swap_router, swap.amount_in)
        self.ledger.mint(swap.tokens[-1], swap.recipient, hops[-1].amount_out)
        self.venue.commit(hops)

    # -- transactions -----------------------------------------------------------------------

    async def send_raw(self, raw: bytes) -> bytes:
        try:
            tx = decode_signed(raw)
        except ValueError as exc:
            raise BroadcastRejected(f"not a signed transaction: {exc}") from None
        if tx.chain_id != self._chain_id:
            raise BroadcastRejected(f"chain id {tx.chain_id}, the node is {self._chain_id}")
        if tx.hash in self._by_hash:
            raise NonceError("already known")
        expected = await self.nonce(tx.sender, "pending")
        if tx.nonce != expected:
            raise NonceError(f"nonce too {'low' if tx.nonce < expected else 'high'}")
        max_fee = tx.max_fee_per_gas if tx.max_fee_per_gas is not None else tx.gas_price
        if max_fee is None or max_fee < self.base_fee_wei:
            raise BroadcastRejected("max fee per gas less than block base fee")
        sim = SimTx(
            tx.hash, tx.sender, tx.nonce, tx.to or "", tx.input, tx.value, tx.gas_limit,
            max_fee, self.head() + self.latency_blocks,
        )  # fmt: skip
        self.transactions.append(sim)
        self._by_hash[sim.tx_hash] = sim
        return sim.tx_hash

    async def receipt(self, tx_hash: bytes) -> dict[str, Any] | None:
        """The receipt, mining the transaction (and the clock) up to its block if needed."""
        tx = self._by_hash.get(bytes(tx_hash))
        if tx is None:
            return None
        if tx.receipt is None:
            self._mine_through(tx.block)
        return tx.receipt

    async def transaction(self, tx_hash: bytes) -> dict[str, Any] | None:
        tx = self._by_hash.get(bytes(tx_hash))
        if tx is None:
            return None
        mined = tx.execution is not None
        return {
            "hash": tx.tx_hash,
            "from": tx.sender,
            "nonce": tx.nonce,
            "blockNumber": tx.block if mined else None,
        }

    async def mined_transaction_at(self, address: str, nonce: int) -> bytes | None:
        for tx in self.transactions:
            if tx.sender.lower() == address.lower() and tx.nonce == nonce and tx.execution:
                return tx.tx_hash
        return None

    def _mine_through(self, block: int) -> None:
        """Execute every pending transaction landing in `block` or before, in order, and
        move the clock to that block's time."""
        for tx in sorted(self.transactions, key=lambda t: (t.block, t.nonce)):
            if tx.execution is None and tx.block <= block:
                self._mine(tx)
        self.clock.advance_to(self.market.blocks.timestamp(block))

    def _mine(self, tx: SimTx) -> None:
        timestamp = int(self.market.blocks.timestamp(tx.block).timestamp())
        execution = self._execute(tx.sender, tx.to, tx.data, tx.block, timestamp, commit=True)
        if execution.gas_used > tx.gas_limit:
            execution = Execution(tx.gas_limit, revert="out of gas")
        tx.execution = execution
        tx.receipt = {
            "transactionHash": tx.tx_hash,
            "from": tx.sender,
            "to": tx.to,
            "blockNumber": tx.block,
            "blockHash": block_hash(tx.block),
            "status": 0 if execution.revert is not None else 1,
            "gasUsed": execution.gas_used,
            "effectiveGasPrice": min(tx.max_fee_per_gas, self.base_fee_wei),
            "logs": [] if execution.revert is not None else list(execution.logs),
        }


def _swap_logs(
    sender: str, swap: SwapCall, hops: Sequence[PoolTrade]
) -> tuple[dict[str, Any], ...]:
    """The `Transfer`s of a swap: the input from the sender into the first pool, each
    intermediate token from pool to pool, the output from the last pool to the recipient."""
    logs = [transfer_log(swap.tokens[0], sender, hops[0].pool, swap.amount_in)]
    for hop, following, token in zip(hops, hops[1:], swap.tokens[1:], strict=False):
        logs.append(transfer_log(token, hop.pool, following.pool, hop.amount_out))
    logs.append(transfer_log(swap.tokens[-1], hops[-1].pool, swap.recipient, hops[-1].amount_out))
    return tuple(logs)
