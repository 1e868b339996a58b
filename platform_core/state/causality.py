"""What the event log admits: every intent's events form one chain.

Sequence 0 has no cause; every later event is caused by the event the log holds at the
sequence before it; nothing follows an intent's final event. The unique (intent, sequence)
index alone keeps one event per sequence, but not a chain: a stale writer whose first event
was refused (its sequence taken) could still store the next one, after another writer's
event, even after the intent had ended. `check_chain` refuses that.

Pure: given a batch and the `Link`s the log holds of the batch's intents (from the
sequence before each one's first in the batch, and every final event), it raises
`SequenceTaken` or `CauseBroken` for an event that can never be stored, `CauseNotRecorded`
for one whose predecessor is not stored yet (retry: events may arrive out of order), and
otherwise returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from platform_core.intent.aggregate import CauseBroken, CauseNotRecorded, SequenceTaken
from platform_core.types import EVENT_TYPES, EventEnvelope

# The event types after which an intent is over (completed, failed, expired, ...).
FINAL_EVENT_TYPES = sorted(
    name
    for name, cls in EVENT_TYPES.items()
    if cls.status_after is not None and cls.status_after.is_terminal
)
_FINAL = frozenset(FINAL_EVENT_TYPES)


@dataclass(frozen=True)
class Link:
    """One stored event, as the chain check needs it."""

    intent_id: UUID
    sequence: int
    event_id: UUID
    final: bool


def is_final(envelope: EventEnvelope) -> bool:
    """Whether the intent is over after this event (by its type: no payload decoded)."""
    return envelope.event_type in _FINAL


def link_of(envelope: EventEnvelope) -> Link:
    return Link(envelope.intent_id, envelope.sequence, envelope.event_id, is_final(envelope))


def first_needed(batch: Sequence[EventEnvelope]) -> dict[UUID, int]:
    """Per intent of the batch, the lowest sequence whose stored link the check needs."""
    needed: dict[UUID, int] = {}
    for env in batch:
        needed[env.intent_id] = min(needed.get(env.intent_id, env.sequence), env.sequence - 1)
    return needed


def check_chain(batch: Sequence[EventEnvelope], stored: Iterable[Link]) -> None:
    """Raise unless every event of `batch` may be stored after `stored` (see the module)."""
    links = {(link.intent_id, link.sequence): link for link in stored}
    ended = {link.intent_id for link in links.values() if link.final}
    for env in sorted(batch, key=lambda e: (e.intent_id.int, e.sequence)):
        here = links.get((env.intent_id, env.sequence))
        if here is not None:
            if here.event_id != env.event_id:
                raise SequenceTaken(
                    f"intent {env.intent_id}: sequence {env.sequence} is taken"
                    f" ({env.event_type} {env.event_id} comes from a stale writer)"
                )
            continue  # stored already: storing it again changes nothing
        _check_cause(env, links, ended)
        link = link_of(env)
        links[(env.intent_id, env.sequence)] = link
        if link.final:
            ended.add(env.intent_id)


def _check_cause(env: EventEnvelope, links: dict[tuple[UUID, int], Link], ended: set[UUID]) -> None:
    what = f"intent {env.intent_id}: {env.event_type} at sequence {env.sequence}"
    if env.intent_id in ended:
        raise CauseBroken(f"{what} follows the intent's final event")
    if env.sequence == 0:
        if env.causation_id is not None:
            raise CauseBroken(f"{what} has a cause, {env.causation_id}")
        return
    before = links.get((env.intent_id, env.sequence - 1))
    if before is None:
        raise CauseNotRecorded(f"{what}: the log does not hold sequence {env.sequence - 1} yet")
    if before.event_id != env.causation_id:
        raise CauseBroken(
            f"{what} is caused by {env.causation_id}, but the log holds {before.event_id}"
            f" at sequence {env.sequence - 1}"
        )
