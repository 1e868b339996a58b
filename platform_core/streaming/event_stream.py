"""JetStream, wrapped: one stream over `<prefix>.>`, idempotent publish, durable pull
consumers that ack only after the handler's effect is durable.

- `publish` sets `Nats-Msg-Id` to the event id, so the server drops a re-publish within
  the duplicate window, and waits for the server's ack.
- `consume` fetches batches from a durable pull consumer. A batch is handed to the handler;
  if it fails, each message is retried alone, so one bad event cannot hold back the rest.
  A message that keeps failing (or cannot be decoded) goes to the dead-letter sink with its
  error before it is acked: nothing is dropped silently.
- A failure that says a service is away (`is_transient`: PostgreSQL, Redis or NATS down, a
  timeout, a `retryable` platform error) is retried with backoff for as long as it lasts and
  never dead-lettered: an outage must not turn good events into dead letters. If the sink
  itself cannot take a dead letter, the message stays on the stream and comes back.
- The connection reconnects forever; the consume loop rides out server restarts, and nothing
  a batch raises ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import nats
import redis.exceptions
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError, ServiceUnavailableError

from platform_core.errors import ErrorCode, PlatformError
from platform_core.types import EventEnvelope

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[EventEnvelope]], Awaitable[None]]

# What a service that is away (restarting, unreachable, overloaded) raises through the
# clients the handlers use. OSError covers refused and reset sockets and TimeoutError.
_SERVICE_AWAY: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash shutdown
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    nats.errors.ConnectionClosedError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
)


def is_transient(exc: BaseException) -> bool:
    """True when running the handler again later can succeed without any change to the
    event: a service it needs is away, or a platform error says it is retryable."""
    if isinstance(exc, PlatformError):
        return exc.retryable
    return isinstance(exc, _SERVICE_AWAY)


class DeadLetterSink(Protocol):
    """Where poison messages go; the event store implements it with a table."""

    async def record_dead_letter(
        self, *, subject: str, message_id: str | None, deliveries: int, error: str, data: bytes
    ) -> None: ...


class PermanentEventError(PlatformError, ValueError):
    """The handler can never process this event: dead-letter it now, without retries."""

    code = ErrorCode.EVENT_UNPROCESSABLE


class JetStreamUnavailable(PlatformError, RuntimeError):
    """The NATS server answers without JetStream (not started with `-js`)."""

    code = ErrorCode.SERVICE_UNAVAILABLE
    retryable = True


class PublishFailed(PlatformError, RuntimeError):
    """The server did not acknowledge a publish after every attempt: the outcome is
    unknown, and publishing the same event again is safe (deduplicated by its id)."""

    code = ErrorCode.PUBLISH_FAILED
    retryable = True


@dataclass(frozen=True)
class ConsumerSettings:
    durable: str
    filter_subject: str | None = None  # default: every subject of the stream
    batch: int = 128
    fetch_timeout_s: float = 1.0
    # A batch still being handled is kept from redelivery by a heartbeat (`in_progress`)
    # every third of `ack_wait_s`, so the wait can be short: it is how long the messages of
    # a consumer that died stay unseen before another gets them.
    ack_wait_s: float = 30.0
    max_deliveries: int = 5  # for failures that are not transient
    backoff_s: tuple[float, ...] = (0.2, 1.0, 5.0)
    # Which failures are retried for as long as they last instead of counting towards
    # `max_deliveries` (a shell may add its runtime's own, e.g. an actor restarting).
    transient: Callable[[BaseException], bool] = is_transient


class EventStream:
    def __init__(self, nc: NATS, js: JetStreamContext, *, stream: str, subject_prefix: str) -> None:
        self._nc = nc
        self._js = js
        self.stream = stream
        self.subject_prefix = subject_prefix

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        stream: str,
        subject_prefix: str = "events",
        duplicate_window_s: float = 120.0,
        connect_timeout_s: float = 5.0,
    ) -> EventStream:
        async def on_error(exc: Exception) -> None:
            log.warning("nats: %s", exc or type(exc).__name__)

        async def on_disconnect() -> None:
            log.warning("nats: disconnected")  # on a close too: `on_closed` then says so

        async def on_closed() -> None:
            log.info("nats: connection closed")

        async def on_reconnect() -> None:
            log.info("nats: reconnected")

        nc = await asyncio.wait_for(
            nats.connect(
                url,
                connect_timeout=connect_timeout_s,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                error_cb=on_error,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
                closed_cb=on_closed,
            ),
            connect_timeout_s * 2,
        )
        self = cls(nc, nc.jetstream(), stream=stream, subject_prefix=subject_prefix)
        try:
            await self.ensure_stream(duplicate_window_s)
        except BaseException:
            await nc.close()
            raise
        return self

    async def close(self) -> None:
        # Consumers have stopped by now and publishes were acked: nothing left to drain.
        if not self._nc.is_closed:
            await self._nc.close()

    @property
    def subjects(self) -> str:
        return f"{self.subject_prefix}.>"

    async def ensure_stream(self, duplicate_window_s: float) -> None:
        config = StreamConfig(
            name=self.stream,
            subjects=[self.subjects],
            storage=StorageType.FILE,
            duplicate_window=duplicate_window_s,
        )
        try:
            info = await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._js.add_stream(config)
            return
        except (nats.errors.NoRespondersError, ServiceUnavailableError) as exc:
            raise JetStreamUnavailable(
                "JetStream is not enabled on the NATS server: start nats-server with -js"
            ) from exc
        if self.subjects not in (info.config.subjects or []):
            raise RuntimeError(
                f"stream {self.stream} exists with subjects {info.config.subjects}, "
                f"not {self.subjects}"
            )

    def subject_for(self, envelope: EventEnvelope) -> str:
        return envelope.subject(self.subject_prefix)

    async def publish(
        self, envelope: EventEnvelope, *, timeout_s: float = 5.0, attempts: int = 20
    ) -> bool:
        """Publish and wait for the server's ack; return True when it was a duplicate.

        Retries ride out a reconnect; the message id makes every retry the same message.
        """
        data = envelope.to_bytes()
        headers = {"Nats-Msg-Id": str(envelope.event_id)}
        delay = 0.1
        for attempt in range(1, attempts + 1):
            try:
                ack = await self._js.publish(
                    self.subject_for(envelope), data, timeout=timeout_s, headers=headers
                )
                return bool(ack.duplicate)
            except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError,
                    nats.errors.NoRespondersError, nats.errors.OutboundBufferLimitError,
                    nats.errors.StaleConnectionError) as exc:  # fmt: skip
                if attempt == attempts:
                    raise PublishFailed(f"publish of {envelope.event_id} failed: {exc!r}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    async def consume(
        self,
        settings: ConsumerSettings,
        handler: BatchHandler,
        dead_letters: DeadLetterSink,
        stop: asyncio.Event,
    ) -> None:
        """Run the consumer until `stop` is set."""
        config = ConsumerConfig(
            durable_name=settings.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=settings.ack_wait_s,
            max_deliver=-1,  # we count deliveries ourselves and dead-letter, never drop
            max_ack_pending=max(1000, settings.batch * 4),
        )
        subscription = await self._js.pull_subscribe(
            settings.filter_subject or self.subjects,
            durable=settings.durable,
            stream=self.stream,
            config=config,
        )
        while not stop.is_set():
            try:
                messages = await subscription.fetch(
                    settings.batch, timeout=settings.fetch_timeout_s
                )
            except nats.errors.TimeoutError:
                continue
            except (nats.errors.ConnectionClosedError, nats.errors.Error, OSError) as exc:
                log.warning("consumer %s: fetch failed (%r), retrying", settings.durable, exc)
                await asyncio.sleep(0.5)
                continue
            try:
                await self._process(messages, settings, handler, dead_letters)
            except Exception:  # unacked messages come back after the ack wait
                log.exception("consumer %s: a batch failed outside its handler", settings.durable)
                await asyncio.sleep(1.0)

    async def _process(
        self,
        messages: list[Msg],
        settings: ConsumerSettings,
        handler: BatchHandler,
        dead_letters: DeadLetterSink,
    ) -> None:
        decoded: list[tuple[Msg, EventEnvelope]] = []
        for msg in messages:
            try:
                decoded.append((msg, EventEnvelope.from_bytes(msg.data)))
            except ValueError as exc:  # malformed: retrying cannot help
                await self._dead_letter(msg, f"undecodable event: {exc}", dead_letters, settings)
        if not decoded:
            return
        async with _kept_alive([m for m, _ in decoded], settings.ack_wait_s / 3):
            await self._handle(decoded, settings, handler, dead_letters)

    async def _handle(
        self,
        decoded: list[tuple[Msg, EventEnvelope]],
        settings: ConsumerSettings,
        handler: BatchHandler,
        dead_letters: DeadLetterSink,
    ) -> None:
        try:
            await handler([env for _, env in decoded])
        except Exception as exc:
            log.warning("consumer %s: batch failed (%r); retrying one by one",
                        settings.durable, exc)  # fmt: skip
        else:
            for msg, _ in decoded:
                await _ack(msg)
            return
        for msg, env in decoded:
            try:
                await handler([env])
            except Exception as exc:
                await self._retry_or_dead_letter(msg, exc, settings, dead_letters)
            else:
                await _ack(msg)

    async def _retry_or_dead_letter(
        self, msg: Msg, exc: Exception, settings: ConsumerSettings, dead_letters: DeadLetterSink
    ) -> None:
        deliveries = msg.metadata.num_delivered
        permanent = isinstance(exc, PermanentEventError)
        if not permanent and settings.transient(exc):
            log.warning("consumer %s: %s failed for now (%r); retrying", settings.durable,
                        msg.subject, exc)  # fmt: skip
        elif permanent or deliveries >= settings.max_deliveries:
            await self._dead_letter(msg, f"{type(exc).__name__}: {exc}", dead_letters, settings)
            return
        await _nak(msg, settings.backoff_s[min(deliveries, len(settings.backoff_s)) - 1])

    async def _dead_letter(
        self, msg: Msg, error: str, sink: DeadLetterSink, settings: ConsumerSettings
    ) -> None:
        deliveries = msg.metadata.num_delivered if msg.reply else 1
        message_id = (msg.headers or {}).get("Nats-Msg-Id")
        # Recorded durably first; only then is the message taken off the stream.
        try:
            await sink.record_dead_letter(
                subject=msg.subject, message_id=message_id, deliveries=deliveries, error=error,
                data=msg.data,
            )  # fmt: skip
        except Exception as exc:  # the sink is away: keep the message, it comes back
            log.warning("consumer %s: dead letter of %s not recorded (%r); kept on the stream",
                        settings.durable, msg.subject, exc)  # fmt: skip
            await _nak(msg, settings.backoff_s[-1])
            return
        try:
            await msg.term()
        except nats.errors.Error:
            pass


@contextlib.asynccontextmanager
async def _kept_alive(messages: list[Msg], interval_s: float) -> AsyncIterator[None]:
    """While the block runs, tell the server every `interval_s` that these messages are
    still being worked on, so that they are not redelivered to another consumer."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(interval_s)
            for msg in messages:
                try:
                    await msg.in_progress()
                except nats.errors.Error:
                    pass  # acked already, or the connection is gone: redelivery then

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


async def _nak(msg: Msg, delay_s: float) -> None:
    try:
        await msg.nak(delay=delay_s)
    except nats.errors.Error:
        pass  # redelivered after the ack wait anyway


async def _ack(msg: Msg) -> None:
    try:
        await msg.ack()
    except nats.errors.Error:
        pass  # it will be redelivered; the handler is idempotent
