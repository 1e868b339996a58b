"""An intent's log written under one chain configuration, for the replay tests: the
configured-chain rule is intake's, so the log must decode under any later `SEP_CHAINS`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from platform_core.config import get_settings
from platform_core.intent.aggregate import IntentAggregate
from platform_core.types import (
    ChildOrder,
    EventEnvelope,
    ExecutionCompleted,
    ExecutionPlan,
    ExecutionStep,
    Intent,
    IntentDecomposed,
    IntentSubmission,
    IntentSubmitted,
    PlanCreated,
    RouteHop,
)

CHAIN_NAMES = {42161: "arbitrum", 10: "optimism"}


@contextmanager
def chains_configured(*chain_ids: int) -> Iterator[None]:
    """`SEP_CHAINS` naming only `chain_ids` while inside (settings are cached: cleared on
    the way in and out)."""
    before = os.environ.get("SEP_CHAINS")
    os.environ["SEP_CHAINS"] = json.dumps(
        {str(c): {"name": CHAIN_NAMES[c], "rpc_url": "http://127.0.0.1:9"} for c in chain_ids}
    )
    get_settings.cache_clear()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SEP_CHAINS", None)
        else:
            os.environ["SEP_CHAINS"] = before
        get_settings.cache_clear()


def written_log(seed: dict[str, Any]) -> list[EventEnvelope]:
    """The seed intent accepted at intake (its chain must be configured now), planned in
    one step and completed: its events as the log holds them."""
    intent = Intent.from_submission(IntentSubmission.model_validate(seed))
    usdc, weth = intent.counter_asset, intent.sized_assets[0]
    assert usdc is not None
    amount_in, amount_out = 4_500_000_000, weth.base_units()
    step = ExecutionStep(
        index=0, venue="uniswap_v3", chain_id=intent.chain_id, token_in=usdc.asset.address,
        token_out=weth.asset.address, amount_in=amount_in, expected_amount_out=amount_out,
        min_amount_out=amount_out, deadline=intent.deadline,
        hops=[RouteHop(pool_id="pool", token_in=usdc.asset.address,
                       token_out=weth.asset.address, fee_pips=500, amount_in=amount_in,
                       amount_out=amount_out)],
    )  # fmt: skip
    planned_at = intent.created_at + timedelta(milliseconds=50)
    plan = ExecutionPlan(intent_id=intent.id, created_at=planned_at, steps=[step])
    order = ChildOrder(index=0, token_in=step.token_in, token_out=step.token_out,
                       amount_in=amount_in, target_amount_out=amount_out)  # fmt: skip
    events = IntentAggregate.start(intent)
    events.append(IntentSubmitted(intent=intent, priority=6))
    events.append(IntentDecomposed(child_orders=[order]), occurred_at=planned_at)
    events.append(PlanCreated(plan=plan), occurred_at=planned_at)
    events.append(ExecutionCompleted(plan_id=plan.plan_id, amount_in=amount_in,
                                     amount_out=amount_out))  # fmt: skip
    return list(events.appended)
