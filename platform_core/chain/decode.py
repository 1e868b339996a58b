"""Decode signed transaction bytes and check them against what was intended.

`decode_signed` uses eth-account; the platform's Rust decoder
(`platform_rust.decode_transaction`) can replace it behind the same function once it lands.
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

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


def _address(raw: bytes | str | None) -> str | None:
    if raw in (None, b"", ""):
        return None
    return to_checksum_address(raw)


def decode_signed(raw: bytes) -> DecodedTx:
    """Every field of a signed legacy (EIP-155) or typed (2930 / 1559) transaction.

    Raises `ValueError` on bytes that are not a signed transaction.
    """
    if not raw:
        raise ValueError("empty transaction bytes")
    try:
        sender = Account.recover_transaction(raw)
        if raw[0] <= 0x7F:
            typed = TypedTransaction.from_bytes(HexBytes(raw))
            fields = typed.as_dict()
            return DecodedTx(
                tx_type=raw[0],
                chain_id=fields.get("chainId"),
                nonce=fields["nonce"],
                to=_address(fields.get("to")),
                value=fields["value"],
                input=bytes(fields.get("data", b"")),
                gas_limit=fields["gas"],
                max_fee_per_gas=fields.get("maxFeePerGas"),
                max_priority_fee_per_gas=fields.get("maxPriorityFeePerGas"),
                gas_price=fields.get("gasPrice"),
                hash=keccak(raw),
                sender=sender,
            )
        nonce, gas_price, gas, to, value, data, v, _r, _s = rlp.decode(raw)
        v_int = int.from_bytes(v, "big")
        return DecodedTx(
            tx_type=0,
            chain_id=(v_int - 35) // 2 if v_int >= 35 else None,
            nonce=int.from_bytes(nonce, "big"),
            to=_address(bytes(to)),
            value=int.from_bytes(value, "big"),
            input=bytes(data),
            gas_limit=int.from_bytes(gas, "big"),
            max_fee_per_gas=None,
            max_priority_fee_per_gas=None,
            gas_price=int.from_bytes(gas_price, "big"),
            hash=keccak(raw),
            sender=sender,
        )
    except ValueError:
        raise
    except Exception as exc:  # rlp / eth-account raise many types on malformed input
        raise ValueError(f"not a signed transaction: {type(exc).__name__}") from None


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
