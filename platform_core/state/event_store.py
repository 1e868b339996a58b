"""The PostgreSQL event log: append-only, idempotent, batched.

`append` takes a batch of envelopes and writes them in two round trips: one reads what the
log holds of the batch's intents and checks the batch against it (`causality.check_chain`),
one writes. An event whose id is already stored is skipped, so redelivery and double
publishing store it exactly once. What a stale writer sends is refused, and nothing of the
batch is stored: another event at an (intent, sequence) already stored (`SequenceTaken`;
under a race, the plain table's unique index or, for a TimescaleDB hypertable, which cannot
hold it, the `event_sequences` side table refuses it too), and an event not caused by the
one stored before it or after the intent's final event (`CauseBroken`). An event whose
predecessor is not stored yet raises `CauseNotRecorded`, which a retry can get past.
Commits are synchronous: when `append` returns, the events are on disk.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from importlib import resources
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import asyncpg

from platform_core.intent.aggregate import SequenceTaken
from platform_core.state.causality import FINAL_EVENT_TYPES, Link, check_chain, first_needed
from platform_core.types import EventEnvelope

__all__ = ["FINAL_EVENT_TYPES", "EventStore", "StoredEvent", "ensure_database", "migrate"]

# What refuses a second event at a taken (intent, sequence): the plain table's unique index
# (002_events_plain), the hypertable's side table (004_event_sequences_timescale).
_SEQUENCE_CONSTRAINTS = ("events_intent_sequence", "event_sequences_pkey")
_MIGRATION_LOCK = 0x5E9E7E17  # advisory lock id: one migrator at a time
_LATER_MIGRATIONS = ("003_api",)  # applied in order after the event log's own
_TIMESCALE_MIGRATIONS = ("004_event_sequences_timescale",)  # then these, on a hypertable

_COLUMNS = (
    "event_id, event_type, intent_id, strategy_id, sequence, occurred_at, "
    "schema_version, causation_id, envelope, payload"
)
_UNNEST = (
    "SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::int[], "
    f"$6::timestamptz[], $7::int[], $8::uuid[], $9::bytea[], $10::jsonb[]) AS b({_COLUMNS})"
)
_INSERT_PLAIN = (
    f"INSERT INTO events ({_COLUMNS}) {_UNNEST} "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)
# Hypertables cannot hold a unique index on event_id alone, nor on (intent_id, sequence):
# claim the id in one side table, and the sequence of each new event in another (a taken
# sequence raises there, as the plain table's unique index does).
_INSERT_TIMESCALE = (
    "WITH claimed AS (INSERT INTO event_ids SELECT unnest($1::uuid[]) "
    "ON CONFLICT DO NOTHING RETURNING event_id), "
    f"batch AS ({_UNNEST}), "
    "sequences AS (INSERT INTO event_sequences (intent_id, sequence) "
    "SELECT batch.intent_id, batch.sequence FROM batch JOIN claimed USING (event_id)) "
    f"INSERT INTO events ({_COLUMNS}) SELECT batch.* FROM batch "
    "JOIN claimed USING (event_id) RETURNING event_id"
)
# What the chain check needs of the batch's intents: each one's events from a sequence on,
# and its final events wherever they are.
_LINKS = (
    "SELECT e.intent_id, e.sequence, e.event_id, e.event_type = ANY($3::text[]) AS final "
    "FROM events e JOIN unnest($1::uuid[], $2::int[]) AS a(intent_id, from_sequence) "
    "USING (intent_id) WHERE e.sequence >= a.from_sequence OR e.event_type = ANY($3::text[])"
)


_Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy  # a pool's hands out proxies


@dataclass(frozen=True)
class StoredEvent:
    position: int
    envelope: EventEnvelope


def _ssl(dsn: str) -> bool | None:
    """No TLS to a server on this machine unless the DSN asks for it (asyncpg would try it
    first, for nothing but CPU); elsewhere, asyncpg's default (the DSN's `sslmode`)."""
    parts = urlsplit(dsn)
    local = parts.hostname in (None, "127.0.0.1", "::1", "localhost")
    return None if "sslmode" in parse_qs(parts.query) or not local else False


class EventStore:
    def __init__(self, pool: asyncpg.Pool, *, timescale: bool) -> None:
        self._pool = pool
        self.timescale = timescale

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int = 1, max_size: int = 4) -> EventStore:
        """Connect, creating the database if it does not exist, and migrate."""
        await ensure_database(dsn)
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            ssl=_ssl(dsn),
            server_settings={"synchronous_commit": "on", "application_name": "sep"},
        )
        try:
            timescale = await migrate(pool)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, timescale=timescale)

    @property
    def pool(self) -> asyncpg.Pool:
        """The connection pool, shared with the other tables of the platform's database."""
        return self._pool

    async def close(self) -> None:
        await self._pool.close()

    async def append(self, envelopes: Sequence[EventEnvelope]) -> set[UUID]:
        """Check the batch against the log, then store it in one statement; return the ids
        that were new."""
        if not envelopes:
            return set()
        async with self._pool.acquire() as conn:
            check_chain(envelopes, await self._links(conn, envelopes))
            return await self._insert(conn, envelopes)

    async def _insert(self, conn: _Conn, envelopes: Sequence[EventEnvelope]) -> set[UUID]:
        """The write alone; under a race the check could not see, the database still
        refuses a second event at a taken sequence."""
        columns: list[list[object]] = [[] for _ in range(10)]
        for env in envelopes:
            raw = env.to_bytes()
            row = (
                env.event_id, env.event_type, env.intent_id, env.strategy_id, env.sequence,
                env.occurred_at, env.schema_version, env.causation_id, raw,
                json.dumps(env.payload),
            )  # fmt: skip
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        sql = _INSERT_TIMESCALE if self.timescale else _INSERT_PLAIN
        try:
            rows = await conn.fetch(sql, *columns)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name not in _SEQUENCE_CONSTRAINTS:
                raise
            raise SequenceTaken(f"refused: {exc.detail or exc}") from exc
        return {row["event_id"] for row in rows}

    @staticmethod
    async def _links(conn: _Conn, envelopes: Sequence[EventEnvelope]) -> list[Link]:
        needed = first_needed(envelopes)
        rows = await conn.fetch(_LINKS, list(needed), list(needed.values()), FINAL_EVENT_TYPES)
        return [Link(r["intent_id"], r["sequence"], r["event_id"], r["final"]) for r in rows]

    async def intent_events(
        self, intent_id: UUID, *, after_sequence: int = -1
    ) -> list[EventEnvelope]:
        """An intent's events in sequence order."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT envelope FROM events WHERE intent_id = $1 AND sequence > $2 "
                "ORDER BY sequence",
                intent_id,
                after_sequence,
            )
        return [EventEnvelope.from_bytes(row["envelope"]) for row in rows]

    async def intents_events_after(self, after: dict[UUID, int]) -> dict[UUID, list[EventEnvelope]]:
        """For many intents at once: each one's events after the given sequence."""
        if not after:
            return {}
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT e.intent_id, e.envelope FROM events e "
                "JOIN unnest($1::uuid[], $2::int[]) AS a(intent_id, after_sequence) "
                "USING (intent_id) WHERE e.sequence > a.after_sequence "
                "ORDER BY e.intent_id, e.sequence",
                list(after),
                list(after.values()),
            )
        result: dict[UUID, list[EventEnvelope]] = {}
        for row in rows:
            result.setdefault(row["intent_id"], []).append(
                EventEnvelope.from_bytes(row["envelope"])
            )
        return result

    async def open_plans(self) -> list[tuple[EventEnvelope, EventEnvelope]]:
        """(IntentSubmitted, PlanCreated) of every planned intent without a final event, in
        the order they were planned: what an execution actor resumes on start."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT s.envelope AS submitted, p.envelope AS planned FROM events p "
                "JOIN events s ON s.intent_id = p.intent_id AND s.sequence = 0 "
                "WHERE p.event_type = 'PlanCreated' AND NOT EXISTS (SELECT 1 FROM events t "
                "WHERE t.intent_id = p.intent_id AND t.event_type = ANY($1::text[])) "
                "ORDER BY p.position",
                FINAL_EVENT_TYPES,
            )
        return [
            (EventEnvelope.from_bytes(r["submitted"]), EventEnvelope.from_bytes(r["planned"]))
            for r in rows
        ]

    async def events_after(self, position: int = 0, *, limit: int = 1000) -> list[StoredEvent]:
        """Every event recorded after `position`, in recording order (for replay)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT position, envelope FROM events WHERE position > $1 "
                "ORDER BY position LIMIT $2",
                position,
                limit,
            )
        return [StoredEvent(r["position"], EventEnvelope.from_bytes(r["envelope"])) for r in rows]

    async def replay(self, *, page: int = 1000) -> AsyncIterator[StoredEvent]:
        position = 0
        while True:
            batch = await self.events_after(position, limit=page)
            if not batch:
                return
            for stored in batch:
                yield stored
            position = batch[-1].position

    async def count(self) -> int:
        async with self._pool.acquire() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM events"))

    async def record_dead_letter(
        self, *, subject: str, message_id: str | None, deliveries: int, error: str, data: bytes
    ) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO dead_letters (subject, message_id, deliveries, error, data) "
                "VALUES ($1, $2, $3, $4, $5)",
                subject, message_id, deliveries, error[:2000], data,
            )  # fmt: skip

    async def dead_letters(self) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            return await conn.fetch("SELECT * FROM dead_letters ORDER BY id")


async def ensure_database(dsn: str) -> None:
    """Create the database named in `dsn` when it does not exist yet."""
    from urllib.parse import urlsplit

    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    if not name:
        return
    admin = parts._replace(path="/postgres").geturl()
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name.replace(chr(34), "")}"')
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # created concurrently (PostgreSQL reports the race either way)
    finally:
        await conn.close()


def _migration(name: str) -> str:
    return resources.files("platform_core.state").joinpath("migrations", name).read_text()


async def migrate(pool: asyncpg.Pool) -> bool:
    """Apply the project's migrations once; return whether the log is a hypertable."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        if "002_events_timescale" in applied:
            timescale = True
        elif "002_events_plain" in applied:
            timescale = False
        else:
            timescale = bool(
                await conn.fetchval(
                    "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
                )
            )
            if timescale:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        flavour = "002_events_timescale" if timescale else "002_events_plain"
        later = (*_LATER_MIGRATIONS, *_TIMESCALE_MIGRATIONS) if timescale else _LATER_MIGRATIONS
        for version in ("001_events", flavour, *later):
            if version not in applied:
                await conn.execute(_migration(f"{version}.sql"))
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
        return timescale
