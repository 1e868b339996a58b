"""Decode signed transaction bytes and check them against what was intended.

Decoding is the platform's Rust decoder (`platform_rust.decode_transaction`, built on
alloy's EIP-2718 decoding, with sender recovery); every envelope type is understood.
"""

from __future__ import annotations

from dataclasses import dataclass

import platform_rust
from platform_core.chain.errors import TransactionMismatch


@dataclass(frozen=True)
class DecodedTx:
    tx_type: int
    chain_id: int | None
    nonce: int
    to: str | None
    value: int
    input: bytes
    gas_limit: int
    max_fee_per_gas: int | None
    max_priority_fee_per_gas: int | None
    gas_price: int | None
    hash: bytes
    sender: str


@dataclass(frozen=True)
class IntendedTx:
    """What a step means to send; signed bytes must say exactly this."""

    chain_id: int
    sender: str
    nonce: int
    to: str
    value: int
    data: bytes
    max_fee_ceiling: int


def decode_signed(raw: bytes) -> DecodedTx:
    """Every field of a signed transaction, with its recovered sender.

    Raises `ValueError` on bytes that are not a signed transaction.
    """
    tx = platform_rust.decode_transaction(bytes(raw), recover_sender=True)
    if tx.sender is None:
        raise ValueError("the signature does not recover to a sender")
    return DecodedTx(
        tx_type=tx.tx_type,
        chain_id=tx.chain_id,
        nonce=tx.nonce,
        to=tx.to,
        value=tx.value,
        input=tx.input,
        gas_limit=tx.gas_limit,
        max_fee_per_gas=tx.max_fee_per_gas,
        max_priority_fee_per_gas=tx.max_priority_fee_per_gas,
        gas_price=tx.gas_price,
        hash=bytes.fromhex(tx.hash.removeprefix("0x")),
        sender=tx.sender,
    )


def check_matches(decoded: DecodedTx, intended: IntendedTx) -> None:
    """Raise `TransactionMismatch` naming every field where the bytes differ from intent."""
    problems = []
    if decoded.chain_id != intended.chain_id:
        problems.append(f"chain id {decoded.chain_id} != {intended.chain_id}")
    if decoded.sender.lower() != intended.sender.lower():
        problems.append(f"sender {decoded.sender} != {intended.sender}")
    if decoded.nonce != intended.nonce:
        problems.append(f"nonce {decoded.nonce} != {intended.nonce}")
    if (decoded.to or "").lower() != intended.to.lower():
        problems.append(f"to {decoded.to} != {intended.to}")
    if decoded.value != intended.value:
        problems.append(f"value {decoded.value} != {intended.value}")
    if decoded.input != intended.data:
        problems.append("calldata differs")
    fee = decoded.max_fee_per_gas if decoded.max_fee_per_gas is not None else decoded.gas_price
    if fee is None or fee > intended.max_fee_ceiling:
        problems.append(f"fee per gas {fee} above the ceiling {intended.max_fee_ceiling}")
    if problems:
        raise TransactionMismatch("signed transaction differs from intent: " + "; ".join(problems))
