"""Attacks on the API's edges, over the real services and a private devnet (conftest.py):
another strategy's intents, bodies too large or too deep, and revoked keys on every
replica."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import nats

from platform_core.api.keys import ApiKeys, parse_token
from platform_core.chain.devnet import AnvilProcess
from platform_core.config import Settings
from platform_core.state.event_store import EventStore
from platform_core.types import EventEnvelope
from tests.attack.conftest import (
    OTHER_STRATEGY,
    SEED_STRATEGY,
    LiveApi,
    issue_keys,
    live_settings,
    serve_in_thread,
)

MISSING = "/intents/0190a0a0-0000-7000-8000-000000000000"


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _answer(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    """Status and body, with the intent id (the only thing that differs) made generic."""
    body = response.json()
    for item in body.get("detail", ()):
        item["message"] = item["message"].replace(response.url.path.split("/")[2], "ID")
    return response.status_code, body


async def _record_published(settings: Settings) -> int:
    """What the API published, written to the event log as the state coordinator would
    (no coordinator runs here): the intent then exists for every read route."""
    nc = await nats.connect(settings.nats_url)
    store = await EventStore.connect(settings.postgres_dsn)
    try:
        sub = await nc.jetstream().pull_subscribe(
            f"{settings.subject_prefix}.>", stream=settings.stream_name
        )
        envelopes = [EventEnvelope.from_bytes(m.data) for m in await sub.fetch(10, timeout=5)]
        await store.append(envelopes)
        return len(envelopes)
    finally:
        await store.close()
        await nc.close()


def test_another_strategys_intent_answers_like_a_missing_one(
    live_api: LiveApi, seed_intent: dict
) -> None:
    with httpx.Client(base_url=live_api.url, timeout=60) as client:
        accepted = client.post("/intents", json=seed_intent, headers=_auth(live_api.token))
        assert accepted.status_code == 202, accepted.text
        mine = accepted.json()["links"]["self"]
        assert asyncio.run(_record_published(live_api.settings)) == 1
        own = client.get(mine, headers=_auth(live_api.token))
        assert own.status_code == 200 and own.json()["strategy_id"] == str(SEED_STRATEGY)
        routes = [("GET", ""), ("GET", "/events"), ("POST", "/cancel")]
        for method, suffix in routes:
            theirs = client.request(method, mine + suffix, headers=_auth(live_api.other_token))
            missing = client.request(method, MISSING + suffix, headers=_auth(live_api.other_token))
            assert _answer(theirs) == _answer(missing), (method, suffix)
            assert theirs.status_code == 404
            assert set(theirs.headers) == set(missing.headers)
        # ... and the owner still sees it, its cancel not requested by the other's attempt.
        cancel = client.post(mine + "/cancel", headers=_auth(live_api.token))
        assert cancel.status_code == 202 and cancel.json()["first_request"] is True
        listed = client.get("/intents", headers=_auth(live_api.other_token)).json()["intents"]
        assert listed == []
    assert OTHER_STRATEGY != SEED_STRATEGY


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_bodies_too_large_or_too_deep_are_4xx_with_the_standard_body(
    live_api: LiveApi, seed_intent: dict
) -> None:
    limit = live_api.settings.max_body_bytes
    json_headers = {**_auth(live_api.token), "content-type": "application/json"}
    with httpx.Client(base_url=live_api.url, timeout=60) as client:
        big = client.post("/intents", headers=json_headers, content=b" " * (limit + 1))
        assert big.status_code == 413 and big.json()["reason_codes"] == ["BODY_TOO_LARGE"]

        def chunks() -> Any:
            for _ in range(limit // 1024 + 2):
                yield b" " * 1024

        chunked = client.post("/intents", headers=json_headers, content=chunks())
        assert chunked.status_code == 413

        # As deep as the size limit allows, alone and inside a valid intent's field.
        depth = (limit - 16) // 6
        deep_values = [
            "[" * (limit - 2) + "]" * 0,
            "[" * (limit // 2 - 1) + "]" * (limit // 2 - 1),
            _nested(depth),
        ]
        seed = seed_intent
        inside = (
            f'{{"strategy_id":"{seed["strategy_id"]}","intent_type":"acquire",'
            f'"assets":[{{"asset":{_nested(depth // 2)}}}],"constraints":{_nested(10)}}}'
        )
        for body in (*deep_values, inside):
            answer = client.post("/intents", headers=json_headers, content=body.encode())
            assert 400 <= answer.status_code < 500, answer.text[:300]
            error = answer.json()
            assert error["reason_codes"] and error["detail"], error


def test_a_revoked_key_is_refused_by_every_replica_within_a_second(
    anvil: AnvilProcess, isolated_settings: Settings, deployment: dict[str, Any]
) -> None:
    """Two replicas: two in-process apps over the same services, each with its own key cache
    (`SEP_API_KEY_CACHE_S`, 1 s), as two Serve replicas have (starting Serve takes a minute
    on 2 cores; tests/integration/chain/test_serve_app.py covers serving with replicas, not
    revocation)."""
    settings = live_settings(isolated_settings, anvil.rpc_url, deployment["wallets"][0]["address"])
    assert settings.api_key_cache_s == 1.0
    (token,) = asyncio.run(issue_keys(settings, SEED_STRATEGY))
    replicas = [serve_in_thread(settings), serve_in_thread(settings)]
    try:
        clients = [httpx.Client(base_url=r.url, headers=_auth(token), timeout=30) for r in replicas]
        # Each replica has checked the key and caches it.
        assert [c.get("/intents").status_code for c in clients] == [200, 200]

        async def revoke() -> None:
            store = await EventStore.connect(settings.postgres_dsn)
            try:
                parsed = parse_token(token)
                assert parsed is not None
                assert await ApiKeys(store.pool).revoke(parsed[0])
            finally:
                await store.close()

        asyncio.run(revoke())
        revoked_at = time.monotonic()
        refused: dict[int, float] = {}
        while len(refused) < len(clients) and time.monotonic() - revoked_at < 5:
            for index, client in enumerate(clients):
                if index not in refused and client.get("/intents").status_code == 401:
                    refused[index] = time.monotonic() - revoked_at
            time.sleep(0.05)
        assert sorted(refused) == [0, 1], refused
        # The cache's bound (1 s) plus one request's time.
        assert max(refused.values()) < settings.api_key_cache_s + 0.5, refused
        for client in clients:
            answer = client.get("/intents")
            assert answer.status_code == 401
            assert answer.json()["reason_codes"] == ["INVALID_API_KEY"]
            client.close()
    finally:
        for replica in replicas:
            replica.stop()
