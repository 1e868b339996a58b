"""The API over the real services (no Ray): API keys hashed in PostgreSQL, the Redis rate
limit, and 503 when a service is down. Submissions through the gate, with idempotency,
are tested on the devnet in tests/integration/chain/test_api_gate_devnet.py."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg
import httpx
import pytest

from platform_core.api.app import create_app
from platform_core.api.backends import ServiceBackends
from platform_core.api.keys import ApiKeys
from platform_core.config import Settings
from platform_core.state.event_store import EventStore

SEED_STRATEGY = UUID("a1b2c3d4-e5f6-7890-1234-567890abcdef")


@pytest.fixture
async def store(isolated_settings: Settings) -> AsyncIterator[EventStore]:
    store = await EventStore.connect(isolated_settings.postgres_dsn)
    yield store
    await store.close()


@pytest.fixture
async def api(isolated_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    settings = isolated_settings.model_copy(update={"rate_limit_burst": 5,
                                                    "rate_limit_per_s": 1.0})  # fmt: skip
    backends = ServiceBackends(settings)
    transport = httpx.ASGITransport(app=create_app(settings, backends))
    async with httpx.AsyncClient(transport=transport, base_url="http://sep.test") as client:
        yield client, settings
    await backends.close()


async def test_keys_are_stored_hashed_and_can_be_revoked(store: EventStore) -> None:
    keys = ApiKeys(store.pool)
    issued = await keys.issue(SEED_STRATEGY)
    assert issued.token not in repr(issued)
    assert await keys.strategy_for(issued.token) == SEED_STRATEGY
    secret = issued.token.rsplit("_", 1)[1]
    async with store.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM api_keys WHERE key_id = $1", issued.key_id)
    assert secret.encode() not in b"".join(str(v).encode() for v in row.values())
    assert bytes(row["secret_hash"]) == hashlib.sha256(secret.encode()).digest()
    assert await keys.strategy_for(issued.token[:-1] + "x") is None  # wrong secret
    assert await keys.revoke(issued.key_id)
    assert await keys.strategy_for(issued.token) is None
    assert not await keys.revoke(issued.key_id)


async def test_rate_limit_is_shared_per_strategy(
    api: tuple[httpx.AsyncClient, Settings], store: EventStore
) -> None:
    client, _ = api
    token = (await ApiKeys(store.pool).issue(SEED_STRATEGY)).token
    other = (await ApiKeys(store.pool).issue(UUID(int=10))).token
    codes = await asyncio.gather(
        *(client.get("/intents", headers={"x-api-key": token}) for _ in range(8))
    )
    statuses = sorted(r.status_code for r in codes)
    assert statuses.count(200) == 5 and statuses.count(429) == 3  # burst of 5
    assert (await client.get("/intents", headers={"x-api-key": other})).status_code == 200


async def test_postgres_down_is_503_not_500(isolated_settings: Settings, seed_intent: dict) -> None:
    down = isolated_settings.model_copy(
        update={"postgres_dsn": "postgresql://postgres@127.0.0.1:1/none"}
    )
    backends = ServiceBackends(down)
    transport = httpx.ASGITransport(app=create_app(down, backends))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/intents", headers={"x-api-key": "sep_a_" + "b" * 40})
    assert response.status_code == 503
    assert response.json()["reason_codes"] == ["SERVICE_UNAVAILABLE"]
    await backends.close()
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await asyncpg.connect(down.postgres_dsn, timeout=2)
