"""What a chaos run records as it goes: every API call a client made, with its answer, and
every fault injected. Both are written as JSON lines, so a run can be checked again later."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

Op = Literal["submit", "cancel", "get"]


@dataclass(frozen=True)
class ApiCall:
    """One HTTP request of the workload and what came back. `status` is None when no answer
    came (timeout, connection refused or reset): the client may then retry a submission with
    the same `idempotency_key`, as a new call with `attempt` + 1."""

    client: str
    op: Op
    strategy_id: str
    idempotency_key: str | None
    request: dict[str, Any] | None  # the JSON body sent (submissions)
    status: int | None
    body: Any  # the JSON answer, or the text when it was not JSON; None without an answer
    intent_id: str | None  # the answer's intent (submit) or the target (cancel, get)
    started: float  # wall clock, seconds
    ended: float
    attempt: int = 0
    error: str | None = None  # why there was no answer


@dataclass(frozen=True)
class FaultRecord:
    """One fault as scheduled (`at`, seconds after the run's start) and as injected."""

    kind: str
    target: str
    at: float
    started: float
    ended: float
    ok: bool
    detail: str = ""
    blocks: list[int] | None = None  # a reorg: the first and last block it replaced


T = TypeVar("T", ApiCall, FaultRecord)


def write_jsonl(path: Path, records: Iterable[ApiCall | FaultRecord]) -> None:
    with path.open("a", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(asdict(record), separators=(",", ":"), default=str) + "\n")


def read_jsonl(path: Path, kind: type[T]) -> Iterator[T]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield kind(**json.loads(line))
