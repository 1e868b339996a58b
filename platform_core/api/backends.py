"""What the API needs from the services, connected lazily on first use.

The API process starts even while a service is down; a request that needs it gets 503
`SERVICE_UNAVAILABLE` and succeeds once the service is back.
"""

from __future__ import annotations

import asyncio
from typing import Protocol
from uuid import UUID

from platform_core.config import Settings
from platform_core.state.event_store import EventStore
from platform_core.state.projection import IntentView, fold
from platform_core.state.read_model import ReadModel
from platform_core.streaming.event_stream import EventStream
from platform_core.types import EventEnvelope


class ServiceUnavailable(RuntimeError):
    def __init__(self, service: str, cause: BaseException) -> None:
        super().__init__(f"{service} is unavailable: {type(cause).__name__}")
        self.service = service


class Backends(Protocol):
    async def publish(self, envelope: EventEnvelope) -> None: ...

    async def intent_view(self, intent_id: UUID) -> tuple[IntentView | None, str]: ...

    async def intent_events(self, intent_id: UUID) -> list[EventEnvelope]: ...

    async def close(self) -> None: ...


class ServiceBackends:
    """The real services: NATS for publishing, Redis then PostgreSQL for reads."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = asyncio.Lock()
        self._stream: EventStream | None = None
        self._store: EventStore | None = None
        self._read_model: ReadModel | None = None

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
                    self._store = await EventStore.connect(self._settings.postgres_dsn)
                except Exception as exc:
                    raise ServiceUnavailable("postgres", exc) from exc
            return self._store

    def _get_read_model(self) -> ReadModel:
        if self._read_model is None:
            s = self._settings
            self._read_model = ReadModel.from_url(s.redis_url, prefix=s.redis_key_prefix)
        return self._read_model

    async def publish(self, envelope: EventEnvelope) -> None:
        stream = await self._get_stream()
        try:
            await stream.publish(envelope, attempts=3)
        except Exception as exc:
            raise ServiceUnavailable("nats", exc) from exc

    async def intent_view(self, intent_id: UUID) -> tuple[IntentView | None, str]:
        try:
            view = await self._get_read_model().get(intent_id)
        except Exception:
            view = None  # Redis down: the event log still answers
        if view is not None:
            return view, "read_model"
        return fold(await self.intent_events(intent_id)), "event_log"

    async def intent_events(self, intent_id: UUID) -> list[EventEnvelope]:
        store = await self._get_store()
        try:
            return await store.intent_events(intent_id)
        except Exception as exc:
            raise ServiceUnavailable("postgres", exc) from exc

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.close()
        if self._store is not None:
            await self._store.close()
        if self._read_model is not None:
            await self._read_model.close()
