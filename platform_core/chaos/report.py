"""The table of a chaos run: intents by final status, faults by kind, violations by rule.

`summary` is the dict (for JSON); `render` the same three tables as plain text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from platform_core.chaos.checker import RULES, Evidence, Violation
from platform_core.chaos.history import FaultRecord
from platform_core.types.events import EVENT_TYPES, EventEnvelope

OPEN = "open"  # an intent without a final event


def final_statuses(events: Iterable[EventEnvelope]) -> dict[str, str]:
    """Intent id -> the status of its first final event (`OPEN` when it has none)."""
    status: dict[str, str] = {}
    for env in events:
        intent = str(env.intent_id)
        status.setdefault(intent, OPEN)
        cls = EVENT_TYPES.get(env.event_type)
        after = None if cls is None else cls.status_after
        if after is not None and after.is_terminal and status[intent] == OPEN:
            status[intent] = after.value
    return status


def summary(
    evidence: Evidence, faults: Sequence[FaultRecord], violations: Sequence[Violation]
) -> dict[str, Any]:
    intents = Counter(final_statuses(evidence.events).values())
    by_kind: dict[str, dict[str, int]] = {}
    for fault in faults:
        row = by_kind.setdefault(fault.kind, {"ok": 0, "failed": 0})
        row["ok" if fault.ok else "failed"] += 1
    counts = Counter(v.rule for v in violations)
    rules = {rule: counts.get(rule, 0) for rule in RULES}
    for rule, count in counts.items():  # a rule outside RULES still shows
        rules.setdefault(rule, count)
    return {
        "intents": dict(sorted(intents.items())),
        "faults": dict(sorted(by_kind.items())),
        "violations": rules,
        "total_violations": len(violations),
    }


def _table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, header)), *[list(map(str, row)) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        first, *rest = row
        parts = [
            first.ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)),
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([title, line(cells[0]), rule, *(line(r) for r in cells[1:])])


def render(table: dict[str, Any]) -> str:
    """The three tables of `summary`'s dict, as plain text."""
    intents = table["intents"]
    faults = table["faults"]
    violations = table["violations"]
    parts = [
        _table(
            "Intents by final status",
            ("status", "intents"),
            [*sorted(intents.items()), ("total", sum(intents.values()))],
        ),
        _table(
            "Faults injected",
            ("kind", "ok", "failed"),
            [(kind, row["ok"], row["failed"]) for kind, row in sorted(faults.items())]
            or [("(none)", 0, 0)],
        ),
        _table(
            "Violations by rule",
            ("rule", "violations"),
            [*violations.items(), ("total", sum(violations.values()))],
        ),
    ]
    return "\n\n".join(parts) + "\n"
