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
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import rlp
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

import platform_rust
from platform_rust import decode_transaction, decode_transactions

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


def print_table(title: str, rows: list[tuple[str, float, float, str]]) -> None:
    """Same layout as the other benchmarks: measure, ours, baseline, ours / baseline, unit."""
    print(title)
    print(f"  {'measure':<48} {'ours':>14} {'baseline':>14} {'ratio':>8}  unit")
    for measure, ours, baseline, unit in rows:
        print(f"  {measure:<48} {ours:>14,.0f} {baseline:>14,.0f} {ours / baseline:>8.2f}  {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="transactions per run")
    parser.add_argument("--recover-count", type=int, default=5_000)
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


if __name__ == "__main__":
    main()
