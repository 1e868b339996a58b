"""`POST /intents` through the real gate: API keys in PostgreSQL, balances and routes on a
private devnet, reservations in Redis, events on NATS. Accepted intents answer 202 with
their priority; refused ones 422 with the gate's codes and an `IntentDenied` event."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import nats
import pytest

from platform_core.api.app import create_app
from platform_core.api.backends import ServiceBackends
from platform_core.api.keys import ApiKeys
from platform_core.chain.devnet import AnvilProcess
from platform_core.config import ChainSettings, Settings
from platform_core.state.event_store import EventStore
from platform_core.types import EventEnvelope

SEED_STRATEGY = UUID("a1b2c3d4-e5f6-7890-1234-567890abcdef")


@pytest.fixture
async def api(
    anvil: AnvilProcess, isolated_settings: Settings, deployment: dict[str, Any]
) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    settings = isolated_settings.model_copy(
        update={
            "chains": {42161: ChainSettings(name="arbitrum", rpc_url=anvil.rpc_url)},
            "strategy_wallets": {SEED_STRATEGY: deployment["wallets"][0]["address"]},
        }
    )
    store = await EventStore.connect(settings.postgres_dsn)
    token = (await ApiKeys(store.pool).issue(SEED_STRATEGY)).token
    await store.close()
    backends = ServiceBackends(settings)
    transport = httpx.ASGITransport(app=create_app(settings, backends))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sep.test",
        headers={"authorization": f"Bearer {token}"},
    ) as client:  # fmt: skip
        yield client, settings
    await backends.close()


async def _stream_events(settings: Settings) -> list[EventEnvelope]:
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(f"{settings.subject_prefix}.>", stream=settings.stream_name)
        messages = await sub.fetch(100, timeout=2)
        return [EventEnvelope.from_bytes(m.data) for m in messages]
    finally:
        await nc.close()


async def test_gate_accepts_and_denies_over_http(
    api: tuple[httpx.AsyncClient, Settings], seed_intent: dict
) -> None:
    client, settings = api
    accepted = await client.post("/intents", json=seed_intent, headers={"idempotency-key": "a"})
    assert accepted.status_code == 202, accepted.text
    receipt = accepted.json()
    assert 1 <= receipt["priority"] <= 10

    too_big = copy.deepcopy(seed_intent)
    too_big["intent_type"] = "dispose"
    too_big["assets"][0]["amount"] = "1200"  # the wallet holds 1,000 WETH
    denied = await client.post("/intents", json=too_big)
    assert denied.status_code == 422
    assert "INSUFFICIENT_BALANCE" in denied.json()["reason_codes"]

    venue = copy.deepcopy(seed_intent)
    venue["constraints"]["allowed_venues"] = ["curve"]
    unsupported = await client.post("/intents", json=venue)
    assert unsupported.status_code == 422
    assert "UNSUPPORTED_VENUE" in unsupported.json()["reason_codes"]

    # The body must name the key's own strategy.
    other = copy.deepcopy(seed_intent)
    other["strategy_id"] = "00000000-0000-0000-0000-000000000009"
    assert (await client.post("/intents", json=other)).status_code == 403

    # A retry under the same key returns the first receipt and gates nothing again.
    again = await client.post("/intents", json=seed_intent, headers={"idempotency-key": "a"})
    assert again.status_code == 202 and again.json() == receipt

    events = await _stream_events(settings)
    kinds = {(str(e.intent_id), e.event_type) for e in events}
    assert (receipt["intent_id"], "IntentSubmitted") in kinds
    assert (denied.json()["intent_id"], "IntentDenied") in kinds
    assert (unsupported.json()["intent_id"], "IntentDenied") in kinds
    assert len(events) == 3  # the retry was deduplicated, the 403 published nothing
    submitted = next(e for e in events if e.event_type == "IntentSubmitted")
    assert submitted.payload["priority"] == receipt["priority"]
    assert json.loads(json.dumps(submitted.payload["intent"]["ml_features"]))


async def test_chain_down_is_503(
    isolated_settings: Settings, deployment: dict[str, Any], seed_intent: dict
) -> None:
    settings = isolated_settings.model_copy(
        update={
            "chains": {42161: ChainSettings(name="arbitrum", rpc_url="http://127.0.0.1:9")},
            "strategy_wallets": {SEED_STRATEGY: deployment["wallets"][0]["address"]},
            "rpc_timeout_s": 2.0,
        }
    )
    store = await EventStore.connect(settings.postgres_dsn)
    token = (await ApiKeys(store.pool).issue(SEED_STRATEGY)).token
    await store.close()
    backends = ServiceBackends(settings)
    transport = httpx.ASGITransport(app=create_app(settings, backends))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/intents", json=seed_intent, headers={"authorization": f"Bearer {token}"}
        )
    await backends.close()
    assert response.status_code == 503
    assert response.json()["reason_codes"] == ["SERVICE_UNAVAILABLE"]
