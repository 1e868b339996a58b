"""Per-strategy API keys, stored hashed.

A key reads `sep_<key id>_<secret>`. The id locates the row; only SHA-256 of the secret is
stored, and it is compared in constant time. The secret is 256 random bits, so a fast hash
is enough: there is nothing to brute-force, unlike a password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import asyncpg

PREFIX = "sep"


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    strategy_id: UUID
    token: str  # shown once, never stored

    def __repr__(self) -> str:  # the token must not reach a log through a repr
        return f"IssuedKey(key_id={self.key_id!r}, strategy_id={self.strategy_id!s})"


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_token(token: str) -> tuple[str, str] | None:
    parts = token.split("_")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or len(parts[2]) < 32:
        return None
    return parts[1], parts[2]


class ApiKeys:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def issue(self, strategy_id: UUID) -> IssuedKey:
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32).replace("_", "-")
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO api_keys (key_id, strategy_id, secret_hash) VALUES ($1, $2, $3)",
                key_id, strategy_id, _hash(secret),
            )  # fmt: skip
        return IssuedKey(key_id, strategy_id, f"{PREFIX}_{key_id}_{secret}")

    async def revoke(self, key_id: str) -> bool:
        async with self._pool.acquire() as conn:
            status = await conn.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
                key_id,
            )
        return status.endswith(" 1")

    async def strategy_for(self, token: str) -> UUID | None:
        """The strategy a valid, unrevoked key belongs to; None for anything else."""
        parsed = parse_token(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT strategy_id, secret_hash FROM api_keys "
                "WHERE key_id = $1 AND revoked_at IS NULL",
                key_id,
            )
        if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), _hash(secret)):
            return None
        strategy_id: UUID = row["strategy_id"]  # asyncpg decodes a uuid column to UUID
        return strategy_id


class KeyCache:
    """Valid keys remembered for `ttl_s` per process, so a busy strategy's requests do not
    each cost a PostgreSQL round trip; a key revoked meanwhile is refused everywhere within
    `ttl_s`. Only keys that authenticated are remembered, by the SHA-256 of the whole token
    (the token itself is not kept)."""

    def __init__(self, ttl_s: float = 1.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._valid: dict[bytes, tuple[UUID, float]] = {}

    def get(self, token: str) -> UUID | None:
        entry = self._valid.get(_hash(token))
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    def put(self, token: str, strategy_id: UUID) -> None:
        now = self.clock()
        if len(self._valid) > 10_000:  # old entries of keys no longer used
            self._valid = {k: v for k, v in self._valid.items() if v[1] > now}
        self._valid[_hash(token)] = (strategy_id, now + self.ttl_s)
