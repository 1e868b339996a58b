"""What an intent pays, when no route says it.

A routed intent pays exactly what its plan's legs take in; that is what the gate reserves
(`platform_core/intent/ledger.py`). When routing failed, the gate still reports a balance
that cannot cover a DISPOSE: it pays its sized assets, the amount asked exactly, or a
percentage as that share of the balance. An ACQUIRE's cost is only known from a route.
"""

from __future__ import annotations

from collections.abc import Mapping

from platform_core.types.intent import Intent, IntentType


def paid_amounts(intent: Intent, balances: Mapping[str, int]) -> dict[str, int]:
    """Token address (lower case) -> base units a DISPOSE pays; `balances` (lower-case
    addresses) sizes its percentages. Empty for an ACQUIRE."""
    paid: dict[str, int] = {}
    if intent.type is not IntentType.DISPOSE:
        return paid
    for spec in intent.sized_assets:
        key = spec.asset.address.lower()
        if spec.amount is not None:
            amount = spec.base_units()
        else:
            assert spec.percentage is not None
            numerator, denominator = spec.percentage.as_integer_ratio()
            amount = balances.get(key, 0) * numerator // (denominator * 100)
        paid[key] = paid.get(key, 0) + amount
    return paid
