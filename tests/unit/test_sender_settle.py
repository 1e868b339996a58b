"""Settling a step from what the node shows, with a small fake node: a receipt that appears
only after the account's nonce has moved is waited for (the step ends CONFIRMED); a step is
REPLACED only when the node shows another transaction, by hash, at its nonce; and a nonce
that moved while the node shows nothing at it leaves the step UNKNOWN, never REPLACED. A
transaction the node lost while its nonce is not mined is sent again: the journalled bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from pydantic import SecretStr

from platform_core.chain.journal import Attempt, AttemptKind, Journal, StepState
from platform_core.chain.sender import SenderPolicy, TransactionSender
from platform_core.chain.signer import Signer

NONCE = 341
OURS = bytes([0xAA]) * 32
THEIRS = bytes([0xBB]) * 32
BLOCK_HASH = bytes([0xCC]) * 32


class LaggingNode:
    """Our transaction is mined at `NONCE` (the account's mined nonce says so from the
    start), but its receipt and its by-hash lookup answer None for the first `late` calls;
    `taker` is what the node says holds the nonce (None: it does not say)."""

    def __init__(self, late: int, taker: bytes | None = None) -> None:
        self.late = late
        self.taker = taker
        self.receipt_calls = 0
        self.lookups = 0

    async def nonce(self, address: str, block: int | str = "pending") -> int:
        return NONCE + 1

    async def receipt(self, tx_hash: bytes) -> dict[str, Any] | None:
        self.receipt_calls += 1
        if tx_hash != OURS or self.taker not in (None, OURS) or self.receipt_calls <= self.late:
            return None
        return {"status": 1, "blockNumber": 95, "blockHash": BLOCK_HASH, "transactionHash": OURS}

    async def transaction(self, tx_hash: bytes) -> dict[str, Any] | None:
        self.lookups += 1
        return None  # lags as much as the receipts do

    async def mined_transaction_at(self, address: str, nonce: int) -> bytes | None:
        assert nonce == NONCE
        return self.taker


def sender_with(node: LaggingNode, tmp_path: Path, timeout_s: float = 30.0) -> TransactionSender:
    journal = Journal(tmp_path / "journal.sqlite")
    signer = Signer(SecretStr(Account.create().key.to_0x_hex()))
    journal.prepare("step:swap", chain_id=42161, sender=signer.address, to=signer.address,
                    value=0, data=b"", max_fee_ceiling=10**11)  # fmt: skip
    journal.record_signed(
        "step:swap", Attempt(OURS, b"raw", AttemptKind.ORIGINAL, NONCE, 10, 1), gas_limit=21_000
    )
    journal.set_state("step:swap", StepState.SUBMITTED)
    policy = SenderPolicy(fee_ceiling_wei=10**11, receipt_timeout_s=timeout_s, poll_interval_s=0)
    return TransactionSender(node, signer, journal, chain_id=42161, policy=policy)  # type: ignore[arg-type]


@pytest.mark.parametrize("taker", [None, OURS])  # the node says nothing / says it is ours
async def test_a_receipt_late_after_the_nonce_moved_is_waited_for(
    tmp_path: Path, taker: bytes | None
) -> None:
    node = LaggingNode(late=5, taker=taker)
    sender = sender_with(node, tmp_path)
    outcome = await sender.wait("step:swap")
    assert outcome.state is StepState.CONFIRMED and outcome.tx_hash == OURS
    assert node.receipt_calls > node.late  # the nonce had moved for every one of those
    record = sender.journal.get("step:swap")
    assert record.state is StepState.CONFIRMED and record.final_tx_hash == OURS
    assert (record.block_number, record.block_hash) == (95, BLOCK_HASH)


async def test_another_transaction_at_the_nonce_is_a_replacement(tmp_path: Path) -> None:
    sender = sender_with(LaggingNode(late=0, taker=THEIRS), tmp_path)
    outcome = await sender.wait("step:swap")
    assert outcome.state is StepState.REPLACED and outcome.tx_hash is None
    assert outcome.detail is not None and f"0x{THEIRS.hex()}" in outcome.detail
    assert sender.journal.get("step:swap").state is StepState.REPLACED


async def test_a_moved_nonce_with_nothing_shown_at_it_stays_unknown(tmp_path: Path) -> None:
    node = LaggingNode(late=10**9)  # the receipt never comes within the bound
    sender = sender_with(node, tmp_path, timeout_s=0.05)
    outcome = await sender.wait("step:swap")
    assert outcome.state is StepState.UNKNOWN  # not known: never a guess
    assert node.lookups > 0


class ForgetfulNode:
    """A node whose pool lost our transaction: it does not know the hash and the nonce is
    not mined, until the bytes come again; then it mines them. It remembers what was sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def nonce(self, address: str, block: int | str = "pending") -> int:
        return NONCE + 1 if self.sent else NONCE

    async def receipt(self, tx_hash: bytes) -> dict[str, Any] | None:
        if not self.sent:
            return None
        return {"status": 1, "blockNumber": 96, "blockHash": BLOCK_HASH, "transactionHash": tx_hash}

    async def transaction(self, tx_hash: bytes) -> dict[str, Any] | None:
        return {"hash": tx_hash, "blockNumber": 96} if self.sent else None

    async def send_raw(self, raw: bytes) -> bytes:
        self.sent.append(raw)
        return raw

    async def check_chain(self) -> None:
        return None


async def test_a_transaction_the_node_dropped_is_sent_again_as_journalled(
    tmp_path: Path,
) -> None:
    node = ForgetfulNode()
    journal = Journal(tmp_path / "journal.sqlite")
    signer = Signer(SecretStr(Account.create().key.to_0x_hex()))
    journal.prepare("step:swap", chain_id=42161, sender=signer.address, to=signer.address,
                    value=0, data=b"", max_fee_ceiling=10**11)  # fmt: skip
    signed = signer.sign({"type": 2, "chainId": 42161, "nonce": NONCE, "to": signer.address,
                          "value": 0, "data": b"", "gas": 21_000, "maxFeePerGas": 10,
                          "maxPriorityFeePerGas": 1})  # fmt: skip
    attempt = Attempt(signed.hash, signed.raw, AttemptKind.ORIGINAL, NONCE, 10, 1)
    journal.record_signed("step:swap", attempt, gas_limit=21_000)
    journal.set_state("step:swap", StepState.SUBMITTED)
    policy = SenderPolicy(fee_ceiling_wei=10**11, receipt_timeout_s=30, poll_interval_s=0,
                          redeliver_after_s=0)  # fmt: skip
    sender = TransactionSender(node, signer, journal, chain_id=42161, policy=policy)  # type: ignore[arg-type]
    sender.check_chain = node.check_chain  # type: ignore[method-assign]  # no chain to bind

    outcome = await sender.wait("step:swap")
    assert outcome.state is StepState.CONFIRMED and outcome.tx_hash == signed.hash
    assert node.sent == [signed.raw]  # the journalled bytes, once: never signed again
    assert len(journal.get("step:swap").attempts) == 1
