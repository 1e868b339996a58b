"""Idempotency keys for `POST /intents`: a repeated submit returns the original receipt and
creates nothing.

The first request under a key claims it (one INSERT, so two racing requests cannot both
win) together with a hash of its body, its receipt and the exact event bytes. A retry with
the same body gets the same receipt, and its event is published again with the same id, so
a first attempt that died before publishing still completes, and one that did publish is
deduplicated downstream. The same key with a different body is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Claim:
    receipt: dict[str, Any]
    envelope: bytes
    first: bool  # this request made the claim


class IdempotencyConflict(ValueError):
    """The key was used before with a different request body."""


def request_hash(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


class IdempotencyKeys:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim(
        self,
        strategy_id: UUID,
        key: str,
        body_hash: bytes,
        receipt: dict[str, Any],
        envelope: bytes,
    ) -> Claim:
        async with self._pool.acquire() as conn:
            inserted = await conn.fetchval(
                "INSERT INTO idempotency_keys (strategy_id, key, request_hash, receipt, envelope)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
                strategy_id, key, body_hash, json.dumps(receipt), envelope,
            )  # fmt: skip
            if inserted:
                return Claim(receipt, envelope, first=True)
            row = await conn.fetchrow(
                "SELECT request_hash, receipt, envelope FROM idempotency_keys "
                "WHERE strategy_id = $1 AND key = $2",
                strategy_id,
                key,
            )
        if bytes(row["request_hash"]) != body_hash:
            raise IdempotencyConflict("this Idempotency-Key was used with a different body")
        return Claim(json.loads(row["receipt"]), bytes(row["envelope"]), first=False)
