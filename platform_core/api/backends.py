"""What the API needs from the services, connected lazily on first use.

The API process starts even while a service is down; a request that needs it gets 503
`SERVICE_UNAVAILABLE` and succeeds once the service is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis
import redis.exceptions

import platform_rust
from platform_core.api.idempotency import Claim, IdempotencyKeys
from platform_core.api.keys import ApiKeys, KeyCache
from platform_core.api.rate_limit import Decision, RateLimiter
from platform_core.chain.devnet import load_deployment
from platform_core.chain.errors import TransportError
from platform_core.config import Settings
from platform_core.errors import ErrorCode, PlatformError
from platform_core.execution.cancels import CancelRequests
from platform_core.intent.ledger import LedgerRebuilding, ReservationLedger, StaleBalance
from platform_core.intent.manager import IntentManager, Scorer, UsdToken, routed_usd_quote
from platform_core.intent.prioritizer import OnnxPrioritizer
from platform_core.intent.validator import IntentValidator, connect_chain
from platform_core.market.book import BookDepth
from platform_core.market.changes import market_subject
from platform_core.market.feed import FollowedMarket, SnapshotSource, follow_market
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.venue_manager import deployed_venues
from platform_core.state.event_store import EventStore
from platform_core.state.projection import IntentView, fold
from platform_core.state.read_model import ReadModel
from platform_core.streaming.event_stream import EventStream
from platform_core.types import EventEnvelope, Intent, IntentStatus, IntentSubmission

# (chain id, venue) -> where that venue's snapshots come from (its adapter actor): given one,
# the gate's engine and balance cache follow the venues' `PoolStateChanged` messages;
# without, the gate polls the chain itself (a process with no venue actors to follow).
MarketSource = Callable[[int, str], SnapshotSource]


# What asyncpg raises when PostgreSQL goes away or restarts under a pooled connection: a
# server error, a socket error, or a connection the client can no longer use (seen under a
# kill -9 of the server: `InternalClientError`, `InterfaceError`). Each is a 503, never a 500.
POSTGRES_DOWN = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


class ServiceUnavailable(PlatformError, RuntimeError):
    """A service a request needs (NATS, PostgreSQL, Redis, the chain) is down: 503."""

    code = ErrorCode.SERVICE_UNAVAILABLE
    retryable = True

    def __init__(self, service: str, cause: BaseException) -> None:
        super().__init__(f"{service} is unavailable: {type(cause).__name__}")
        self.service = service


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict: `priority` when accepted, `reason_codes` when denied."""

    envelope: EventEnvelope  # IntentSubmitted or IntentDenied, sequence 0
    intent: Intent
    priority: int | None
    reason_codes: list[ErrorCode]
    details: list[str]

    @property
    def accepted(self) -> bool:
        return not self.reason_codes


class _NoPublish:
    async def publish(self, envelope: EventEnvelope) -> None:
        return None


class Backends(Protocol):
    async def authenticate(self, token: str) -> UUID | None: ...

    async def take_rate_limit(self, strategy_id: UUID) -> Decision: ...

    async def find_idempotency(
        self, strategy_id: UUID, key: str, body_hash: bytes
    ) -> Claim | None: ...

    async def claim_idempotency(
        self, strategy_id: UUID, key: str, body_hash: bytes, status_code: int,
        body: dict[str, Any], envelope: bytes,
    ) -> Claim: ...  # fmt: skip

    async def decide(self, submission: IntentSubmission, strategy_id: UUID) -> GateDecision:
        """The gate's verdict (validation, priority) and the event that records it,
        not yet published."""
        ...

    async def publish(self, envelope: EventEnvelope) -> None: ...

    async def release(self, intent_id: UUID) -> None:
        """Give back what the gate reserved for `intent_id`, an intent that will never be
        published (a concurrent request with the same Idempotency-Key won the claim)."""
        ...

    async def intent_view(self, intent_id: UUID) -> tuple[IntentView | None, str]: ...

    async def request_cancel(self, intent_id: UUID) -> bool:
        """Flag the intent for cancellation; False when it was flagged before."""
        ...

    async def intent_events(self, intent_id: UUID) -> list[EventEnvelope]: ...

    async def list_intents(
        self, strategy_id: UUID, status: IntentStatus | None, limit: int
    ) -> list[IntentView]: ...

    async def close(self) -> None: ...


class ServiceBackends:
    """The real services: NATS for publishing, Redis then PostgreSQL for reads, PostgreSQL
    for API keys and idempotency claims, Redis for the rate limit and the reservation
    ledger. `scorer` gives priorities (default: the ONNX model, in process)."""

    def __init__(
        self,
        settings: Settings,
        *,
        scorer: Scorer | None = None,
        market: MarketSource | None = None,
    ) -> None:
        self._settings = settings
        self._scorer = scorer
        self._market = market
        self._keys = KeyCache(settings.api_key_cache_s)
        self._followed: list[FollowedMarket] = []
        self._lock = asyncio.Lock()
        self._stream: EventStream | None = None
        self._store: EventStore | None = None
        self._redis: aioredis.Redis | None = None
        self._read_model: ReadModel | None = None
        self._limiter: RateLimiter | None = None
        self._ledger: ReservationLedger | None = None
        self._manager_lock = asyncio.Lock()
        self._manager: IntentManager | None = None
        self._chain_clients: list[Any] = []

    async def _get_stream(self) -> EventStream:
        async with self._lock:
            if self._stream is None:
                s = self._settings
                try:
                    self._stream = await EventStream.connect(
                        s.nats_url, stream=s.stream_name, subject_prefix=s.subject_prefix
                    )
                except Exception as exc:
                    raise ServiceUnavailable("nats", exc) from exc
            return self._stream

    async def _get_store(self) -> EventStore:
        async with self._lock:
            if self._store is None:
                try:
                    self._store = await EventStore.connect(
                        self._settings.postgres_dsn, max_size=self._settings.api_db_pool_size
                    )
                except Exception as exc:
                    raise ServiceUnavailable("postgres", exc) from exc
            return self._store

    def _get_redis(self) -> aioredis.Redis:
        if self._redis is None:
            s = self._settings
            self._redis = aioredis.from_url(s.redis_url, decode_responses=True)
            self._read_model = ReadModel(self._redis, prefix=s.redis_key_prefix)
            self._limiter = RateLimiter(
                self._redis, per_second=s.rate_limit_per_s, burst=s.rate_limit_burst,
                prefix=s.redis_key_prefix,
            )  # fmt: skip
            self._ledger = ReservationLedger(self._redis, prefix=s.redis_key_prefix)
        return self._redis

    def _get_ledger(self) -> ReservationLedger:
        self._get_redis()
        assert self._ledger is not None
        return self._ledger

    def _get_read_model(self) -> ReadModel:
        self._get_redis()
        assert self._read_model is not None
        return self._read_model

    async def authenticate(self, token: str) -> UUID | None:
        strategy_id = self._keys.get(token)
        if strategy_id is not None:
            return strategy_id
        store = await self._get_store()
        try:
            strategy_id = await ApiKeys(store.pool).strategy_for(token)
        except Exception as exc:
            raise ServiceUnavailable("postgres", exc) from exc
        if strategy_id is not None:
            self._keys.put(token, strategy_id)
        return strategy_id

    async def take_rate_limit(self, strategy_id: UUID) -> Decision:
        self._get_redis()
        assert self._limiter is not None
        try:
            return await self._limiter.take(str(strategy_id))
        except Exception as exc:
            raise ServiceUnavailable("redis", exc) from exc

    async def find_idempotency(self, strategy_id: UUID, key: str, body_hash: bytes) -> Claim | None:
        store = await self._get_store()
        try:
            return await IdempotencyKeys(store.pool).find(strategy_id, key, body_hash)
        except POSTGRES_DOWN as exc:
            raise ServiceUnavailable("postgres", exc) from exc

    async def claim_idempotency(
        self, strategy_id: UUID, key: str, body_hash: bytes, status_code: int,
        body: dict[str, Any], envelope: bytes,
    ) -> Claim:  # fmt: skip
        store = await self._get_store()
        try:
            return await IdempotencyKeys(store.pool).claim(
                strategy_id, key, body_hash, status_code, body, envelope
            )
        except POSTGRES_DOWN as exc:
            raise ServiceUnavailable("postgres", exc) from exc

    async def decide(self, submission: IntentSubmission, strategy_id: UUID) -> GateDecision:
        manager = await self._get_manager()
        try:
            decision = await manager.submit(submission, strategy_id)
        except (TransportError, StaleBalance) as exc:  # the chain, or the gate's view of it
            raise ServiceUnavailable("chain", exc) from exc
        except (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            LedgerRebuilding,
        ) as exc:
            raise ServiceUnavailable("redis", exc) from exc
        return GateDecision(decision.envelope, decision.intent, decision.priority,
                        decision.reason_codes, [f"{r.code}: {r.message}"
                                                for r in decision.report.refusals])  # fmt: skip

    async def _get_manager(self) -> IntentManager:
        async with self._manager_lock:
            if self._manager is None:
                self._manager = await self._build_manager()
            return self._manager

    async def _build_manager(self) -> IntentManager:
        s = self._settings
        deployment = load_deployment(s.deployment_path)
        chain_id = int(deployment["chain_id"])
        if chain_id not in s.chains:
            raise ServiceUnavailable("chain", LookupError(f"chain {chain_id} not configured"))
        try:
            registry = await self._follow(chain_id) if self._market is not None else None
            access = await connect_chain(s, chain_id, deployment, registry=registry)
            self._chain_clients.append(access.adapter.client)
            for followed in self._followed:
                followed.feed.on_head(access.wallets.on_head)
                if followed.feed.block is not None:
                    await access.wallets.on_head(followed.feed.block)
        except Exception as exc:
            raise ServiceUnavailable("chain", exc) from exc
        planner = access.planner
        validator = IntentValidator(s, {chain_id: access})
        usdc = deployment["tokens"]["USDC"]
        usd = UsdToken(usdc["address"], int(usdc["decimals"]),
                       quote=routed_usd_quote(planner, usdc["address"]))  # fmt: skip
        scorer = self._scorer or OnnxPrioritizer.from_settings(s)
        # The prioritiser's liquidity: the consolidated book of the gate's own engine.
        pools = registry if registry is not None else getattr(access.watcher, "registry", None)
        depth = None if pools is None else BookDepth(pools, levels=s.book_pool_levels)
        # The API publishes the decision itself, after its idempotency claim.
        return IntentManager(validator, scorer, _NoPublish(), self._get_ledger(),
                             usd_tokens={chain_id: usd}, depth=depth,
                             venues=self._venues(chain_id, deployment))  # fmt: skip

    def _venues(self, chain_id: int, deployment: dict[str, Any]) -> list[str]:
        """The chain's configured venues that the deployment has (each has its actor)."""
        deployed = deployed_venues(deployment)
        return [venue for venue in self._settings.chains[chain_id].venues if venue in deployed]

    async def _follow(self, chain_id: int) -> PoolRegistry:
        """One engine fed by every venue's adapter actor: the gate reads no pool itself."""
        assert self._market is not None
        s = self._settings
        registry = PoolRegistry(platform_rust.ExecutionEngine())
        for venue in self._venues(chain_id, load_deployment(s.deployment_path)):
            subject = market_subject(s.subject_prefix, chain_id, venue)
            followed = await follow_market(registry, self._market(chain_id, venue),
                                           nats_url=s.nats_url, subject=subject,
                                           chain_id=chain_id, venue=venue)  # fmt: skip
            self._followed.append(followed)
        return registry

    async def publish(self, envelope: EventEnvelope) -> None:
        stream = await self._get_stream()
        try:
            await stream.publish(envelope, attempts=3)
        except Exception as exc:
            raise ServiceUnavailable("nats", exc) from exc

    async def release(self, intent_id: UUID) -> None:
        try:
            await self._get_ledger().release(intent_id)
        except Exception as exc:
            raise ServiceUnavailable("redis", exc) from exc

    async def intent_view(self, intent_id: UUID) -> tuple[IntentView | None, str]:
        try:
            view = await self._get_read_model().get(intent_id)
        except Exception:
            view = None  # Redis down: the event log still answers
        if view is not None:
            return view, "read_model"
        return fold(await self.intent_events(intent_id)), "event_log"

    async def request_cancel(self, intent_id: UUID) -> bool:
        cancels = CancelRequests(self._get_redis(), prefix=self._settings.redis_key_prefix)
        try:
            return await cancels.request(intent_id)
        except Exception as exc:
            raise ServiceUnavailable("redis", exc) from exc

    async def intent_events(self, intent_id: UUID) -> list[EventEnvelope]:
        store = await self._get_store()
        try:
            return await store.intent_events(intent_id)
        except Exception as exc:
            raise ServiceUnavailable("postgres", exc) from exc

    async def list_intents(
        self, strategy_id: UUID, status: IntentStatus | None, limit: int
    ) -> list[IntentView]:
        try:
            return await self._get_read_model().list_for_strategy(
                strategy_id, status=status, limit=limit
            )
        except Exception as exc:
            raise ServiceUnavailable("redis", exc) from exc

    async def close(self) -> None:
        for followed in self._followed:
            await followed.close()
        for client in self._chain_clients:
            await client.close()
        if self._stream is not None:
            await self._stream.close()
        if self._store is not None:
            await self._store.close()
        if self._redis is not None:
            await self._redis.aclose()
