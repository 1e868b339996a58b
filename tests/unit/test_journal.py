"""The journal: prepared, then signed bytes, durable across a reopen; idempotent prepare; bound
to one chain, with the blocks of its mined steps; bytes signed twice are a chain mismatch."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from platform_core.chain.errors import JournalChainMismatch, JournalError
from platform_core.chain.journal import (
    Attempt,
    AttemptKind,
    Journal,
    StepState,
    adopt_venue_journal,
    archive_journals,
    venue_journals,
    wallet_journal_path,
    wallet_journals,
)
from platform_core.errors import ErrorCode

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


GENESIS = bytes.fromhex("c1" * 32)


def test_the_journal_is_bound_to_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    assert journal.chain() is None
    journal.bind(42161, GENESIS, record=False)  # a read-only check binds nothing
    assert journal.chain() is None
    journal.bind(42161, GENESIS)
    journal.close()

    reopened = Journal(path)
    assert reopened.chain() == (42161, GENESIS)
    reopened.bind(42161, GENESIS)  # the same chain again: fine
    for chain_id, genesis in ((42161, bytes(32)), (1, GENESIS)):
        with pytest.raises(JournalChainMismatch) as refused:
            reopened.bind(chain_id, genesis)
        assert refused.value.code is ErrorCode.JOURNAL_CHAIN_MISMATCH
        assert not refused.value.retryable
        message = str(refused.value)
        assert str(path) in message and f"genesis block 0x{GENESIS.hex()}" in message
        assert "sep journals archive" in message and "SEP_JOURNAL_PATH" in message
    assert reopened.chain() == (42161, GENESIS)


def test_signing_bytes_the_journal_already_holds_is_a_chain_mismatch(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    prepare(journal, "first")
    journal.record_signed("first", attempt(1), gas_limit=1)
    journal.set_state("first", StepState.CONFIRMED, final_tx_hash=attempt(1).tx_hash)
    # A chain reset hands nonce 5 out again: the same payload signs into the same bytes.
    prepare(journal, "again")
    with pytest.raises(JournalChainMismatch, match="already holds for step 'first'") as refused:
        journal.record_signed("again", attempt(1), gas_limit=1)
    assert not refused.value.retryable and f"0x{attempt(1).tx_hash.hex()}" in str(refused.value)
    record = journal.get("again")  # the failed write left nothing behind
    assert record.state is StepState.PREPARED and record.attempts == () and record.nonce is None


def test_mined_steps_keep_their_block_and_the_highest_is_found(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    assert journal.latest_mined() is None and journal.highest_mined(SENDER) is None
    for n, key in ((1, "a"), (2, "b"), (3, "c")):
        prepare(journal, key)
        signed = Attempt(bytes([n]) * 32, b"raw", AttemptKind.ORIGINAL, 10 + n, 1, 1)
        journal.record_signed(key, signed, gas_limit=1)
    block = bytes([7]) * 32
    journal.set_state("a", StepState.CONFIRMED, final_tx_hash=bytes([1]) * 32,
                      block_number=90, block_hash=block)  # fmt: skip
    journal.set_state("b", StepState.REVERTED, final_tx_hash=bytes([2]) * 32)  # no block
    journal.set_state("c", StepState.REPLACED, detail="someone else's")  # not our tx
    assert journal.get("a").block_number == 90 and journal.get("a").block_hash == block
    latest = journal.latest_mined()
    assert latest is not None and (latest.step_key, latest.block_number) == ("a", 90)
    highest = journal.highest_mined(SENDER.lower())
    assert highest is not None and (highest.step_key, highest.nonce) == ("b", 12)
    assert journal.senders() == [SENDER]


def test_a_journal_written_before_blocks_were_recorded_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    Journal(path).close()
    db = sqlite3.connect(path)  # drop the columns this version added: an older journal
    db.execute("ALTER TABLE steps DROP COLUMN block_hash")
    db.execute("ALTER TABLE steps DROP COLUMN block_number")
    db.close()
    journal = Journal(path)
    prepare(journal)
    journal.record_signed("step-1", attempt(1), gas_limit=1)
    journal.set_state("step-1", StepState.CONFIRMED, final_tx_hash=attempt(1).tx_hash,
                      block_number=3, block_hash=GENESIS)  # fmt: skip
    assert journal.get("step-1").block_number == 3


def test_wallet_journals_are_named_beside_the_configured_path(tmp_path: Path) -> None:
    base = tmp_path / "journal.sqlite"
    path = wallet_journal_path(base, 42161, "0xABC")
    assert path == tmp_path / "journal-42161-0xabc.sqlite"
    Journal(path).close()  # leaves -wal / -shm files beside it, which are not journals
    (tmp_path / "other.sqlite").write_bytes(b"")
    assert wallet_journals(base) == [path]


def test_a_per_venue_journal_is_taken_over_with_its_open_steps(tmp_path: Path) -> None:
    base = tmp_path / "journal.sqlite"
    old = tmp_path / "journal-uniswap_v3-0xabc.sqlite"  # one journal per (venue, wallet)
    journal = Journal(old)
    journal.bind(42161, GENESIS)
    prepare(journal)
    journal.record_signed("step-1", attempt(1), gas_limit=1)
    journal.close()
    assert venue_journals(base, "0xABC") == [old]
    assert adopt_venue_journal(base, 42161, "0xABC") == old
    assert not old.exists() and venue_journals(base, "0xABC") == []
    adopted = Journal(wallet_journal_path(base, 42161, "0xABC"))
    assert [r.step_key for r in adopted.open_steps()] == ["step-1"]
    assert adopted.chain() == (42161, GENESIS)
    adopted.close()
    assert adopt_venue_journal(base, 42161, "0xABC") is None  # nothing left to take over


def test_a_per_venue_journal_of_another_chain_is_left_alone(tmp_path: Path) -> None:
    base = tmp_path / "journal.sqlite"
    old = tmp_path / "journal-uniswap_v3-0xabc.sqlite"
    journal = Journal(old)
    journal.bind(1, GENESIS)
    journal.close()
    assert adopt_venue_journal(base, 42161, "0xABC") is None
    assert old.exists() and not wallet_journal_path(base, 42161, "0xABC").exists()
