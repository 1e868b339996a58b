"""Structured logs: one JSON object per line, carrying the intent id when there is one.

Log calls pass it as `extra={"intent_id": ...}`; the formatter lifts the platform's known
extra fields into the record, so a log search for one intent finds every stage's lines.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

CONTEXT_FIELDS = ("intent_id", "strategy_id", "plan_id", "wallet", "stage", "actor")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: int = logging.INFO, *, actor: str | None = None) -> None:
    """JSON lines on stderr for the `platform_core` and `actors` loggers (idempotent)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    if actor is not None:
        handler.addFilter(_Stamp(actor))
    for name in ("platform_core", "actors"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False


class _Stamp(logging.Filter):
    def __init__(self, actor: str) -> None:
        super().__init__()
        self.actor = actor

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "actor", None) is None:
            record.actor = self.actor
        return True
