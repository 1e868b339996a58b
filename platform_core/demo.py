"""`make demo`: submit the design document's example intent to the running platform (after
`make up`) and print its lifecycle as it happens, one line per event, until its verdict.

It issues a fresh API key for the example's strategy, POSTs the example verbatim, then
follows `GET /intents/{id}/events`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from platform_core.api.keys import ApiKeys
from platform_core.config import PROJECT_ROOT, Settings, get_settings
from platform_core.state.event_store import EventStore
from platform_core.types import IntentStatus
from platform_core.types.plan import ExecutionPlan

SEED_EXAMPLE = PROJECT_ROOT / "tests" / "fixtures" / "seed_intent.json"


async def issue_key(settings: Settings, strategy_id: UUID) -> str:
    store = await EventStore.connect(settings.postgres_dsn)
    try:
        return (await ApiKeys(store.pool).issue(strategy_id)).token
    finally:
        await store.close()


def describe(event: dict[str, Any]) -> str:
    """One line per event: what a person watching wants to see of it."""
    payload = event["payload"]
    kind = event["event_type"]
    match kind:
        case "IntentSubmitted":
            detail = f"priority {payload.get('priority')}"
        case "IntentDenied":
            detail = ", ".join(payload["reason_codes"])
        case "IntentDecomposed":
            detail = f"{len(payload['child_orders'])} child order(s)"
        case "PlanCreated":
            plan = ExecutionPlan.model_validate(payload["plan"])
            detail = f"{len(plan.steps)} step(s), quoted out {plan.expected_amount_out}"
        case "ExecutionStepSubmitted":
            detail = f"tx {payload['tx_hash']} nonce {payload['nonce']}"
        case "ExecutionStepConfirmed":
            detail = (
                f"block {payload['block_number']}, in {payload['amount_in']} "
                f"out {payload['amount_out']}, gas {payload['gas_used']}"
            )
        case "ExecutionCompleted":
            detail = f"in {payload['amount_in']} out {payload['amount_out']}"
        case "ExecutionStepFailed":
            detail = f"step tx {payload['tx_hash'] or 'never sent'}"
        case "IntentFailed":
            detail = payload["reason"]  # in full: it says what went wrong and what to do
        case _:
            detail = json.dumps(payload)[:120]
    at = datetime.fromisoformat(event["occurred_at"]).strftime("%H:%M:%S.%f")[:-3]
    return f"{at}  #{event['sequence']:<2} {kind:<24} {detail}"


def follow(base: str, headers: dict[str, str], intent_id: str, timeout_s: float) -> str:
    """Print each new event; return the final status (or the last one seen at timeout)."""
    seen = 0
    status = "pending"
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        while time.monotonic() < deadline:
            answer = client.get(f"/intents/{intent_id}/events")
            if answer.status_code == 200:
                events = answer.json()["events"]
                for event in events[seen:]:
                    print(describe(event), flush=True)
                seen = max(seen, len(events))
            view = client.get(f"/intents/{intent_id}")
            if view.status_code == 200:
                status = str(view.json()["status"])
                if IntentStatus(status).is_terminal and seen and answer.status_code == 200:
                    return status
            time.sleep(0.3)
    return status


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    path = Path(argv[0]) if argv else SEED_EXAMPLE
    body = json.loads(path.read_text())
    base = f"http://{settings.api_host}:{settings.api_port}"
    try:
        httpx.get(f"{base}/healthz", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        print(f"demo: the API does not answer at {base} ({exc}); run `make up`", file=sys.stderr)
        return 1
    token = asyncio.run(issue_key(settings, UUID(body["strategy_id"])))
    headers = {"authorization": f"Bearer {token}"}
    print(f"demo: POST {base}/intents ({path.name})")
    response = httpx.post(f"{base}/intents", json=body, headers=headers, timeout=60)
    print(f"demo: {response.status_code} {response.text}")
    if response.status_code not in (202, 422) or "intent_id" not in response.json():
        return 1
    intent_id = response.json()["intent_id"]
    window_s = body["constraints"]["time_window_ms"] / 1000
    status = follow(base, headers, intent_id, timeout_s=window_s + 60)
    print(f"demo: intent {intent_id} is {status}")
    return 0 if status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
