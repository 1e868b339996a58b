"""What a mined swap actually moved, read from its receipt rather than from the plan.

The planner's amounts are simulations; the receipt's ERC-20 `Transfer` logs are the truth.
Only transfers of the step's two tokens that cross the wallet's boundary count: what left
the wallet in `token_in`, what arrived in `token_out`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from platform_core.market.contracts import TRANSFER


@dataclass(frozen=True)
class MovedAmounts:
    amount_in: int
    amount_out: int


@dataclass(frozen=True)
class ReceiptSummary:
    block_number: int
    gas_used: int
    effective_gas_price: int
    moved: MovedAmounts


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value)


def _topic_address(topic: Any) -> str:
    return "0x" + _as_bytes(topic)[-20:].hex()


def moved_amounts(
    logs: Iterable[Mapping[str, Any]], *, wallet: str, token_in: str, token_out: str
) -> MovedAmounts:
    """Sum the `Transfer`s of `token_in` out of `wallet` and of `token_out` into it."""
    me, t_in, t_out = wallet.lower(), token_in.lower(), token_out.lower()
    transfer_topic = TRANSFER.topic
    sent = received = 0
    for log in logs:
        topics = log.get("topics") or []
        # A Transfer has exactly three topics; ERC-721's has four (the id is indexed).
        if len(topics) != 3 or _as_bytes(topics[0]) != transfer_topic:
            continue
        token = str(log["address"]).lower()
        source, target = _topic_address(topics[1]), _topic_address(topics[2])
        value = int.from_bytes(_as_bytes(log.get("data") or b""), "big")
        if source == target:
            continue  # a self-transfer moves nothing
        if token == t_in and source == me:
            sent += value
        if token == t_out and target == me:
            received += value
    return MovedAmounts(sent, received)


def summarize_receipt(
    receipt: Mapping[str, Any], *, wallet: str, token_in: str, token_out: str
) -> ReceiptSummary:
    return ReceiptSummary(
        block_number=int(receipt["blockNumber"]),
        gas_used=int(receipt["gasUsed"]),
        effective_gas_price=int(receipt.get("effectiveGasPrice") or 0),
        moved=moved_amounts(
            receipt.get("logs") or [], wallet=wallet, token_in=token_in, token_out=token_out
        ),
    )
