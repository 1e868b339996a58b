"""The API under attack: the in-process app (`create_app`) over the real services under
isolated names and a private devnet, served by uvicorn on a free port in a thread of the
test process (one event loop: the app's connection pools live in it), as
tests/integration/chain/test_api_gate_devnet.py sets it up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
import redis.asyncio as aioredis
import uvicorn

import platform_rust
from actors.wiring import chain_venues
from platform_core.api.app import create_app
from platform_core.api.backends import ServiceBackends
from platform_core.api.keys import ApiKeys
from platform_core.chain.devnet import AnvilProcess, load_deployment
from platform_core.config import ChainSettings, Settings
from platform_core.intent.ledger import ReservationLedger
from platform_core.market.book_store import BookKeeper, BookStore, MovedPools, deployment_tokens
from platform_core.market.engine_sync import sync_engine
from platform_core.state.event_store import EventStore
from tests.integration.chain.conftest import anvil, deployment  # noqa: F401 (fixtures)
from tests.integration.conftest import free_port, isolated_settings  # noqa: F401 (fixtures)

SEED_STRATEGY = UUID("a1b2c3d4-e5f6-7890-1234-567890abcdef")
OTHER_STRATEGY = UUID("0b0b0b0b-0000-4000-8000-000000000002")


@dataclass(frozen=True)
class LiveApi:
    url: str
    settings: Settings
    token: str  # SEED_STRATEGY's key
    other_token: str  # OTHER_STRATEGY's key


async def issue_keys(settings: Settings, *strategies: UUID) -> list[str]:
    """Keys for `strategies`; and the (new, empty) reservation ledger marked ready, as the
    state coordinator marks it at start."""
    client = aioredis.from_url(settings.redis_url)
    try:
        ledger = ReservationLedger(client, prefix=settings.redis_key_prefix)
        await ledger.mark_ready()
    finally:
        await client.aclose()
    store = await EventStore.connect(settings.postgres_dsn)
    try:
        keys = ApiKeys(store.pool)
        return [(await keys.issue(strategy)).token for strategy in strategies]
    finally:
        await store.close()


class _ClosesBackends:
    """The app, with the services' connections closed at uvicorn's lifespan shutdown, in
    the loop that opened them."""

    def __init__(self, app: Any, backends: ServiceBackends) -> None:
        self.app = app
        self.backends = backends

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.backends.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


@dataclass
class ServedApp:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve_in_thread(settings: Settings) -> ServedApp:
    backends = ServiceBackends(settings)
    port = free_port()
    config = uvicorn.Config(_ClosesBackends(create_app(settings, backends), backends),
                            host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"api-{port}", daemon=True)
    thread.start()
    for _ in range(600):
        if server.started:
            break
        if not thread.is_alive():
            raise RuntimeError("the API did not start")
        threading.Event().wait(0.05)
    return ServedApp(f"http://127.0.0.1:{port}", server, thread)


async def write_books(settings: Settings, chain_id: int = 42161) -> None:
    """The consolidated books in Redis as the MarketData actor writes them (it does not run
    here), so the book route answers from its read model, never 503 `BOOK_UNAVAILABLE`."""
    client, adapters = chain_venues(settings, chain_id)
    registry = MovedPools(platform_rust.ExecutionEngine())
    try:
        head = await client.block_number()
        for adapter in adapters:
            await sync_engine(adapter, registry, block=head)
    finally:
        await client.close()
    redis = aioredis.from_url(settings.redis_url, decode_responses=True)
    tokens = deployment_tokens(load_deployment(settings.deployment_path))
    store = BookStore(redis, prefix=settings.redis_key_prefix)
    try:
        keeper = BookKeeper(registry, tokens, store, chain_id=chain_id)
        await keeper.on_head(head)
        assert await keeper.publish() > 0
    finally:
        await redis.aclose()


def live_settings(isolated: Settings, rpc_url: str, wallet: str, **update: Any) -> Settings:
    return isolated.model_copy(
        update={
            "chains": {42161: ChainSettings(name="arbitrum", rpc_url=rpc_url)},
            "strategy_wallets": {SEED_STRATEGY: wallet},
            # The attack is not a load test: the rate limit has its own tests.
            "rate_limit_per_s": 10_000.0,
            "rate_limit_burst": 100_000,
            **update,
        }
    )


@pytest.fixture
def live_api(
    anvil: AnvilProcess,  # noqa: F811
    isolated_settings: Settings,  # noqa: F811
    deployment: dict[str, Any],  # noqa: F811
) -> Iterator[LiveApi]:
    settings = live_settings(isolated_settings, anvil.rpc_url, deployment["wallets"][0]["address"])
    token, other = asyncio.run(issue_keys(settings, SEED_STRATEGY, OTHER_STRATEGY))
    asyncio.run(write_books(settings))
    served = serve_in_thread(settings)
    try:
        yield LiveApi(served.url, settings, token, other)
    finally:
        served.stop()
