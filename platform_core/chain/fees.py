"""EIP-1559 fees: an estimate from the node, a ceiling that is enforced, never clamped, and
the bump a replacement needs."""

from __future__ import annotations

from dataclasses import dataclass

from platform_core.chain.errors import FeeCeilingExceeded

# Nodes (geth, anvil) accept a replacement at the same nonce only when both fee fields rise
# by at least 10 %; 12.5 % leaves a margin and matches what wallets use.
REPLACEMENT_BUMP_NUM, REPLACEMENT_BUMP_DEN = 1125, 1000


@dataclass(frozen=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    def __post_init__(self) -> None:
        if self.max_priority_fee_per_gas < 0 or self.max_fee_per_gas < 0:
            raise ValueError("fees cannot be negative")
        if self.max_priority_fee_per_gas > self.max_fee_per_gas:
            raise ValueError("max_priority_fee_per_gas exceeds max_fee_per_gas")


def fees_from_node(
    base_fee: int, priority_fee: int, *, ceiling: int | None, base_fee_multiplier: int = 2
) -> Fees:
    """maxFee = multiplier x base fee + tip: room for the base fee to rise for a few blocks.

    Raises `FeeCeilingExceeded` when that is above `ceiling` (wei per gas).
    """
    fees = Fees(base_fee * base_fee_multiplier + priority_fee, priority_fee)
    if ceiling is not None:
        check_ceiling(fees, ceiling)
    return fees


def check_ceiling(fees: Fees, ceiling: int) -> None:
    if fees.max_fee_per_gas > ceiling:
        raise FeeCeilingExceeded(
            f"max fee per gas {fees.max_fee_per_gas} wei exceeds the ceiling of {ceiling} wei"
        )


def _bump(value: int) -> int:
    bumped = -(-value * REPLACEMENT_BUMP_NUM // REPLACEMENT_BUMP_DEN)  # ceiling division
    return max(bumped, value + 1)


def replacement_fees(previous: Fees, current: Fees | None = None, *, ceiling: int) -> Fees:
    """Fees for a same-nonce replacement: at least +12.5 % on both fields, or the node's
    current estimate when that is higher. Above the ceiling it raises, like any estimate."""
    priority = _bump(previous.max_priority_fee_per_gas)
    max_fee = _bump(previous.max_fee_per_gas)
    if current is not None:
        priority = max(priority, current.max_priority_fee_per_gas)
        max_fee = max(max_fee, current.max_fee_per_gas)
    fees = Fees(max(max_fee, priority), priority)
    check_ceiling(fees, ceiling)
    return fees
