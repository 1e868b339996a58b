"""EIP-1559 fees: the ceiling refuses, never clamps; replacements bump by at least 12.5 %."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platform_core.chain.errors import FeeCeilingExceeded
from platform_core.chain.fees import Fees, fees_from_node, replacement_fees

GWEI = 10**9


def test_estimate_is_twice_the_base_fee_plus_tip() -> None:
    assert fees_from_node(10 * GWEI, GWEI, ceiling=100 * GWEI) == Fees(21 * GWEI, GWEI)


def test_estimate_above_the_ceiling_is_refused() -> None:
    with pytest.raises(FeeCeilingExceeded, match="exceeds the ceiling"):
        fees_from_node(60 * GWEI, GWEI, ceiling=100 * GWEI)


def test_exactly_the_ceiling_is_allowed() -> None:
    assert fees_from_node(45 * GWEI, 10 * GWEI, ceiling=100 * GWEI).max_fee_per_gas == 100 * GWEI


def test_invalid_fees_are_rejected() -> None:
    with pytest.raises(ValueError):
        Fees(1, 2)
    with pytest.raises(ValueError):
        Fees(-1, 0)


@given(st.integers(0, 10**12), st.integers(0, 10**12))
def test_replacement_bumps_both_fields_by_at_least_an_eighth(base: int, tip: int) -> None:
    previous = Fees(base + tip, tip)
    bumped = replacement_fees(previous, ceiling=2**256)
    assert bumped.max_fee_per_gas * 1000 >= previous.max_fee_per_gas * 1125
    assert bumped.max_priority_fee_per_gas * 1000 >= previous.max_priority_fee_per_gas * 1125
    assert bumped.max_fee_per_gas > previous.max_fee_per_gas
    assert bumped.max_priority_fee_per_gas > previous.max_priority_fee_per_gas


def test_replacement_follows_the_market_when_it_rose_more() -> None:
    bumped = replacement_fees(Fees(10, 1), Fees(50, 5), ceiling=100)
    assert bumped == Fees(50, 5)


def test_replacement_above_the_ceiling_is_refused() -> None:
    with pytest.raises(FeeCeilingExceeded):
        replacement_fees(Fees(95 * GWEI, GWEI), ceiling=100 * GWEI)
