"""Transaction decoding throughput: platform_rust against eth-account and pyrlp, same run.

Run: `python benchmarks/bench_decode.py [--count N]`. Prints transactions per second for our
decoder and for each baseline, and the ratio (ours / baseline). Workload: distinct signed
EIP-1559 swaps-like transactions (access list, 260-byte calldata), as the chain monitor sees.

What each side does per transaction:
- ours: full EIP-2718 decode into typed fields; attributes become Python objects only when
  read and the keccak hash is computed on first read, so the "+hash" rows read `.hash` of
  every transaction to compare like with like.
- eth-account `TypedTransaction.from_bytes`: full decode into its typed dict, plus the
  keccak transaction hash (eth-utils).
- pyrlp `rlp.decode`: raw RLP into nested lists of bytes only (no typing, no hash): a floor.
- recovery rows: ours with `recover_sender=True` against `Account.recover_transaction`.

Blocks of real transactions (the chain monitor's workload): a devnet anvil of its own is
filled with real signed transactions (Uniswap V3 swaps through the router, with calldata,
and ETH transfers; EIP-1559 and EIP-2930; ten senders) and mined; each block's raw bytes are
read back as the monitor reads them (`eth_getRawTransactionByBlockHashAndIndex`). Ours: one
`decode_transactions(block, recover_sender=True)` per block, reading every hash and sender
(what `platform_core.chain.monitor.decode_block_txs` does); the baseline: eth-account per
transaction, `Account.recover_transaction` plus the keccak hash, and, without recovery,
`TypedTransaction.from_bytes` plus the keccak hash against a batch per block reading hashes.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import rlp
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

import platform_rust
from benchmarks.report import print_table, take_tables, write_json
from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import load_deployment, start_anvil, stop_anvil
from platform_core.chain.monitor import RpcChainSource
from platform_core.market.adapter import Route, SwapOrder
from platform_core.market.uniswap_v3 import UniswapV3Adapter, UniswapV3Addresses
from platform_rust import decode_transaction, decode_transactions
from tests.integration.conftest import free_port

DISTINCT = 512


def make_corpus(count: int) -> list[bytes]:
    signer = Account.from_key("0x" + "42" * 32)
    distinct = []
    for nonce in range(DISTINCT):
        tx = {
            "type": 2,
            "chainId": 42161,
            "nonce": nonce,
            "to": to_checksum_address("0x" + "ab" * 20),
            "value": 10**17 + nonce,
            "gas": 250_000,
            "maxFeePerGas": 3 * 10**9,
            "maxPriorityFeePerGas": 10**8,
            "data": b"\x41\x4b\xf3\x89" + nonce.to_bytes(32, "big") + b"\x07" * 224,
            "accessList": [
                {
                    "address": to_checksum_address("0x" + "cd" * 20),
                    "storageKeys": ["0x" + "00" * 32],
                }
            ],
        }
        distinct.append(bytes(signer.sign_transaction(tx).raw_transaction))
    return [distinct[i % DISTINCT] for i in range(count)]


def rate(run: Callable[[], object], items: int, repeats: int = 5) -> float:
    """Best-of-`repeats` items per second."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return items / best


async def _fill_blocks(rpc_url: str, blocks: int, per_block: int) -> list[list[bytes]]:
    """Send `per_block` real transactions per block from the devnet's funded accounts
    (anvil signs them), mine, and read each mined block's raw transactions back."""
    node = RpcChainSource(rpc_url)
    deployment = load_deployment()
    client = ChainClient(rpc_url)  # the adapter encodes the calldata; nothing is read
    uniswap = UniswapV3Adapter(client, 42161, UniswapV3Addresses.from_deployment(deployment))
    try:
        router = uniswap.addresses.swap_router
        weth, usdc = (deployment["tokens"][t]["address"] for t in ("WETH", "USDC"))
        senders = (await node.call("eth_accounts", []))[:10]
        await node.call("evm_setAutomine", [False])
        mined: list[list[bytes]] = []
        for _ in range(blocks):
            for i in range(per_block):
                sender = senders[i % len(senders)]
                tx: dict[str, object] = {"from": sender, "gas": hex(250_000)}
                if i % 3 == 2:  # a plain transfer
                    tx.update(
                        to=senders[(i + 1) % len(senders)], value=hex(10**12), gas=hex(21_000)
                    )
                else:  # a swap through the router, paying ETH
                    order = SwapOrder(Route((weth, usdc), (500,)), 10**15 + i, 1, sender,
                                      int(time.time()) + 3600, native_in=True)  # fmt: skip
                    data = uniswap.swap_calldata(order, sender)
                    tx.update(to=router, value=hex(order.amount_in), data="0x" + data.hex())
                if i % 4 == 3:  # EIP-2930
                    tx.update(gasPrice=hex(3 * 10**9), accessList=[])
                else:
                    tx.update(maxFeePerGas=hex(3 * 10**9), maxPriorityFeePerGas=hex(10**8))
                await node.call("eth_sendTransaction", [tx])
            while True:  # mine until the pool is empty (a block's gas limit may split it)
                await node.call("evm_mine", [])
                block = await node.call("eth_getBlockByNumber", ["latest", False])
                count = len(block["transactions"])
                if count == 0:
                    break
                calls = [("eth_getRawTransactionByBlockHashAndIndex", [block["hash"], hex(i)])
                         for i in range(count)]  # fmt: skip
                answers = await node.batch(calls)
                mined.append([bytes.fromhex(a["result"][2:]) for a in answers])
        return mined
    finally:
        await node.close()
        await client.close()


def devnet_blocks(blocks: int, per_block: int) -> list[list[bytes]]:
    """Mined blocks of real signed devnet transactions, each as its list of raw bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        anvil = start_anvil(Path(tmp), port=free_port(), die_with_parent=True)
        try:
            return asyncio.run(_fill_blocks(anvil.rpc_url, blocks, per_block))
        finally:
            stop_anvil(anvil.pid)


def bench_blocks(blocks: list[list[bytes]], baseline_blocks: int) -> None:
    """Per block, as the chain monitor decodes: ours against eth-account, same run."""
    count = sum(len(b) for b in blocks)
    few = blocks[:baseline_blocks]
    few_count = sum(len(b) for b in few)
    few_hex = [[HexBytes(raw) for raw in block] for block in few]

    def ours_recover() -> list[object]:
        return [[(tx.hash, tx.sender) for tx in decode_transactions(block, recover_sender=True)]
                for block in blocks]  # fmt: skip

    def eth_recover() -> list[object]:
        return [[(keccak(raw), Account.recover_transaction(raw)) for raw in block]
                for block in few]  # fmt: skip

    def ours_hash() -> list[object]:
        return [[tx.hash for tx in decode_transactions(block)] for block in blocks]

    def eth_typed() -> list[object]:
        return [[(TypedTransaction.from_bytes(raw), keccak(raw)) for raw in block]
                for block in few_hex]  # fmt: skip

    assert [tx.hash for tx in decode_transactions(blocks[0])] == [
        "0x" + keccak(raw).hex() for raw in blocks[0]
    ]
    per_s = "tx/s"
    print_table(
        f"Block decoding (the chain monitor's batch per block): {len(blocks)} devnet blocks,"
        f" {count:,} real signed transactions ({count / len(blocks):.0f} per block; swaps,"
        f" transfers; EIP-1559 and 2930); baseline over {few_count:,} of them; best of 3",
        [
            (
                "block batch+hash+sender vs recover_transaction+keccak",
                rate(ours_recover, count, 3),
                rate(eth_recover, few_count, 3),
                per_s,
            ),
            (
                "block batch+hash vs from_bytes+keccak",
                rate(ours_hash, count, 3),
                rate(eth_typed, few_count, 3),
                per_s,
            ),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="transactions per run")
    parser.add_argument("--recover-count", type=int, default=5_000)
    parser.add_argument("--blocks", type=int, default=20, help="devnet blocks of real txs")
    parser.add_argument("--per-block", type=int, default=150)
    # Known options only: `python -m benchmarks NAME` leaves its own selectors in argv.
    args, _ = parser.parse_known_args()

    raws = make_corpus(args.count)
    few = raws[: max(args.count // 20, DISTINCT)]
    to_recover = raws[: args.recover_count]
    assert decode_transactions(raws[:DISTINCT])[7].nonce == 7

    # Every case keeps its decoded results alive, as a caller would: dropping each one at once
    # lets the allocator recycle one hot block and flatters the single-call figure.
    def ours_single() -> list[object]:
        return [decode_transaction(raw) for raw in raws]

    few_hexbytes = [HexBytes(raw) for raw in few]  # from_bytes insists on HexBytes

    def eth_account_typed() -> list[object]:
        return [(TypedTransaction.from_bytes(raw), keccak(raw)) for raw in few_hexbytes]

    def pyrlp_decode() -> list[object]:
        return [rlp.decode(raw[1:]) for raw in few]

    def ours_batch_hash() -> list[object]:
        decoded = decode_transactions(raws)
        return [tx.hash for tx in decoded]

    def ours_single_hash() -> list[object]:
        return [decode_transaction(raw).hash for raw in raws]

    ours_batch = rate(lambda: decode_transactions(raws), len(raws))
    ours_batch_hashed = rate(ours_batch_hash, len(raws))
    ours_one_hashed = rate(ours_single_hash, len(raws))
    ours_one = rate(ours_single, len(raws))
    eth_rate = rate(eth_account_typed, len(few))
    rlp_rate = rate(pyrlp_decode, len(few))
    ours_recover_batch = rate(
        lambda: decode_transactions(to_recover, recover_sender=True), len(to_recover), 3
    )
    ours_recover_one = rate(
        lambda: [decode_transaction(r, recover_sender=True) for r in to_recover],
        len(to_recover),
        3,
    )
    eth_recover = rate(lambda: [Account.recover_transaction(r) for r in to_recover[:300]], 300, 3)

    per_s = "tx/s"
    print_table(
        f"Transaction decoding, platform_rust {platform_rust.__version__} "
        f"({platform_rust.build_profile()} build): {len(raws):,} EIP-1559 txs of "
        f"{len(raws[0])} bytes; best of 5 runs (recovery: 3)",
        [
            ("batched vs pyrlp rlp.decode (untyped)", ours_batch, rlp_rate, per_s),
            ("single vs pyrlp rlp.decode (untyped)", ours_one, rlp_rate, per_s),
            ("batched+hash vs eth-account from_bytes+keccak", ours_batch_hashed, eth_rate, per_s),
            ("single+hash vs eth-account from_bytes+keccak", ours_one_hashed, eth_rate, per_s),
            (
                "batched+recover vs Account.recover_transaction",
                ours_recover_batch,
                eth_recover,
                per_s,
            ),
            ("single+recover vs Account.recover_transaction", ours_recover_one, eth_recover, per_s),
        ],
    )
    bench_blocks(devnet_blocks(args.blocks, args.per_block), baseline_blocks=2)


if __name__ == "__main__":
    main()
    print(f"figures in {write_json('bench_decode', {'tables': take_tables()})}")
