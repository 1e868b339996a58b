"""The Serve application `sep up` deploys, on a local Ray: `IntentAPI` with 2 replicas, each
a class-based ingress over the real services and a private devnet, scoring through a
handle to the batched `Prioritizer` deployment and routing on the pools the venue adapter
actor publishes."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import httpx
import nats
import pytest
import ray

from actors.venue_adapter import VenueAdapterActor
from actors.wiring import NAMESPACE, market_venues, venue_actor_name
from platform_core.api.keys import ApiKeys
from platform_core.chain.devnet import AnvilProcess
from platform_core.config import Settings
from platform_core.intent.prioritizer import OnnxPrioritizer
from platform_core.state.event_store import EventStore
from platform_core.types import EventEnvelope, MLFeatures
from tests.integration.conftest import free_port

pytestmark = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")

SEED_STRATEGY = UUID("a1b2c3d4-e5f6-7890-1234-567890abcdef")
APP = "sep-test"
REQUESTS = 12


def _replica_env(settings: Settings, rpc_url: str, wallet: str) -> dict[str, str]:
    """What the replicas read their settings from (their own processes' environment)."""
    return {
        "SEP_POSTGRES_DSN": settings.postgres_dsn,
        "SEP_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "SEP_STREAM_NAME": settings.stream_name,
        "SEP_SUBJECT_PREFIX": settings.subject_prefix,
        "SEP_CHAINS": json.dumps({"42161": {"name": "arbitrum", "rpc_url": rpc_url}}),
        "SEP_STRATEGY_WALLETS": json.dumps({str(SEED_STRATEGY): wallet}),
        "SEP_RATE_LIMIT_BURST": "1000",
    }


def _venue_overrides(settings: Settings, rpc_url: str) -> dict[str, Any]:
    return {
        "nats_url": settings.nats_url,
        "subject_prefix": settings.subject_prefix,
        "chains": {42161: {"name": "arbitrum", "rpc_url": rpc_url}},
    }


@pytest.fixture
def serve_app(
    anvil: AnvilProcess, isolated_settings: Settings, deployment: dict[str, Any]
) -> Iterator[str]:
    """The application on a Ray of the test's own; its HTTP address."""
    from ray import serve  # here: importing Serve warns (pydantic v1 idioms)

    from serve_apps.intent_api import IntentAPI
    from serve_apps.prioritizer import Prioritizer

    env = _replica_env(isolated_settings, anvil.rpc_url, deployment["wallets"][0]["address"])
    options = {"num_cpus": 0.1, "runtime_env": {"env_vars": env}}
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)  # fmt: skip
    try:
        overrides = _venue_overrides(isolated_settings, anvil.rpc_url)
        venues = [  # every venue's, as `sep up` starts them: the replicas follow each
            VenueAdapterActor.options(  # type: ignore[attr-defined]
                name=venue_actor_name(chain_id, venue), namespace=NAMESPACE
            ).remote(chain_id, venue, overrides)
            for chain_id, venue in market_venues(Settings(**overrides))
        ]
        assert len(venues) == 2 and all(ray.get([v.ready.remote() for v in venues], timeout=120))
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        prioritizer = Prioritizer.options(ray_actor_options=options).bind()  # type: ignore[attr-defined]
        api = IntentAPI.options(num_replicas=2, ray_actor_options=options)  # type: ignore[attr-defined]
        serve.run(api.bind(prioritizer), name=APP, route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


async def _token(settings: Settings) -> str:
    store = await EventStore.connect(settings.postgres_dsn)
    try:
        return (await ApiKeys(store.pool).issue(SEED_STRATEGY)).token
    finally:
        await store.close()


async def _submit(base: str, token: str, body: dict) -> list[httpx.Response]:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        return list(await asyncio.gather(*(
            client.post("/intents", json=body, headers={"idempotency-key": f"serve-{i}"})
            for i in range(REQUESTS)
        )))  # fmt: skip


async def _submitted(settings: Settings) -> list[EventEnvelope]:
    nc = await nats.connect(settings.nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe(
            f"{settings.subject_prefix}.>", stream=settings.stream_name
        )
        return [EventEnvelope.from_bytes(m.data) for m in await sub.fetch(100, timeout=2)]
    finally:
        await nc.close()


def test_two_replicas_serve_and_score_through_the_prioritizer(
    serve_app: str, isolated_settings: Settings, seed_intent: dict
) -> None:
    from ray import serve

    token = asyncio.run(_token(isolated_settings))
    answers = asyncio.run(_submit(serve_app, token, seed_intent))
    assert [a.status_code for a in answers] == [202] * REQUESTS, answers[0].text
    assert httpx.get(f"{serve_app}/intents", timeout=10).status_code == 401  # the handlers
    # A 405 names the path's methods behind Serve too (where `request.app` is Serve's).
    refused = httpx.delete(f"{serve_app}/intents", timeout=10)
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, POST", refused.headers

    status = serve.status().applications[APP].deployments
    assert status["IntentAPI"].replica_states == {"RUNNING": 2}
    stats = serve.get_deployment_handle("Prioritizer", app_name=APP).stats.remote().result()
    assert stats["rows"] == REQUESTS  # every intent was scored there, in batches
    assert 1 <= stats["batches"] <= REQUESTS

    events = asyncio.run(_submitted(isolated_settings))
    assert len(events) == REQUESTS
    model = OnnxPrioritizer.from_settings(isolated_settings)
    priorities = {str(a.json()["intent_id"]): a.json()["priority"] for a in answers}
    for event in events:
        features = MLFeatures.model_validate(event.payload["intent"]["ml_features"])
        assert priorities[str(event.intent_id)] == event.payload["priority"]
        assert event.payload["priority"] == model.score(features)
