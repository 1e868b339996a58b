"""The journal: prepared, then signed bytes, durable across a reopen; idempotent prepare."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_core.chain.errors import JournalError
from platform_core.chain.journal import Attempt, AttemptKind, Journal, StepState, archive_journals

SENDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ROUTER = "0x2279B7A0a67DB372996a5FaB50D91eAA73d2eBe6"


def attempt(n: int, kind: AttemptKind = AttemptKind.ORIGINAL) -> Attempt:
    return Attempt(bytes([n]) * 32, b"\x02raw" + bytes([n]), kind, 5, 100 + n, 10 + n)


def prepare(journal: Journal, key: str = "step-1") -> None:
    journal.prepare(
        key,
        chain_id=42161,
        sender=SENDER,
        to=ROUTER,
        value=2**200,  # above SQLite's 64-bit integers: stored as text
        data=b"\x01\x02",
        max_fee_ceiling=10**11,
        meta={"intent": "abc"},
    )


def test_prepare_sign_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    prepare(journal)
    assert journal.get("step-1").state == StepState.PREPARED
    journal.record_signed("step-1", attempt(1), gas_limit=200_000)
    journal.close()

    reopened = Journal(path)  # a new process sees exactly what was written
    record = reopened.get("step-1")
    assert record.state == StepState.SIGNED and record.nonce == 5
    assert record.value == 2**200 and record.data == b"\x01\x02" and record.gas_limit == 200_000
    assert record.attempts == (attempt(1),) and record.meta == {"intent": "abc"}
    assert [r.step_key for r in reopened.open_steps()] == ["step-1"]
    reopened.close()


def test_prepare_twice_changes_nothing(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    prepare(journal)
    journal.record_signed("step-1", attempt(1), gas_limit=1)
    prepare(journal)
    assert journal.get("step-1").state == StepState.SIGNED


def test_replacements_are_kept_in_order_and_final_states_close_the_step(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    prepare(journal)
    journal.record_signed("step-1", attempt(1), gas_limit=1)
    journal.set_state("step-1", StepState.SUBMITTED)
    journal.record_signed("step-1", attempt(2, AttemptKind.SPEED_UP), gas_limit=1)
    record = journal.get("step-1")
    assert record.state == StepState.SUBMITTED  # a replacement does not reset the state
    assert [a.kind for a in record.attempts] == [AttemptKind.ORIGINAL, AttemptKind.SPEED_UP]
    journal.set_state("step-1", StepState.CONFIRMED, final_tx_hash=attempt(2).tx_hash)
    assert journal.open_steps() == []
    assert journal.get("step-1").final_tx_hash == attempt(2).tx_hash


def test_unknown_steps_are_clear_errors(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    with pytest.raises(JournalError, match="no step"):
        journal.get("nope")
    with pytest.raises(JournalError, match="no prepared step"):
        journal.record_signed("nope", attempt(1), gas_limit=1)
    with pytest.raises(JournalError):
        journal.set_state("nope", StepState.CONFIRMED)


def test_same_key_with_different_content_is_refused(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    prepare(journal)
    with pytest.raises(JournalError, match="different content"):
        journal.prepare(
            "step-1", chain_id=42161, sender=SENDER, to=ROUTER, value=1, data=b"", max_fee_ceiling=1
        )


def test_journals_of_a_previous_chain_are_archived_not_reused(tmp_path: Path) -> None:
    base = tmp_path / "journal.sqlite"
    wallet = tmp_path / "journal-uniswap_v3-0xabc.sqlite"
    Journal(wallet).close()
    (tmp_path / "other.sqlite").write_bytes(b"")
    moved = archive_journals(base)
    assert moved and all(p.parent.parent == tmp_path / "stale-journals" for p in moved)
    assert wallet.name in {p.name for p in moved}
    assert not wallet.exists() and (tmp_path / "other.sqlite").exists()
    assert archive_journals(base) == []  # nothing left to move
