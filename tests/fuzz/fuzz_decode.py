"""Fuzz `decode_transaction` with atheris (libFuzzer) on random and mutated valid transactions.

Run (bounded): `python tests/fuzz/fuzz_decode.py -max_total_time=30 [-seed=1] [CORPUS_DIR]`.
Without a corpus directory a temporary one is seeded with eth-account-signed transactions of
every type. Each input is, depending on its first bytes: raw bytes as given; a valid seed with
byte-level edits; or a valid seed whose RLP fields were rewritten, dropped or added (deep
field-level paths that random bytes rarely reach).

Invariant: every input either decodes or raises ValueError. A crash, an abort, a hang (the
libFuzzer `-timeout`), any other exception (a Rust panic would surface as PanicException),
or a decoded transaction whose attributes cannot all be read, fails the run.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import atheris
import rlp
from eth_account import Account

from platform_rust import DecodedTransaction, decode_transaction, decode_transactions

ATTRIBUTES = [name for name in dir(DecodedTransaction) if not name.startswith("_")]


def signed_seeds() -> list[bytes]:
    signer = Account.from_key("0x" + "42" * 32)
    to = Account.from_key("0x" + "43" * 32).address
    base: dict[str, Any] = {"nonce": 3, "gas": 90_000, "to": to, "value": 10**18, "data": b"\x01"}
    fees = {"maxFeePerGas": 10**9, "maxPriorityFeePerGas": 10**8}
    access = [{"address": to, "storageKeys": ["0x" + "00" * 31 + "01"]}]
    txs = [
        {**base, "gasPrice": 10**9},
        {**base, "gasPrice": 10**9, "chainId": 1},
        {**base, "gasPrice": 10**9, "chainId": 1, "type": 1, "accessList": access},
        {**base, **fees, "chainId": 1, "type": 2, "accessList": access},
        {
            **base,
            **fees,
            "chainId": 1,
            "type": 3,
            "maxFeePerBlobGas": 1,
            "blobVersionedHashes": ["0x01" + "22" * 31],
        },
        {
            **base,
            **fees,
            "chainId": 1,
            "type": 4,
            "authorizationList": [
                signer.sign_authorization({"chainId": 1, "address": to, "nonce": 1})
            ],
        },
    ]
    seeds = [bytes(signer.sign_transaction(tx).raw_transaction) for tx in txs]
    # The EIP-4844 network form (placeholder KZG data: the decoder does not verify it), with
    # a small blob so mutations stay fast.
    body = rlp.decode(seeds[4][1:])
    seeds.append(b"\x03" + rlp.encode([body, [b"\x00" * 64], [b"\xc0" * 48], [b"\xc0" * 48]]))
    return seeds


SEEDS = signed_seeds()


def byte_edits(fdp: atheris.FuzzedDataProvider, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        op, at = fdp.ConsumeIntInRange(0, 3), fdp.ConsumeIntInRange(0, max(len(data) - 1, 0))
        if op == 0 and data:
            data[at] = fdp.ConsumeInt(1) & 0xFF
        elif op == 1:
            data[at:at] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 8))
        elif op == 2 and data:
            del data[at : at + fdp.ConsumeIntInRange(1, 8)]
        else:
            data = data[:at] if fdp.ConsumeBool() else data + fdp.ConsumeBytes(4)
    return bytes(data)


def field_edit(fdp: atheris.FuzzedDataProvider, raw: bytes) -> bytes:
    typed = raw[0] < 0x80
    fields = rlp.decode(raw[1:] if typed else raw)
    at = fdp.ConsumeIntInRange(0, len(fields) - 1)
    choice = fdp.ConsumeIntInRange(0, 4)
    if choice == 0:
        fields[at] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
    elif choice == 1:
        fields[at] = [fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 33))]
    elif choice == 2:
        del fields[at]
    elif choice == 3:
        fields.insert(at, fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8)))
    else:  # a non-canonical integer: leading zero
        if isinstance(fields[at], bytes):
            fields[at] = b"\x00" + fields[at]
    encoded = rlp.encode(fields)
    return (raw[:1] + encoded) if typed else encoded


def check(raw: bytes) -> None:
    try:
        decoded = decode_transaction(raw)
    except ValueError:
        return
    for name in ATTRIBUTES:
        getattr(decoded, name)
    assert len(decoded.hash) == 66 and decoded.hash.startswith("0x"), decoded.hash
    assert decode_transactions([raw])[0].hash == decoded.hash
    try:
        decode_transaction(raw, recover_sender=True)
    except ValueError as err:
        assert "recover" in str(err), err


@atheris.instrument_func  # coverage of the harness's own branches (mode, edit kinds)
def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 2)
    if mode == 0:
        check(fdp.ConsumeBytes(fdp.remaining_bytes()))
        return
    seed = SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)]
    check(byte_edits(fdp, seed) if mode == 1 else field_edit(fdp, seed))


def main() -> None:
    argv = list(sys.argv)
    if not any(not arg.startswith("-") for arg in argv[1:]):
        corpus = Path(tempfile.mkdtemp(prefix="fuzz_decode_"))
        for index, seed in enumerate(SEEDS):
            # Mode 0 (as-is) prefix byte, then the seed: libFuzzer starts from valid txs.
            (corpus / f"seed{index}").write_bytes(b"\x00" + seed)
        argv.append(str(corpus))
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
