"""Idempotency keys for `POST /intents`: a repeated submit returns the original receipt and
creates nothing.

The first request under a key claims it (one INSERT, so two racing requests cannot both
win) together with a hash of its body, the response it got (a 202 receipt or a 422
denial) and the exact event bytes. A retry with the same body gets the same response, and
its event is published again with the same id, so a first attempt that died before
publishing still completes, and one that did publish is deduplicated downstream. The same
key with a different body is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from platform_core.errors import ErrorCode, PlatformError

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Claim:
    status_code: int
    body: dict[str, Any]
    envelope: bytes
    first: bool  # this request made the claim


class IdempotencyConflict(PlatformError, ValueError):
    """The key was used before with a different request body."""

    code = ErrorCode.IDEMPOTENCY_KEY_REUSED


def request_hash(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


class IdempotencyKeys:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def find(self, strategy_id: UUID, key: str, body_hash: bytes) -> Claim | None:
        """The earlier claim under this key, or None; `IdempotencyConflict` when it was made
        for another body."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT request_hash, response, envelope FROM idempotency_keys "
                "WHERE strategy_id = $1 AND key = $2",
                strategy_id,
                key,
            )
        return None if row is None else _claim(row, body_hash)

    async def claim(
        self,
        strategy_id: UUID,
        key: str,
        body_hash: bytes,
        status_code: int,
        body: dict[str, Any],
        envelope: bytes,
    ) -> Claim:
        response = json.dumps({"status_code": status_code, "body": body})
        async with self._pool.acquire() as conn:
            inserted = await conn.fetchval(
                "INSERT INTO idempotency_keys (strategy_id, key, request_hash, response, envelope)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
                strategy_id, key, body_hash, response, envelope,
            )  # fmt: skip
        if inserted:
            return Claim(status_code, body, envelope, first=True)
        found = await self.find(strategy_id, key, body_hash)
        assert found is not None  # a claim that blocked ours cannot disappear
        return found


def _claim(row: Any, body_hash: bytes) -> Claim:
    if bytes(row["request_hash"]) != body_hash:
        raise IdempotencyConflict("this Idempotency-Key was used with a different body")
    response = json.loads(row["response"])
    return Claim(response["status_code"], response["body"], bytes(row["envelope"]), first=False)
