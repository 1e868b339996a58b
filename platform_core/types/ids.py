"""Identifiers: time-ordered UUIDs (version 7) for events, name-based ones for replays."""

from __future__ import annotations

import os
import time
import uuid

# Namespace for deterministic ids (uuid5): events re-derived after a restart get the same id,
# so every deduplicating store downstream sees them as the same event.
PLATFORM_NAMESPACE = uuid.UUID("6f2c7b1e-0d55-4f43-9a57-3c2d9b1c4e10")


def uuid7(unix_ms: int | None = None) -> uuid.UUID:
    """A UUID version 7 (RFC 9562): 48-bit Unix milliseconds, then 74 random bits.

    Ids sort by creation time, which keeps B-tree inserts append-mostly and makes the
    event log readable in id order.
    """
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    if not 0 <= ms < 1 << 48:
        raise ValueError("unix_ms out of range for a UUIDv7")
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = rand >> 68 & 0xFFF  # 12 bits
    rand_b = rand & ((1 << 62) - 1)  # 62 bits
    value = ms << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def deterministic_id(*parts: object) -> uuid.UUID:
    """A stable id derived from `parts` (uuid5 in the platform namespace)."""
    return uuid.uuid5(PLATFORM_NAMESPACE, "\x1f".join(str(p) for p in parts))
