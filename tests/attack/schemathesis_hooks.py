"""Schemathesis hooks for `test_schema_contract.py`, loaded by the CLI it runs
(`SCHEMATHESIS_HOOKS=tests.attack.schemathesis_hooks`).

- `eip55-address`: the format the API publishes for token addresses (0x and 40 hex
  digits, mixed case only as the EIP-55 checksum), generated as checksummed addresses.
- The body's `strategy_id` is the key's own, like the key itself: a schema cannot know
  which strategy a key belongs to (another one is 403 `STRATEGY_MISMATCH`, documented).
  Only a value that is a UUID is replaced, so a negative case whose broken part is the
  `strategy_id` stays broken.
- `positive_refusals_depend_on_state`: the stronger half of `positive_data_acceptance` for
  `POST /intents`, whose 422 is documented for the gate's denials (see the test module).
"""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

import schemathesis
from eth_utils import to_checksum_address
from hypothesis import strategies as st

# The refusals a request valid against the schema may get: they depend on live state (the
# chain's tokens, balances, routes and the strategy's wallet; an Idempotency-Key used before
# with another body), which no schema can carry.
STATE_REFUSALS = frozenset({"intent_denied", "idempotency_key_reused"})
# Rules between items of a list that JSON Schema cannot state (uniqueness by one member of
# the items; two lists with no member in common): the schema publishes them in prose only.
CROSS_ITEM_CODES = frozenset({"ASSET_DUPLICATE", "VENUES_CONFLICT"})

schemathesis.openapi.format(
    "eip55-address",
    st.binary(min_size=20, max_size=20).map(lambda raw: to_checksum_address("0x" + raw.hex())),
)


@schemathesis.hook("map_body")
def key_strategy(context: Any, body: Any) -> Any:
    strategy = os.environ.get("SEP_ATTACK_STRATEGY")
    if strategy is None or not isinstance(body, dict):
        return body
    value = body.get("strategy_id")
    try:
        UUID(value) if isinstance(value, str) else None
    except ValueError:
        return body
    if isinstance(value, str):
        return {**body, "strategy_id": strategy}
    return body


@schemathesis.check
def positive_refusals_depend_on_state(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request valid against the schema is never refused by a static rule: a 422 to one
    is a gate denial or a reused Idempotency-Key, never `validation_failed`."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    body = response.json()
    codes = set(body.get("reason_codes", ()))
    if body.get("error") in STATE_REFUSALS or (codes and codes <= CROSS_ITEM_CODES):
        return None
    raise AssertionError(f"a schema-valid request was refused by a static rule: {body}")
