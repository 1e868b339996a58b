"""The transaction journal: a SQLite file that records each step before anything irreversible.

Order of writes for one step: `prepared` (what we mean to send), then the signed raw bytes
and their hash (`signed`), and only then the broadcast. After a crash the journal holds the
exact bytes, so recovery re-sends them instead of signing anew: the nonce and the hash stay
the same and the chain can include the transaction at most once.

The journal knows its chain: `bind` records the chain id and the genesis hash on first use
and refuses another chain; each mined step keeps its block number and hash, so a check
against the chain (`platform_core.chain.journal_check`) can tell when the chain no longer
holds what was journalled (a reset devnet, a restored journal). Such a journal raises
`JournalChainMismatch`, as does re-signing bytes it already holds.

Writes are committed with `synchronous=FULL` before the call returns. Calls are blocking
(SQLite is local and fast); async callers wrap them in `asyncio.to_thread`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from platform_core.chain.errors import JournalChainMismatch, JournalError


class StepState(StrEnum):
    PREPARED = "prepared"
    SIGNED = "signed"
    SUBMITTED = "submitted"
    UNKNOWN = "unknown"  # sent or maybe sent, outcome not yet known: reconcile, never guess
    CONFIRMED = "confirmed"
    REVERTED = "reverted"
    REPLACED = "replaced"  # the nonce was used by a transaction this step did not sign
    DROPPED = "dropped"  # cancelled: our zero-value self-transfer took the nonce
    REFUSED = "refused"  # never broadcast (simulation revert, fee ceiling, refusal)


OPEN_STATES = (StepState.SIGNED, StepState.SUBMITTED, StepState.UNKNOWN)
# Final states in which one of the step's own transactions was mined (`final_tx_hash`).
MINED_STATES = (StepState.CONFIRMED, StepState.REVERTED, StepState.DROPPED)
FINAL_STATES = (
    StepState.CONFIRMED,
    StepState.REVERTED,
    StepState.REPLACED,
    StepState.DROPPED,
    StepState.REFUSED,
)


class AttemptKind(StrEnum):
    ORIGINAL = "original"
    SPEED_UP = "speed_up"  # same payload, same nonce, higher fees
    CANCEL = "cancel"  # zero-value self-transfer at the same nonce


@dataclass(frozen=True)
class Attempt:
    tx_hash: bytes
    raw: bytes
    kind: AttemptKind
    nonce: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True)
class StepRecord:
    step_key: str
    chain_id: int
    sender: str
    to: str
    value: int
    data: bytes
    gas_limit: int | None
    max_fee_ceiling: int
    nonce: int | None
    state: StepState
    detail: str | None
    final_tx_hash: bytes | None
    meta: dict[str, Any]
    attempts: tuple[Attempt, ...]
    block_number: int | None = None  # where `final_tx_hash` was mined
    block_hash: bytes | None = None


@dataclass(frozen=True)
class MinedStep:
    """A step whose own transaction the chain included, as the journal recorded it."""

    step_key: str
    sender: str
    nonce: int
    tx_hash: bytes
    block_number: int | None  # None in journals written before blocks were recorded
    block_hash: bytes | None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS steps (
    step_key TEXT PRIMARY KEY,
    chain_id INTEGER NOT NULL,
    sender TEXT NOT NULL,
    to_address TEXT NOT NULL,
    value TEXT NOT NULL,
    data BLOB NOT NULL,
    gas_limit INTEGER,
    max_fee_ceiling TEXT NOT NULL,
    nonce INTEGER,
    state TEXT NOT NULL,
    detail TEXT,
    final_tx_hash BLOB,
    meta TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    block_number INTEGER,
    block_hash BLOB
);
CREATE TABLE IF NOT EXISTS attempts (
    tx_hash BLOB PRIMARY KEY,
    step_key TEXT NOT NULL REFERENCES steps(step_key),
    kind TEXT NOT NULL,
    raw BLOB NOT NULL,
    nonce INTEGER NOT NULL,
    max_fee_per_gas TEXT NOT NULL,
    max_priority_fee_per_gas TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS steps_by_state ON steps(state);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
_STEP_COLUMNS = (
    "step_key, chain_id, sender, to_address, value, data, gas_limit, max_fee_ceiling, nonce,"
    " state, detail, final_tx_hash, meta, block_number, block_hash"
)
_ADDED_COLUMNS = {"block_number": "INTEGER", "block_hash": "BLOB"}  # to older journals

REMEDY = (
    "stop the platform (`make down`), then archive the journal (`.venv/bin/sep journals"
    " archive` moves it to stale-journals/ beside it) or point SEP_JOURNAL_PATH elsewhere"
)


def chain_mismatch(path: Path, what: str) -> JournalChainMismatch:
    """The error for a journal that does not match its chain: what differs, what to do."""
    return JournalChainMismatch(f"journal {path} does not match the chain: {what}; {REMEDY}")


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # fsync on every commit
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(steps)")}
        for column, kind in _ADDED_COLUMNS.items():
            if column not in present:
                self._db.execute(f"ALTER TABLE steps ADD COLUMN {column} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def chain(self) -> tuple[int, bytes] | None:
        """The (chain id, genesis hash) this journal is bound to; None before `bind`."""
        with self._lock:
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if "chain_id" not in meta:
            return None
        return int(meta["chain_id"]), bytes.fromhex(meta["genesis_hash"])

    def bind(self, chain_id: int, genesis_hash: bytes, *, record: bool = True) -> None:
        """Tie the journal to a chain: the first bind records the chain id and genesis hash
        (unless `record` is False: a read-only check); a journal bound to another chain
        raises `JournalChainMismatch`."""
        if record:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                        [
                            ("chain_id", str(chain_id)),
                            ("genesis_hash", genesis_hash.hex()),
                            ("bound_at", str(time.time())),
                        ],
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        bound = self.chain()
        if bound is not None and bound != (chain_id, genesis_hash):
            raise chain_mismatch(
                self.path,
                f"it was written for chain {bound[0]} with genesis block 0x{bound[1].hex()},"
                f" the node is chain {chain_id} with genesis block 0x{genesis_hash.hex()}",
            )

    def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                count = self._db.execute(sql, params).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return count

    def prepare(
        self,
        step_key: str,
        *,
        chain_id: int,
        sender: str,
        to: str,
        value: int,
        data: bytes,
        max_fee_ceiling: int,
        gas_limit: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> StepRecord:
        """Record what a step means to send. Preparing the same key again returns the
        existing record unchanged (a retried handler has one effect)."""
        now = time.time()
        inserted = self._write(
            "INSERT INTO steps (step_key, chain_id, sender, to_address, value, data, gas_limit,"
            " max_fee_ceiling, nonce, state, detail, final_tx_hash, meta, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, NULL, ?, ?, ?)"
            " ON CONFLICT(step_key) DO NOTHING",
            (
                step_key,
                chain_id,
                sender,
                to,
                str(value),
                data,
                gas_limit,
                str(max_fee_ceiling),
                StepState.PREPARED.value,
                json.dumps(meta or {}),
                now,
                now,
            ),
        )
        record = self.get(step_key)
        if not inserted and (
            record.chain_id,
            record.sender,
            record.to,
            record.value,
            record.data,
        ) != (
            chain_id,
            sender,
            to,
            value,
            data,
        ):
            raise JournalError(f"step {step_key!r} was prepared with different content")
        return record

    def record_signed(self, step_key: str, attempt: Attempt, gas_limit: int) -> None:
        """The signed bytes, durably, before they are broadcast."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                updated = self._db.execute(
                    "UPDATE steps SET nonce = ?, gas_limit = ?, state = CASE WHEN state = ?"
                    " THEN ? ELSE state END, updated_at = ? WHERE step_key = ?",
                    (
                        attempt.nonce,
                        gas_limit,
                        StepState.PREPARED.value,
                        StepState.SIGNED.value,
                        time.time(),
                        step_key,
                    ),
                ).rowcount
                if updated != 1:
                    raise JournalError(f"no prepared step {step_key!r}")
                self._insert_attempt(step_key, attempt)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _insert_attempt(self, step_key: str, attempt: Attempt) -> None:
        """Insert an attempt (inside the caller's transaction). Bytes the journal already
        holds mean a nonce it recorded as used was handed out again: the chain forgot it."""
        try:
            self._db.execute(
                "INSERT INTO attempts (tx_hash, step_key, kind, raw, nonce, max_fee_per_gas,"
                " max_priority_fee_per_gas, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    attempt.tx_hash,
                    step_key,
                    attempt.kind.value,
                    attempt.raw,
                    attempt.nonce,
                    str(attempt.max_fee_per_gas),
                    str(attempt.max_priority_fee_per_gas),
                    time.time(),
                ),
            )
        except sqlite3.IntegrityError:
            row = self._db.execute(
                "SELECT step_key FROM attempts WHERE tx_hash = ?", (attempt.tx_hash,)
            ).fetchone()
            if row is None:
                raise
            raise chain_mismatch(
                self.path,
                f"step {step_key!r} signed transaction 0x{attempt.tx_hash.hex()} at nonce"
                f" {attempt.nonce}, which the journal already holds for step {row[0]!r}: that"
                " nonce was used before, and the chain no longer shows it (was it reset?)",
            ) from None

    def set_state(
        self,
        step_key: str,
        state: StepState,
        *,
        detail: str | None = None,
        final_tx_hash: bytes | None = None,
        block_number: int | None = None,
        block_hash: bytes | None = None,
    ) -> None:
        """Move a step to `state`; a mined one also records its transaction and block."""
        count = self._write(
            "UPDATE steps SET state = ?, detail = COALESCE(?, detail),"
            " final_tx_hash = COALESCE(?, final_tx_hash),"
            " block_number = COALESCE(?, block_number), block_hash = COALESCE(?, block_hash),"
            " updated_at = ? WHERE step_key = ?",
            (state.value, detail, final_tx_hash, block_number, block_hash, time.time(), step_key),
        )
        if count != 1:
            raise JournalError(f"no step {step_key!r}")

    def get(self, step_key: str) -> StepRecord:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_STEP_COLUMNS} FROM steps WHERE step_key = ?", (step_key,)
            ).fetchone()
            if row is None:
                raise JournalError(f"no step {step_key!r}")
            attempts = self._db.execute(
                "SELECT tx_hash, raw, kind, nonce, max_fee_per_gas, max_priority_fee_per_gas"
                " FROM attempts WHERE step_key = ? ORDER BY created_at, rowid",
                (step_key,),
            ).fetchall()
        return _record(row, attempts)

    def open_steps(self, chain_id: int | None = None) -> list[StepRecord]:
        """Steps signed but not known to be final: what recovery must reconcile."""
        marks = ",".join("?" * len(OPEN_STATES))
        with self._lock:
            keys = [
                r[0]
                for r in self._db.execute(
                    f"SELECT step_key FROM steps WHERE state IN ({marks}) ORDER BY nonce",
                    tuple(s.value for s in OPEN_STATES),
                ).fetchall()
            ]
        records = [self.get(key) for key in keys]
        return [r for r in records if chain_id is None or r.chain_id == chain_id]

    def senders(self) -> list[str]:
        """Every wallet that signed a step in this journal."""
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT sender FROM steps").fetchall()
        return sorted({r[0] for r in rows}, key=str.lower)

    def latest_mined(self) -> MinedStep | None:
        """The mined step in the highest block (None before any was recorded with one)."""
        return self._mined("block_number IS NOT NULL", (), "block_number DESC, nonce DESC")

    def highest_mined(self, sender: str) -> MinedStep | None:
        """`sender`'s mined step with the highest nonce: the chain's account nonce for
        `sender` must be above it."""
        return self._mined("lower(sender) = lower(?)", (sender,), "nonce DESC")

    def mined_from(self, sender: str, nonce: int) -> list[tuple[MinedStep, bytes]]:
        """`sender`'s mined steps at `nonce` and above, in nonce order, each with the signed
        bytes of the transaction that was mined (to send again if a reorg dropped it)."""
        marks = ",".join("?" * len(MINED_STATES))
        with self._lock:
            rows = self._db.execute(
                "SELECT s.step_key, s.sender, s.nonce, s.final_tx_hash, s.block_number,"
                " s.block_hash, a.raw FROM steps s JOIN attempts a ON a.tx_hash = s.final_tx_hash"
                f" WHERE s.state IN ({marks}) AND lower(s.sender) = lower(?) AND s.nonce >= ?"
                " ORDER BY s.nonce",
                (*(s.value for s in MINED_STATES), sender, nonce),
            ).fetchall()
        return [
            (
                MinedStep(key, who, n, bytes(tx), number, None if bh is None else bytes(bh)),
                bytes(raw),
            )
            for key, who, n, tx, number, bh, raw in rows
        ]

    def _mined(self, where: str, params: tuple[Any, ...], order: str) -> MinedStep | None:
        marks = ",".join("?" * len(MINED_STATES))
        with self._lock:
            row = self._db.execute(
                "SELECT step_key, sender, nonce, final_tx_hash, block_number, block_hash"
                f" FROM steps WHERE state IN ({marks}) AND final_tx_hash IS NOT NULL"
                f" AND nonce IS NOT NULL AND {where} ORDER BY {order} LIMIT 1",
                (*(s.value for s in MINED_STATES), *params),
            ).fetchone()
        if row is None:
            return None
        key, sender, nonce, tx_hash, number, block_hash = row
        return MinedStep(
            key,
            sender,
            nonce,
            bytes(tx_hash),
            number,
            None if block_hash is None else bytes(block_hash),
        )


def read_steps(path: Path) -> tuple[int | None, list[StepRecord]]:
    """The chain id the journal at `path` is bound to (None: not yet) and every step in it
    with its attempts, in the order written. Read-only: for a checker reading a journal its
    execution actor may still be writing."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        rows = db.execute(
            f"SELECT {_STEP_COLUMNS} FROM steps ORDER BY created_at, rowid"
        ).fetchall()
        attempts: dict[str, list[tuple[Any, ...]]] = {}
        for key, *attempt in db.execute(
            "SELECT step_key, tx_hash, raw, kind, nonce, max_fee_per_gas,"
            " max_priority_fee_per_gas FROM attempts ORDER BY created_at, rowid"
        ):
            attempts.setdefault(key, []).append(tuple(attempt))
    finally:
        db.close()
    chain_id = int(meta["chain_id"]) if "chain_id" in meta else None
    return chain_id, [_record(row, attempts.get(row[0], [])) for row in rows]


def _record(row: tuple[Any, ...], attempts: list[tuple[Any, ...]]) -> StepRecord:
    (key, chain_id, sender, to, value, data, gas_limit, ceiling, nonce, state, detail,
     final_hash, meta, block_number, block_hash) = row  # fmt: skip
    return StepRecord(
        step_key=key,
        chain_id=chain_id,
        sender=sender,
        to=to,
        value=int(value),
        data=bytes(data),
        gas_limit=gas_limit,
        max_fee_ceiling=int(ceiling),
        nonce=nonce,
        state=StepState(state),
        detail=detail,
        final_tx_hash=bytes(final_hash) if final_hash is not None else None,
        meta=json.loads(meta),
        attempts=tuple(
            Attempt(
                tx_hash=bytes(h),
                raw=bytes(raw),
                kind=AttemptKind(kind),
                nonce=n,
                max_fee_per_gas=int(mf),
                max_priority_fee_per_gas=int(mp),
            )
            for h, raw, kind, n, mf, mp in attempts
        ),
        block_number=block_number,
        block_hash=bytes(block_hash) if block_hash is not None else None,
    )


def wallet_journal_path(base: Path, chain_id: int, wallet: str) -> Path:
    """One journal per (chain, wallet), beside `base` (`SEP_JOURNAL_PATH`):
    `<stem>-<chain id>-<wallet><suffix>`."""
    return base.with_name(f"{base.stem}-{chain_id}-{wallet.lower()}{base.suffix}")


def venue_journals(base: Path, wallet: str) -> list[Path]:
    """The wallet's journals from when there was one per (venue, wallet), named
    `<stem>-<venue>-<wallet><suffix>` (a venue is never a number, a chain id always is)."""
    found = base.parent.glob(f"{base.stem}-*-{wallet.lower()}{base.suffix}")
    middle = len(base.stem) + 1, -len(f"-{wallet.lower()}{base.suffix}")
    return sorted(p for p in found if p.is_file() and not p.name[middle[0] : middle[1]].isdigit())


def adopt_venue_journal(base: Path, chain_id: int, wallet: str) -> Path | None:
    """Rename the wallet's one per-(venue, wallet) journal (with its WAL files) to its
    per-(chain, wallet) name, when that journal does not exist yet and the old one is not
    bound to another chain: its open steps are then reconciled and its nonces kept. Returns
    the journal taken over (None: nothing to take over, or several: `sep journals archive`
    them)."""
    target = wallet_journal_path(base, chain_id, wallet)
    old = venue_journals(base, wallet)
    if target.exists() or len(old) != 1:
        return None
    journal = Journal(old[0])
    try:
        bound = journal.chain()
    finally:
        journal.close()
    if bound is not None and bound[0] != chain_id:
        return None
    for suffix in ("-wal", "-shm"):
        companion = old[0].with_name(old[0].name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    old[0].rename(target)
    return old[0]


def wallet_journals(base: Path) -> list[Path]:
    """The per-wallet journals that exist beside `base` (their WAL files aside)."""
    return sorted(p for p in base.parent.glob(f"{base.stem}-*{base.suffix}") if p.is_file())


def archive_journals(journal_path: Path) -> list[Path]:
    """Move every journal beside `journal_path` (the per-wallet ones, with their WAL files)
    into `stale-journals/<time>/` next to them; return the files moved.

    For a chain started afresh (the devnet from its saved state): its journals describe
    transactions the new chain never saw, and re-signing the same payload at the same nonce
    gives the same hash, which the journal rightly refuses to record twice.
    """
    folder = journal_path.parent
    found = sorted(folder.glob(f"{journal_path.stem}*{journal_path.suffix}*"))
    if not found:
        return []
    target = folder / "stale-journals" / time.strftime("%Y%m%dT%H%M%S")
    target.mkdir(parents=True, exist_ok=True)
    return [path.rename(target / path.name) for path in found if path.is_file()]
