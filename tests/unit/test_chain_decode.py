"""Signed bytes are decoded and checked against intent before any broadcast."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account
from pydantic import SecretStr

from platform_core.chain.abi import Function, revert_reason
from platform_core.chain.decode import IntendedTx, check_matches, decode_signed
from platform_core.chain.errors import TransactionMismatch
from platform_core.chain.signer import Signer

KEY = "0x" + "3d" * 32  # a throwaway key made up for these tests
ROUTER = "0x2279B7A0a67DB372996a5FaB50D91eAA73d2eBe6"


def signed_1559(**overrides: object) -> bytes:
    fields = {
        "type": 2, "chainId": 42161, "nonce": 7, "to": ROUTER, "value": 5, "data": b"\xab\xcd",
        "gas": 100_000, "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**8,
    }  # fmt: skip
    return Signer(SecretStr(KEY)).sign({**fields, **overrides}).raw


def intended() -> IntendedTx:
    sender = Account.from_key(KEY).address
    return IntendedTx(42161, sender, 7, ROUTER, 5, b"\xab\xcd", 10 * 10**9)


def test_decodes_every_field_of_a_1559_transaction() -> None:
    decoded = decode_signed(signed_1559())
    assert (decoded.tx_type, decoded.chain_id, decoded.nonce) == (2, 42161, 7)
    assert (decoded.to, decoded.value, decoded.input) == (ROUTER, 5, b"\xab\xcd")
    assert (decoded.gas_limit, decoded.max_fee_per_gas) == (100_000, 2 * 10**9)
    assert decoded.sender == Account.from_key(KEY).address
    check_matches(decoded, intended())


def test_decodes_a_legacy_transaction() -> None:
    raw = Account.from_key(KEY).sign_transaction(
        {"chainId": 42161, "nonce": 7, "to": ROUTER, "value": 5, "data": b"\xab\xcd",
         "gas": 100_000, "gasPrice": 10**9}
    ).raw_transaction  # fmt: skip
    decoded = decode_signed(bytes(raw))
    assert (decoded.tx_type, decoded.chain_id, decoded.gas_price) == (0, 42161, 10**9)
    check_matches(decoded, intended())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("chain_id", 1, "chain id"),
        ("nonce", 8, "nonce"),
        ("to", "0x" + "11" * 20, "to"),
        ("value", 6, "value"),
        ("data", b"\x00", "calldata"),
        ("max_fee_ceiling", 10**9, "ceiling"),
        ("sender", "0x" + "22" * 20, "sender"),
    ],
)
def test_any_difference_from_intent_is_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(TransactionMismatch, match=message):
        check_matches(decode_signed(signed_1559()), replace(intended(), **{field: value}))


@pytest.mark.parametrize("raw", [b"", b"\x02", b"\x02\xc0", b"\xf8\x00garbage", b"\x00" * 40])
def test_malformed_bytes_are_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_signed(raw)


def test_signer_never_shows_its_key() -> None:
    signer = Signer(SecretStr(KEY))
    assert KEY[2:] not in repr(signer) + str(signer)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(signer)
    with pytest.raises(ValueError) as info:
        Signer(SecretStr("0x1234"))
    assert "1234" not in str(info.value)


def test_abi_round_trip_and_revert_reasons() -> None:
    fn = Function("exactInput((bytes,address,uint256,uint256,uint256))", ("uint256",))
    args = ((b"\x01" * 43, ROUTER, 1, 2, 3),)
    assert fn.decode_input(fn.encode(*args)) == args
    error = Function("Error(string)").encode("Too little received")
    assert revert_reason(error) == "Too little received"
    assert revert_reason(Function("Panic(uint256)").encode(0x11)) == "panic 0x11"
    assert revert_reason(None) == "reverted without a reason"
    assert revert_reason(b"\xde\xad\xbe\xef").startswith("custom error 0x")
