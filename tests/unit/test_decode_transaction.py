"""`decode_transaction` / `decode_transactions` against transactions signed here with eth-account.

Every envelope type is signed by eth-account. The EIP-4844 *network* forms (with blobs,
commitments and proofs) are assembled around an eth-account-signed type-3 payload with pyrlp:
eth-account can sign with real blobs, but computing the KZG cell proofs takes seconds, and the
decoder does not verify KZG data, so placeholder blobs/commitments/proofs exercise the same path.
One test still signs with a real blob through eth-account, end to end.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

import platform_rust
from platform_rust import DecodedTransaction, decode_transaction, decode_transactions

SIGNER = Account.from_key("0x" + "42" * 32)
OTHER = Account.from_key("0x" + "43" * 32)
RECIPIENT = to_checksum_address("0x" + "ab" * 20)
TOKEN = to_checksum_address("0x" + "cd" * 20)
STORAGE_KEY = "0x" + "00" * 31 + "07"
BLOB_HASH = "0x01" + "5a" * 31

BASE_FIELDS: dict[str, Any] = {
    "nonce": 7,
    "gas": 210_000,
    "to": RECIPIENT,
    "value": 12 * 10**18 + 345,
    "data": b"\xa9\x05\x9c\xbb" + b"\x00" * 64,
}
FEE_MARKET = {"maxFeePerGas": 3 * 10**9, "maxPriorityFeePerGas": 10**8}
ACCESS_LIST = [{"address": TOKEN, "storageKeys": [STORAGE_KEY]}]


def _sign(tx: dict[str, Any], account: Any = SIGNER) -> bytes:
    return bytes(account.sign_transaction(tx).raw_transaction)


def _tx_hash(tx: dict[str, Any]) -> str:
    return "0x" + SIGNER.sign_transaction(tx).hash.hex()


LEGACY_PRE155 = {**BASE_FIELDS, "gasPrice": 2 * 10**9}
LEGACY_155 = {**LEGACY_PRE155, "chainId": 42161}
EIP2930 = {**LEGACY_PRE155, "type": 1, "chainId": 42161, "accessList": ACCESS_LIST}
EIP1559 = {**BASE_FIELDS, **FEE_MARKET, "type": 2, "chainId": 42161, "accessList": ACCESS_LIST}
EIP4844 = {
    **BASE_FIELDS,
    **FEE_MARKET,
    "type": 3,
    "chainId": 1,
    "accessList": [],
    "maxFeePerBlobGas": 5 * 10**9,
    "blobVersionedHashes": [BLOB_HASH],
}
AUTHORIZATION = {"chainId": 42161, "address": TOKEN, "nonce": 8}
EIP7702 = {
    **BASE_FIELDS,
    **FEE_MARKET,
    "type": 4,
    "chainId": 42161,
    "accessList": [],
    "authorizationList": [SIGNER.sign_authorization(AUTHORIZATION)],
}
CREATE_1559 = {
    **{k: v for k, v in BASE_FIELDS.items() if k != "to"},
    **FEE_MARKET,
    "type": 2,
    "chainId": 42161,
}

ALL_TYPES = {
    "legacy_pre155": LEGACY_PRE155,
    "legacy_155": LEGACY_155,
    "eip2930": EIP2930,
    "eip1559": EIP1559,
    "eip4844": EIP4844,
    "eip7702": EIP7702,
    "create": CREATE_1559,
}
RAW = {name: _sign(tx) for name, tx in ALL_TYPES.items()}


def _network_blob_form(consensus_raw: bytes, *, cell_proofs: bool) -> bytes:
    """Wraps a signed type-3 payload in the pooled (network) form with placeholder KZG data."""
    body = rlp.decode(consensus_raw[1:])
    blob, commitment = b"\x01" * 131072, b"\xc0" + b"\x00" * 47
    if cell_proofs:  # EIP-7594: [tx, wrapper_version=1, blobs, commitments, 128 cell proofs]
        wrapper = [body, b"\x01", [blob], [commitment], [commitment] * 128]
    else:  # EIP-4844: [tx, blobs, commitments, proofs]
        wrapper = [body, [blob], [commitment], [commitment]]
    return b"\x03" + rlp.encode(wrapper)


# ---------------------------------------------------------------- well-formed transactions


@pytest.mark.parametrize("name", list(ALL_TYPES))
def test_decodes_the_signed_fields(name: str) -> None:
    tx = ALL_TYPES[name]
    decoded = decode_transaction(RAW[name], recover_sender=True)

    assert isinstance(decoded, DecodedTransaction)
    assert decoded.tx_type == tx.get("type", 0)
    assert decoded.chain_id == tx.get("chainId")
    assert decoded.nonce == tx["nonce"]
    assert decoded.to == tx.get("to")
    assert decoded.value == tx["value"]
    assert decoded.input == tx["data"]
    assert decoded.gas_limit == tx["gas"]
    assert decoded.gas_price == tx.get("gasPrice")
    assert decoded.max_fee_per_gas == tx.get("maxFeePerGas")
    assert decoded.max_priority_fee_per_gas == tx.get("maxPriorityFeePerGas")
    assert decoded.max_fee_per_blob_gas == tx.get("maxFeePerBlobGas")
    expected_access = [(a["address"], a["storageKeys"]) for a in tx.get("accessList", [])]
    assert decoded.access_list == expected_access
    assert decoded.blob_versioned_hashes == tx.get("blobVersionedHashes", [])
    assert decoded.hash == _tx_hash(tx)
    assert decoded.sender == SIGNER.address
    assert not decoded.has_blob_sidecar


@pytest.mark.parametrize("name", list(ALL_TYPES))
def test_signature_fields_match_eth_account(name: str) -> None:
    signed = SIGNER.sign_transaction(ALL_TYPES[name])
    decoded = decode_transaction(RAW[name])
    assert (decoded.r, decoded.s) == (signed.r, signed.s)
    if decoded.tx_type == 0:
        assert decoded.v == signed.v
        assert decoded.y_parity == (signed.v - 27 if signed.v < 35 else (signed.v - 35) % 2)
    else:
        assert decoded.v is None
        assert decoded.y_parity == signed.v


def test_legacy_v_encodes_eip155_chain_id() -> None:
    assert decode_transaction(RAW["legacy_pre155"]).v in (27, 28)
    assert decode_transaction(RAW["legacy_155"]).v in (42161 * 2 + 35, 42161 * 2 + 36)


def test_sender_is_none_unless_recovered() -> None:
    decoded = decode_transaction(RAW["eip1559"])
    assert decoded.sender is None
    assert decode_transaction(RAW["eip1559"], recover_sender=True).sender == SIGNER.address
    other = decode_transaction(_sign(EIP1559, OTHER), recover_sender=True)
    assert other.sender == OTHER.address


def test_authorization_list_fields_and_authority() -> None:
    signed_auth = EIP7702["authorizationList"][0]
    (auth,) = decode_transaction(RAW["eip7702"], recover_sender=True).authorization_list
    assert auth.chain_id == AUTHORIZATION["chainId"]
    assert auth.address == AUTHORIZATION["address"]
    assert auth.nonce == AUTHORIZATION["nonce"]
    assert (auth.y_parity, auth.r, auth.s) == (signed_auth.y_parity, signed_auth.r, signed_auth.s)
    assert auth.authority == SIGNER.address
    (unrecovered,) = decode_transaction(RAW["eip7702"]).authorization_list
    assert unrecovered.authority is None


def test_authorizations_of_several_signers() -> None:
    auths = [SIGNER.sign_authorization(AUTHORIZATION), OTHER.sign_authorization(AUTHORIZATION)]
    decoded = decode_transaction(
        _sign({**EIP7702, "authorizationList": auths}), recover_sender=True
    )
    assert [a.authority for a in decoded.authorization_list] == [SIGNER.address, OTHER.address]


@pytest.mark.parametrize("cell_proofs", [False, True], ids=["eip4844_proofs", "eip7594_cells"])
def test_blob_network_form_decodes_like_the_consensus_form(cell_proofs: bool) -> None:
    network = _network_blob_form(RAW["eip4844"], cell_proofs=cell_proofs)
    decoded = decode_transaction(network, recover_sender=True)
    canonical = decode_transaction(RAW["eip4844"])
    assert decoded.has_blob_sidecar
    # The hash is over the form without the sidecar, as the chain reports it.
    assert decoded.hash == canonical.hash == "0x" + keccak(RAW["eip4844"]).hex()
    assert decoded.sender == SIGNER.address
    assert decoded.blob_versioned_hashes == [BLOB_HASH]
    assert decoded.max_fee_per_blob_gas == EIP4844["maxFeePerBlobGas"]


def test_blob_transaction_signed_with_a_real_blob_by_eth_account() -> None:
    tx = {k: v for k, v in EIP4844.items() if k != "blobVersionedHashes"}
    signed = SIGNER.sign_transaction(tx, blobs=[b"\x00" * 131072])
    decoded = decode_transaction(bytes(signed.raw_transaction), recover_sender=True)
    assert decoded.has_blob_sidecar
    assert decoded.sender == SIGNER.address
    assert len(decoded.blob_versioned_hashes) == 1
    # eth-account's `hash` for the network form covers the blobs too; the transaction hash is
    # the one of the same signed transaction without them.
    body = rlp.decode(bytes(signed.raw_transaction)[1:])[0]
    assert decoded.hash == "0x" + keccak(b"\x03" + rlp.encode(body)).hex()


def test_huge_value_is_an_exact_int() -> None:
    value = 2**256 - 1
    decoded = decode_transaction(_sign({**EIP1559, "value": value}))
    assert decoded.value == value


def test_accepts_bytearray_and_memoryview() -> None:
    raw = RAW["eip1559"]
    assert decode_transaction(bytearray(raw)).hash == decode_transaction(raw).hash
    assert decode_transaction(memoryview(raw)).hash == decode_transaction(raw).hash


def test_repr_names_the_key_fields() -> None:
    text = repr(decode_transaction(RAW["eip1559"], recover_sender=True))
    assert text.startswith("DecodedTransaction(tx_type=2")
    assert RECIPIENT in text and SIGNER.address in text


def test_decoded_transaction_is_frozen() -> None:
    decoded = decode_transaction(RAW["legacy_155"])
    with pytest.raises(AttributeError):
        decoded.nonce = 1  # type: ignore[misc]


# ---------------------------------------------------------------- batch


def test_batch_matches_single_decodes_in_order() -> None:
    raws = list(RAW.values()) * 3
    batch = decode_transactions(raws, recover_sender=True)
    assert [d.hash for d in batch] == [decode_transaction(r).hash for r in raws]
    assert {d.sender for d in batch} == {SIGNER.address}


def test_batch_accepts_any_iterable_and_empty() -> None:
    assert decode_transactions([]) == []
    assert len(decode_transactions(iter([RAW["eip2930"], bytearray(RAW["eip1559"])]))) == 2


def test_batch_raise_names_the_bad_index() -> None:
    raws = [RAW["eip1559"], RAW["legacy_155"], RAW["eip1559"][:-3], RAW["eip2930"]]
    with pytest.raises(ValueError, match=r"^transaction 2: "):
        decode_transactions(raws)


def test_batch_return_mode_puts_errors_in_place() -> None:
    raws = [RAW["eip1559"], b"\x05\xc0", RAW["legacy_155"], b""]
    results = decode_transactions(raws, errors="return")
    assert isinstance(results[0], DecodedTransaction)
    assert isinstance(results[1], ValueError) and "transaction 1" in str(results[1])
    assert isinstance(results[2], DecodedTransaction)
    assert isinstance(results[3], ValueError) and "transaction 3" in str(results[3])


def test_batch_rejects_unknown_error_mode_and_non_bytes() -> None:
    with pytest.raises(ValueError, match="errors must be"):
        decode_transactions([RAW["eip1559"]], errors="ignore")
    with pytest.raises(TypeError):
        decode_transactions([RAW["eip1559"], "0x02f8"])


# ---------------------------------------------------------------- malformed input


def _typed_fields(raw: bytes) -> tuple[bytes, list[Any]]:
    return raw[:1], rlp.decode(raw[1:])


def _reencode_typed(raw: bytes, edit: Callable[[list[Any]], list[Any]]) -> bytes:
    prefix, fields = _typed_fields(raw)
    return prefix + rlp.encode(edit(fields))


def _with_leading_zero_nonce(raw: bytes) -> bytes:
    # Fields: [chain_id, nonce, ...]; b"\x00\x07" is 7 with a non-canonical leading zero.
    return _reencode_typed(raw, lambda f: [f[0], b"\x00" + f[1], *f[2:]])


def _single_byte_as_string(raw: bytes) -> bytes:
    # A single byte < 0x80 must encode as itself, not as the string 0x81 0x07.
    prefix, fields = _typed_fields(raw)
    encoded = rlp.encode(fields)
    assert encoded[0] == 0xF8  # two-byte list header
    nonce_at = 2 + len(rlp.encode(fields[0]))
    assert encoded[nonce_at] == 7
    payload = encoded[2:nonce_at] + b"\x81\x07" + encoded[nonce_at + 1 :]
    return prefix + b"\xf8" + bytes([len(payload)]) + payload


def _long_length_with_leading_zero(raw: bytes) -> bytes:
    # Legacy list header 0xf8 LEN re-spelled as 0xf9 0x00 LEN.
    assert raw[0] == 0xF8
    return b"\xf9\x00" + raw[1:]


def _long_form_for_short_list(raw: bytes) -> bytes:
    # A list shorter than 56 bytes must use the short header.
    short = rlp.encode([b"\x01"] * 9)
    return b"\x02\xf8" + bytes([len(short) - 1]) + short[1:]


MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "type_byte_only": b"\x02",
    "truncated_legacy": RAW["legacy_155"][:-1],
    "truncated_typed": RAW["eip1559"][: len(RAW["eip1559"]) // 2],
    "truncated_7702": RAW["eip7702"][:-10],
    "trailing_byte_legacy": RAW["legacy_pre155"] + b"\x00",
    "trailing_bytes_typed": RAW["eip1559"] + b"\xc0",
    "trailing_transaction": RAW["eip2930"] + RAW["eip2930"],
    "leading_zero_integer": _with_leading_zero_nonce(RAW["eip1559"]),
    "single_byte_as_string": _single_byte_as_string(RAW["eip1559"]),
    "length_with_leading_zero": _long_length_with_leading_zero(RAW["legacy_155"]),
    "long_form_for_short_list": _long_form_for_short_list(RAW["eip1559"]),
    "missing_field": _reencode_typed(RAW["eip1559"], lambda f: f[:-1]),
    "extra_field": _reencode_typed(RAW["eip1559"], lambda f: [*f, b"\x01"]),
    "legacy_missing_field": rlp.encode(rlp.decode(RAW["legacy_155"])[1:]),
    "legacy_extra_field": rlp.encode([*rlp.decode(RAW["legacy_155"]), b""]),
    "legacy_bad_v": rlp.encode(
        [*rlp.decode(RAW["legacy_155"])[:6], b"\x1d", *rlp.decode(RAW["legacy_155"])[7:]]
    ),
    "typed_y_parity_2": _reencode_typed(RAW["eip1559"], lambda f: [*f[:-3], b"\x02", *f[-2:]]),
    "unknown_type_5": b"\x05" + RAW["eip1559"][1:],
    "unknown_type_7f": b"\x7f" + RAW["eip1559"][1:],
    "type_zero_prefix": b"\x00" + RAW["legacy_155"],
    "string_not_list": b"\x80",
    "typed_string_payload": b"\x02" + rlp.encode(b"\x01" * 80),
    "length_beyond_input": RAW["legacy_155"][:1]
    + bytes([RAW["legacy_155"][1] + 5])
    + RAW["legacy_155"][2:],
    "huge_declared_length": b"\x02\xfb\xff\xff\xff\xff\xff\xff\xff",
    "address_too_short": _reencode_typed(RAW["eip1559"], lambda f: [*f[:5], f[5][:19], *f[6:]]),
    "blob_tx_without_sidecar_lists": b"\x03"
    + rlp.encode([rlp.decode(RAW["eip4844"][1:]), b"\x01"]),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_input_raises_value_error(name: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        decode_transaction(MALFORMED[name])
    with pytest.raises(ValueError, match=r"^transaction 1: "):
        decode_transactions([RAW["eip1559"], MALFORMED[name]])


def test_unrecoverable_signature_raises_only_when_recovering() -> None:
    zero_r = _reencode_typed(RAW["eip1559"], lambda f: [*f[:-2], b"", f[-1]])
    assert decode_transaction(zero_r).r == 0
    with pytest.raises(ValueError, match="recover"):
        decode_transaction(zero_r, recover_sender=True)


def test_high_s_signature_is_refused_on_recovery() -> None:
    secp256k1_n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

    def to_high_s(fields: list[Any]) -> list[Any]:
        y_parity, s = fields[-3], int.from_bytes(fields[-1], "big")
        return [
            *fields[:-3],
            b"" if y_parity else b"\x01",
            fields[-2],
            (secp256k1_n - s).to_bytes(32, "big"),
        ]

    high_s = _reencode_typed(RAW["eip1559"], to_high_s)
    assert decode_transaction(high_s).s > secp256k1_n // 2
    with pytest.raises(ValueError, match="recover"):
        decode_transaction(high_s, recover_sender=True)


def test_every_prefix_and_single_byte_flip_is_handled() -> None:
    """Cheap exhaustive sweep; the bounded coverage-guided fuzzer lives in tests/fuzz."""
    for raw in RAW.values():
        for end in range(len(raw)):
            with pytest.raises(ValueError):
                decode_transaction(raw[:end])
        for index in range(len(raw)):
            mutated = bytearray(raw)
            mutated[index] ^= 0xFF
            try:
                decode_transaction(bytes(mutated), recover_sender=True)
            except ValueError:
                pass


def test_large_recovering_batch_keeps_order_and_error_index() -> None:
    # >= 64 items with recovery takes the multi-threaded path.
    raws = [_sign({**EIP1559, "nonce": n}, SIGNER if n % 2 else OTHER) for n in range(150)]
    decoded = decode_transactions(raws, recover_sender=True)
    assert [d.nonce for d in decoded] == list(range(150))
    assert [d.sender for d in decoded] == [
        SIGNER.address if n % 2 else OTHER.address for n in range(150)
    ]
    broken = [*raws[:100], raws[100][:-1], *raws[101:130], b"\x09", *raws[131:]]
    with pytest.raises(ValueError, match=r"^transaction 100: "):
        decode_transactions(broken, recover_sender=True)
    results = decode_transactions(broken, recover_sender=True, errors="return")
    assert [i for i, r in enumerate(results) if isinstance(r, ValueError)] == [100, 130]
    assert results[149].nonce == 149


# -------------------------------------------------------- property: signed fields round-trip

addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
uint64 = st.integers(min_value=0, max_value=2**64 - 1)
access_lists = st.lists(
    st.fixed_dictionaries(
        {
            "address": addresses,
            "storageKeys": st.lists(
                st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()), max_size=3
            ),
        }
    ),
    max_size=3,
)


@st.composite
def signable_transactions(draw: st.DrawFn) -> dict[str, Any]:
    tx_type = draw(st.sampled_from([0, 1, 2, 4]))
    tx: dict[str, Any] = {
        "nonce": draw(uint64),
        "gas": draw(st.integers(min_value=21_000, max_value=2**63)),
        "value": draw(st.integers(min_value=0, max_value=2**256 - 1)),
        "data": draw(st.binary(max_size=200)),
    }
    if tx_type == 4 or draw(st.booleans()):
        tx["to"] = draw(addresses)
    chain_id = draw(st.integers(min_value=1, max_value=2**32))
    if tx_type == 0:
        tx["gasPrice"] = draw(uint64)
        if draw(st.booleans()):
            tx["chainId"] = chain_id
        return tx
    tx.update(type=tx_type, chainId=chain_id, accessList=draw(access_lists))
    if tx_type == 1:
        tx["gasPrice"] = draw(uint64)
    else:
        tx["maxFeePerGas"] = draw(uint64)
        tx["maxPriorityFeePerGas"] = draw(uint64)
    if tx_type == 4:
        auths = st.fixed_dictionaries(
            {"chainId": st.integers(0, 2**64), "address": addresses, "nonce": uint64}
        )
        tx["authorizationList"] = [
            SIGNER.sign_authorization(a) for a in draw(st.lists(auths, min_size=1, max_size=2))
        ]
    return tx


@settings(max_examples=60, deadline=None)
@given(tx=signable_transactions())
def test_random_signed_transactions_round_trip(tx: dict[str, Any]) -> None:
    signed = SIGNER.sign_transaction(tx)
    decoded = decode_transaction(bytes(signed.raw_transaction), recover_sender=True)
    assert decoded.tx_type == tx.get("type", 0)
    assert decoded.chain_id == tx.get("chainId")
    assert (decoded.nonce, decoded.gas_limit, decoded.value) == (
        tx["nonce"],
        tx["gas"],
        tx["value"],
    )
    assert decoded.to == tx.get("to")
    assert decoded.input == tx["data"]
    assert decoded.gas_price == tx.get("gasPrice")
    assert decoded.max_fee_per_gas == tx.get("maxFeePerGas")
    assert decoded.max_priority_fee_per_gas == tx.get("maxPriorityFeePerGas")
    assert decoded.access_list == [
        (a["address"], a["storageKeys"]) for a in tx.get("accessList", [])
    ]
    assert [(a.chain_id, a.address, a.nonce, a.authority) for a in decoded.authorization_list] == [
        (a.chain_id, to_checksum_address(a.address), a.nonce, SIGNER.address)
        for a in tx.get("authorizationList", [])
    ]
    assert (decoded.r, decoded.s) == (signed.r, signed.s)
    assert decoded.hash == "0x" + signed.hash.hex()
    assert decoded.sender == SIGNER.address


def test_type_stub_covers_the_decoding_classes() -> None:
    stub = ast.parse(Path(platform_rust.__file__).with_name("_platform_rust.pyi").read_text())
    stubbed = {
        node.name: {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
        for node in stub.body
        if isinstance(node, ast.ClassDef)
    }
    for cls in (platform_rust.DecodedTransaction, platform_rust.Authorization):
        public = {name for name in dir(cls) if not name.startswith("_")}
        assert public == stubbed[cls.__name__], cls.__name__
    functions = {node.name for node in stub.body if isinstance(node, ast.FunctionDef)}
    assert {"decode_transaction", "decode_transactions"} <= functions
    assert set(platform_rust.__all__) <= functions | set(stubbed) | {"__version__"}
