"""Secret canaries: after a run, name every place a secret (a signing key, an API key token)
turned up: log and journal files, event log rows, Redis keys and values, PostgreSQL tables,
the Ray dashboard's task and actor lists.

`find_secrets` is pure: places are (name, bytes). Each secret is looked for in the forms it
could take: as given, case-insensitively; a hex one with and without `0x`, as its raw bytes
and as their base64. A leak names the secret by a label (never the secret itself).
The collectors below turn files, the event log, Redis and PostgreSQL into places.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import asyncpg
import redis.asyncio as aioredis

from platform_core.types.events import EventEnvelope

_HEX = re.compile(r"^(0x)?([0-9a-fA-F]{2})+$")


@dataclass(frozen=True)
class Secret:
    label: str  # how reports name it, e.g. "signing key of 0x70997970..."
    value: str


@dataclass(frozen=True)
class Place:
    name: str  # a file path, "events:<event id>", "redis:<key>", "postgres:<table>", ...
    data: bytes


@dataclass(frozen=True)
class Leak:
    secret: str  # the label
    place: str
    form: str  # which form was found: text, hex, 0x-hex, raw, base64
    offset: int


def masked(value: str) -> str:
    """A label that does not give the secret away: its first characters and its length."""
    return f"{value[:6]}...({len(value)} chars)"


def forms(value: str) -> list[tuple[str, bytes]]:
    """The byte strings to look for (lower-cased where case does not matter)."""
    found: list[tuple[str, bytes]] = [("text", value.lower().encode())]
    if _HEX.match(value):
        bare = value.lower().removeprefix("0x")
        raw = bytes.fromhex(bare)
        found += [("hex", bare.encode()), ("0x-hex", ("0x" + bare).encode())]
        if len(raw) >= 16:  # short ones would match by chance in binary data
            found += [("raw", raw), ("base64", base64.b64encode(raw).rstrip(b"="))]
    unique: dict[bytes, str] = {}
    for form, needle in found:
        unique.setdefault(needle, form)
    return [(form, needle) for needle, form in unique.items()]


def find_secrets(secrets: Iterable[Secret], places: Iterable[Place]) -> list[Leak]:
    """Every (secret, place) where a form of the secret occurs, with the first offset."""
    needles = [
        (s.label, form, needle) for s in secrets if s.value for form, needle in forms(s.value)
    ]
    leaks: list[Leak] = []
    for place in places:
        lowered = place.data.lower()
        for label, form, needle in needles:
            haystack = place.data if form in ("raw", "base64") else lowered
            offset = haystack.find(needle)
            if offset >= 0:
                leaks.append(Leak(label, place.name, form, offset))
    # One leak per (secret, place): the most telling form (text before its variants).
    best: dict[tuple[str, str], Leak] = {}
    for leak in leaks:
        best.setdefault((leak.secret, leak.place), leak)
    return list(best.values())


def signing_key_secrets(keys: dict[str, str]) -> list[Secret]:
    """Secrets for a map of wallet address -> private key (0x-hex or bare hex)."""
    return [Secret(f"signing key of {wallet}", key) for wallet, key in keys.items()]


# -- collectors -----------------------------------------------------------------------------


def file_places(paths: Iterable[Path], *, max_bytes: int = 256 * 1024 * 1024) -> Iterator[Place]:
    """Every file under `paths` (files or folders, recursively), as read; SQLite WAL files
    included, which is where recent journal writes live."""
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            try:
                if path.stat().st_size > max_bytes:
                    continue
                yield Place(str(path), path.read_bytes())
            except OSError:
                continue


def event_places(events: Iterable[EventEnvelope]) -> Iterator[Place]:
    for env in events:
        yield Place(f"events:{env.event_id}", env.to_bytes())


async def redis_places(client: aioredis.Redis, prefix: str) -> AsyncIterator[Place]:
    """Every key under `prefix`, its name and its value whatever its type (`client` must
    not decode responses)."""
    async for key in client.scan_iter(match=f"{prefix}*", count=500):
        name = key if isinstance(key, bytes) else str(key).encode()
        kind = await client.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        parts: list[bytes] = [name]
        if kind == "string":
            parts.append(_b(await client.get(key)))
        elif kind == "hash":
            for field, value in (await client.hgetall(key)).items():
                parts += [_b(field), _b(value)]
        elif kind == "list":
            parts += [_b(v) for v in await client.lrange(key, 0, -1)]
        elif kind == "set":
            parts += [_b(v) for v in await client.smembers(key)]
        elif kind == "zset":
            parts += [_b(v) for v in await client.zrange(key, 0, -1)]
        elif kind == "stream":
            entries = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrange(key))
            for entry_id, fields in entries:
                parts.append(_b(entry_id))
                for field, value in fields.items():
                    parts += [_b(field), _b(value)]
        yield Place(f"redis:{name.decode(errors='replace')}", b"\n".join(parts))


def _b(value: object) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    return str(value).encode()


async def postgres_places(dsn: str) -> AsyncIterator[Place]:
    """Every table of the database in `dsn` (all schemas but the system ones), dumped as
    COPY text (TimescaleDB's internal chunks aside: their rows come with their table's)."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            " AND table_schema NOT LIKE '\\_timescaledb%'"
            " ORDER BY table_schema, table_name"
        )
        for row in tables:
            buffer = io.BytesIO()
            # A query, not the table: a hypertable's rows live in its chunks.
            name = f'"{row["table_schema"]}"."{row["table_name"]}"'
            await conn.copy_from_query(f"SELECT * FROM {name}", output=buffer)
            yield Place(f"postgres:{row['table_schema']}.{row['table_name']}", buffer.getvalue())
    finally:
        await conn.close()


def json_place(name: str, data: bytes | str) -> Place:
    """A document given as is: the Ray dashboard's task or actor list, for instance."""
    return Place(name, data.encode() if isinstance(data, str) else data)
