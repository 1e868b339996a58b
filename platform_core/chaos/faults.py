"""Faults a chaos run injects into a running platform, and a seeded plan of them.

`plan_faults` draws a reproducible schedule; `FaultInjector.inject` carries one planned fault
out against the platform a `PlatformHandle` describes (the environment `sep up` was given, its
run dir, the chain's RPC URL, the Ray dashboard, our wallets), waits (bounded) until what it
broke works again, and returns a `FaultRecord`: `ok` is True when the fault was injected and
the platform recovered from it within the timeout; `detail` says what was done and seen.

Only what the platform started itself is touched: a service fault needs the service's entry
in the run dir's `started.json` (so a shared NATS, Redis or PostgreSQL is never stopped),
and restarts it with the launcher's own start function, updating that entry so `sep down`
still stops it. Actors are found through the dashboard's state API by name (namespace `sep`)
or, for the API's Serve replicas, by class, and killed with SIGKILL: Ray restarts the
platform's actors (`max_restarts=-1`) and Serve replaces its replicas. Chain faults use
anvil's RPC methods; every one of them is undone before `inject` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from platform_core.chaos.history import FaultRecord
from platform_core.config import Settings, _default_chains
from platform_core.errors import ErrorCode, PlatformError
from platform_core.services import launcher

T = TypeVar("T")


class FaultKind(StrEnum):
    # SIGKILL of an actor's worker process (Ray restarts it: max_restarts=-1).
    KILL_EXECUTOR = "kill_executor"  # executor:<chain>:<wallet>
    KILL_INTENT_PROCESSOR = "kill_intent_processor"  # intent-processor-<i>
    KILL_PLANNER = "kill_planner"  # execution-planner
    KILL_STATE_COORDINATOR = "kill_state_coordinator"  # state-coordinator
    KILL_VENUE_ADAPTER = "kill_venue_adapter"  # venue:<chain>:<venue>
    KILL_MARKET_DATA = "kill_market_data"  # market-data:<chain>
    KILL_CHAIN_MONITOR = "kill_chain_monitor"  # chain-monitor:<chain>
    KILL_API_REPLICA = "kill_api_replica"  # a Serve replica of the IntentAPI deployment
    # Services the platform started (the run dir's started.json), on the same port.
    RESTART_NATS = "restart_nats"  # SIGKILL, restarted on its JetStream store
    RESTART_REDIS = "restart_redis"  # SIGKILL, restarted empty (no persistence)
    RESTART_POSTGRES = "restart_postgres"  # SIGKILL of the postmaster, crash recovery
    # The chain (anvil).
    MINING_PAUSE = "mining_pause"  # no block for `hold_s`
    TX_DROP = "tx_drop"  # one of our wallets' pending transactions dropped
    REORG = "reorg"  # the last `depth` blocks replaced
    BASE_FEE_SPIKE = "base_fee_spike"  # base fee above the fee ceiling for `hold_s`


ACTOR_KINDS = frozenset(
    {
        FaultKind.KILL_EXECUTOR,
        FaultKind.KILL_INTENT_PROCESSOR,
        FaultKind.KILL_PLANNER,
        FaultKind.KILL_STATE_COORDINATOR,
        FaultKind.KILL_VENUE_ADAPTER,
        FaultKind.KILL_MARKET_DATA,
        FaultKind.KILL_CHAIN_MONITOR,
        FaultKind.KILL_API_REPLICA,
    }
)
SERVICE_KINDS = frozenset(
    {FaultKind.RESTART_NATS, FaultKind.RESTART_REDIS, FaultKind.RESTART_POSTGRES}
)
CHAIN_KINDS = frozenset(
    {FaultKind.MINING_PAUSE, FaultKind.TX_DROP, FaultKind.REORG, FaultKind.BASE_FEE_SPIKE}
)

# The platform's actor names (actors/wiring.py, actors/state_coordinator.py): a name is the
# kind's when it equals the entry or starts with it (entries ending in ":" or "-").
ACTOR_NAMESPACE = "sep"
ACTOR_NAMES: dict[FaultKind, str] = {
    FaultKind.KILL_EXECUTOR: "executor:",
    FaultKind.KILL_INTENT_PROCESSOR: "intent-processor-",
    FaultKind.KILL_PLANNER: "execution-planner",
    FaultKind.KILL_STATE_COORDINATOR: "state-coordinator",
    FaultKind.KILL_VENUE_ADAPTER: "venue:",
    FaultKind.KILL_MARKET_DATA: "market-data:",
    FaultKind.KILL_CHAIN_MONITOR: "chain-monitor:",
}
SERVE_NAMESPACE = "serve"
API_REPLICA_CLASS = "ServeReplica:sep:IntentAPI"  # Serve's `ServeReplica:<app>:<deployment>`


def actor_kind_matches(kind: FaultKind, name: str) -> bool:
    pattern = ACTOR_NAMES[kind]
    return name.startswith(pattern) if pattern[-1] in ":-" else name == pattern


@dataclass(frozen=True)
class PlannedFault:
    """One fault of a plan: `kind` at `at` seconds after the run's start. `pick` chooses the
    target among the candidates found then (sorted, `pick` modulo their number);
    `hold_s` is how long a window lasts (mining pause, base fee spike) or, for a drop, how
    long to wait for a pending transaction; `depth` is a reorg's number of blocks."""

    at: float
    kind: FaultKind
    pick: int = 0
    hold_s: float = 0.0
    depth: int = 0


# Windows short enough for the platform's receipt wait (SEP_RECEIPT_TIMEOUT_S, 60 s).
HOLD_RANGES: dict[FaultKind, tuple[float, float]] = {
    FaultKind.MINING_PAUSE: (3.0, 12.0),
    FaultKind.TX_DROP: (5.0, 15.0),
    FaultKind.BASE_FEE_SPIKE: (5.0, 20.0),
}
REORG_DEPTHS = (2, 3)
REORG_TIMEOUT_S = 120.0  # how long anvil may take to answer `anvil_reorg`


def plan_faults(
    seed: int, duration_s: float, count: int, kinds: Iterable[FaultKind] | None = None
) -> list[PlannedFault]:
    """`count` faults of `kinds` (all by default) over a run of `duration_s`, the same for
    the same arguments. The run is cut into `count` equal slots (the first and last 5 % of
    it left alone) and each fault falls at a random point of its own slot, so faults are
    spread over the run. Every kind comes at least once when `count` allows it; with fewer
    faults than kinds, each kind at most once."""
    if count < 0 or duration_s <= 0:
        raise ValueError("count must be >= 0 and duration_s > 0")
    chosen = sorted(set(kinds if kinds is not None else FaultKind))
    if not chosen and count:
        raise ValueError("no fault kinds to plan")
    rng = random.Random(seed)
    if count <= len(chosen):
        sequence = rng.sample(chosen, count)
    else:
        sequence = chosen + [rng.choice(chosen) for _ in range(count - len(chosen))]
        rng.shuffle(sequence)
    start, end = 0.05 * duration_s, 0.95 * duration_s
    slot = (end - start) / count if count else 0.0
    plan = []
    for index, kind in enumerate(sequence):
        at = start + slot * index + rng.uniform(0.1, 0.9) * slot
        low, high = HOLD_RANGES.get(kind, (0.0, 0.0))
        hold = round(rng.uniform(low, high), 3) if high else 0.0
        depth = rng.randint(*REORG_DEPTHS) if kind is FaultKind.REORG else 0
        plan.append(PlannedFault(round(at, 3), kind, rng.randrange(1 << 16), hold, depth))
    return plan


@dataclass(frozen=True)
class PlatformHandle:
    """A running platform: the environment `sep up` was given (the `SEP_*` settings), its
    run dir, the chain's RPC URL, the Ray dashboard's URL, our wallets' addresses and the
    API's base URL (to check it answers after a replica was killed)."""

    env: Mapping[str, str]
    run_dir: Path
    rpc_url: str
    dashboard_url: str
    wallets: tuple[str, ...] = ()
    api_url: str | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], wallets: Sequence[str] | None = None
    ) -> PlatformHandle:
        """The handle of the platform `sep up` started with `env`; the wallets default to
        those of `SEP_STRATEGY_WALLETS`."""
        handle = cls(env, Path(env["SEP_RUN_DIR"]), "", "")
        if "SEP_CHAINS" in env:
            rpc_url = str(next(iter(json.loads(env["SEP_CHAINS"]).values()))["rpc_url"])
        else:
            rpc_url = next(iter(_default_chains().values())).rpc_url
        if wallets is None:
            wallets = list(json.loads(env.get("SEP_STRATEGY_WALLETS", "{}")).values())
        return cls(
            env,
            handle.run_dir,
            rpc_url,
            f"http://127.0.0.1:{handle.setting('ray_dashboard_port')}",
            tuple(wallets),
            f"http://{handle.setting('api_host')}:{handle.setting('api_port')}",
        )

    def setting(self, name: str) -> str:
        """A setting as `sep up` sees it: `SEP_<NAME>` of the environment, else its default."""
        value = self.env.get(f"SEP_{name.upper()}")
        if value is not None:
            return value
        return str(Settings.model_fields[name].default)


class FaultError(PlatformError, RuntimeError):
    """A fault that could not be injected (no target, not ours, ...)."""

    code = ErrorCode.FAULT_NOT_INJECTED


class _MixedHead(FaultError):
    """The head block holds several senders' transactions, or a reverted one: a reorg could
    change their outcomes."""


class _LateBlock(FaultError):
    """A block anvil had begun before mining stopped landed during the fault (a busy
    machine): the fault is tried again at the new head."""


@dataclass
class _Outcome:
    target: str
    ok: bool
    detail: str
    blocks: list[int] | None = None


@dataclass
class FaultInjector:
    """Injects planned faults one at a time (a lock serialises concurrent calls) into the
    platform of `handle`; each waits at most `recovery_timeout_s` for the recovery."""

    handle: PlatformHandle
    recovery_timeout_s: float = 120.0
    poll_s: float = 0.25
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def inject(self, fault: PlannedFault) -> FaultRecord:
        """Carry `fault` out and wait for the recovery. Never raises for a failed fault: the
        record says `ok=False` and why."""
        with self._lock:
            started = time.time()
            try:
                outcome = self._run(fault)
            except Exception as exc:
                outcome = _Outcome("", False, f"{type(exc).__name__}: {exc}")
            return FaultRecord(
                kind=str(fault.kind),
                target=outcome.target,
                at=fault.at,
                started=started,
                ended=time.time(),
                ok=outcome.ok,
                detail=outcome.detail,
                blocks=outcome.blocks,
            )

    async def inject_async(self, fault: PlannedFault) -> FaultRecord:
        """`inject` in a thread, for a runner on an event loop."""
        return await asyncio.to_thread(self.inject, fault)

    def _run(self, fault: PlannedFault) -> _Outcome:
        kind = fault.kind
        if kind is FaultKind.KILL_API_REPLICA:
            return self._kill_api_replica(fault)
        if kind in ACTOR_KINDS:
            return self._kill_actor(fault)
        if kind is FaultKind.RESTART_NATS:
            return self._restart_nats()
        if kind is FaultKind.RESTART_REDIS:
            return self._restart_redis()
        if kind is FaultKind.RESTART_POSTGRES:
            return self._restart_postgres()
        if kind is FaultKind.MINING_PAUSE:
            return self._mining_pause(fault)
        if kind is FaultKind.TX_DROP:
            return self._tx_drop(fault)
        if kind is FaultKind.REORG:
            return self._reorg(fault)
        if kind is FaultKind.BASE_FEE_SPIKE:
            return self._base_fee_spike(fault)
        raise FaultError(f"unknown fault kind {kind!r}")

    def _wait(self, until: Callable[[], bool], timeout_s: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout_s or self.recovery_timeout_s)
        while True:
            with contextlib.suppress(Exception):
                if until():
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(self.poll_s)

    # ---------------------------------------------------------------- actors

    def actors(self) -> list[dict[str, Any]]:
        """Every actor of the cluster (the dashboard's state API: no driver needed)."""
        answer = httpx.get(
            f"{self.handle.dashboard_url}/api/v0/actors",
            params={"limit": 10000, "detail": "1"},
            timeout=10.0,
        )
        answer.raise_for_status()
        result: list[dict[str, Any]] = answer.json()["data"]["result"]["result"]
        return result

    def _kill_actor(self, fault: PlannedFault) -> _Outcome:
        alive = [
            actor
            for actor in self.actors()
            if actor["state"] == "ALIVE"
            and actor.get("ray_namespace") == ACTOR_NAMESPACE
            and actor_kind_matches(fault.kind, actor.get("name") or "")
        ]
        if not alive:
            raise FaultError(
                f"no ALIVE actor for {fault.kind} (pattern {ACTOR_NAMES[fault.kind]!r})"
            )
        alive.sort(key=lambda actor: str(actor["name"]))
        victim = alive[fault.pick % len(alive)]
        name, old_pid = str(victim["name"]), int(victim["pid"])
        _kill(old_pid)

        def restarted() -> bool:
            for actor in self.actors():
                if actor.get("name") == name and actor.get("ray_namespace") == ACTOR_NAMESPACE:
                    return bool(actor["state"] == "ALIVE" and int(actor["pid"]) not in (0, old_pid))
            return False

        ok = self._wait(restarted)
        after = next((a for a in self.actors() if a.get("name") == name), {})
        detail = (
            f"SIGKILL pid {old_pid}; now {after.get('state')} pid {after.get('pid')}, "
            f"restarts {after.get('num_restarts')}"
        )
        return _Outcome(name, ok, detail if ok else f"not ALIVE again in time: {detail}")

    def _kill_api_replica(self, fault: PlannedFault) -> _Outcome:
        def replicas() -> list[dict[str, Any]]:
            return sorted(
                (
                    actor
                    for actor in self.actors()
                    if actor["state"] == "ALIVE"
                    and actor.get("class_name") == API_REPLICA_CLASS
                    and actor.get("ray_namespace") == SERVE_NAMESPACE
                ),
                key=lambda actor: str(actor.get("name")),
            )

        before = replicas()
        if not before:
            raise FaultError(f"no ALIVE {API_REPLICA_CLASS} actor")
        victim = before[fault.pick % len(before)]
        _kill(int(victim["pid"]))
        api = self.handle.api_url

        def replaced() -> bool:
            now = replicas()
            gone = all(
                actor["actor_id"] != victim["actor_id"] or int(actor["pid"]) != int(victim["pid"])
                for actor in now
            )
            if not gone or len(now) < len(before):
                return False
            return api is None or httpx.get(f"{api}/healthz", timeout=5.0).status_code == 200

        ok = self._wait(replaced)
        detail = (
            f"SIGKILL pid {victim['pid']} of {len(before)} replicas; "
            f"{len(replicas())} ALIVE after" + (f", {api}/healthz answers" if ok and api else "")
        )
        return _Outcome(str(victim.get("name")), ok, detail)

    # ---------------------------------------------------------------- services

    def _our_entry(self, name: str, url: str, default_port: int) -> launcher.Started:
        """The run record's entry of `name`, when this platform started it on `url`'s port:
        anything else (a shared service) is refused."""
        port = urlsplit(url).port or default_port
        entry = next(
            (e for e in launcher.RunRecord(self.handle.run_dir).load() if e.name == name), None
        )
        if entry is None or entry.pid is None:
            raise FaultError(f"{name} on port {port} was not started by this platform: left alone")
        if port not in entry.ports:
            raise FaultError(f"{name}: the recorded ports {entry.ports} are not {port}")
        return entry

    def _restart(self, entry: launcher.Started, start: Callable[[], launcher.Started]) -> None:
        """SIGKILL the recorded process, wait until its port is free, start it again and
        record the new process in its place."""
        assert entry.pid is not None
        _kill(entry.pid)
        if not _wait_gone(entry.pid, 15.0):
            raise FaultError(f"{entry.name}: pid {entry.pid} did not die")
        if not self._wait(lambda: not any(map(launcher._listening, entry.ports)), 15.0):
            raise FaultError(f"{entry.name}: ports {entry.ports} still taken")
        fresh = start()
        launcher.RunRecord(self.handle.run_dir).add(fresh)

    def _restart_nats(self) -> _Outcome:
        from platform_core.services.checks import check_nats

        url = self.handle.setting("nats_url")
        entry = self._our_entry("nats", url, 4222)
        stream = self.handle.setting("stream_name")
        before = _run_async(_stream_last_seq(url, stream))
        self._restart(entry, lambda: launcher.start_nats(url, self.handle.run_dir))
        ok = self._wait(lambda: _run_async(check_nats(url)).ok)
        after = _run_async(_stream_last_seq(url, stream)) if ok else None
        kept = before is None or (after is not None and after >= before)
        detail = (
            f"SIGKILL pid {entry.pid}, restarted on its store; stream {stream} last seq "
            f"{before} before, {after} after"
        )
        return _Outcome(f"nats {url}", ok and kept, detail)

    def _restart_redis(self) -> _Outcome:
        from platform_core.services.checks import check_redis

        url = self.handle.setting("redis_url")
        entry = self._our_entry("redis", url, 6379)
        self._restart(entry, lambda: launcher.start_redis(url, self.handle.run_dir))
        ok = self._wait(lambda: _run_async(check_redis(url)).ok)
        return _Outcome(f"redis {url}", ok, f"SIGKILL pid {entry.pid}, restarted empty")

    def _restart_postgres(self) -> _Outcome:
        from platform_core.services.checks import check_postgres

        dsn = self.handle.setting("postgres_dsn")
        entry = self._our_entry("postgres", dsn, 5432)
        port = urlsplit(dsn).port or 5432
        assert entry.pid is not None
        children = _children(entry.pid)

        def start() -> launcher.Started:
            # The postmaster's backends notice its death and exit; what lingers is killed,
            # as the new postmaster refuses to start while they hold the shared memory.
            if not _wait_gone_all(children, 5.0):
                for child in children:
                    _kill(child)
                _wait_gone_all(children, 10.0)
            # A dead postmaster not yet reaped (a zombie: its parent is whoever adopted it)
            # still answers kill(pid, 0), and the new one then takes its lock file for a
            # running server's. Once it is dead and reaped, or after a while dead and not
            # reaped, its lock file is stale: remove it, as PostgreSQL would.
            assert entry.pid is not None
            if not _wait_reaped(entry.pid, 5.0):
                lock = launcher.postgres_data_dir(self.handle.run_dir, port) / "postmaster.pid"
                with contextlib.suppress(FileNotFoundError):
                    if int(lock.read_text().split()[0]) == entry.pid:
                        lock.unlink()
            return launcher.start_postgres(dsn, self.handle.run_dir)

        self._restart(entry, start)
        ok = self._wait(lambda: _run_async(check_postgres(dsn)).ok)
        detail = (
            f"SIGKILL postmaster pid {entry.pid} ({len(children)} children), restarted "
            "on its data dir (crash recovery)"
        )
        return _Outcome(f"postgres {urlsplit(dsn).port}", ok, detail)

    # ---------------------------------------------------------------- chain

    def rpc(self, method: str, params: list[Any] | None = None, timeout_s: float = 10.0) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
        answer = httpx.post(self.handle.rpc_url, json=body, timeout=timeout_s)
        answer.raise_for_status()
        reply = answer.json()
        if "error" in reply:
            raise FaultError(f"{method}: {reply['error']}")
        return reply["result"]

    def _block(self, number: int | str = "latest") -> dict[str, Any]:
        tag = hex(number) if isinstance(number, int) else number
        block: dict[str, Any] = self.rpc("eth_getBlockByNumber", [tag, False])
        return block

    def _pause_mining(self) -> tuple[bool, int | None]:
        """Stop mining; how it mined (automine, interval in seconds) for `_resume_mining`."""
        automine = bool(self.rpc("anvil_getAutomine"))
        interval = self.rpc("anvil_getIntervalMining")
        if automine:
            self.rpc("evm_setAutomine", [False])
        if interval:
            self.rpc("evm_setIntervalMining", [0])
        self._settled_head()
        return automine, int(interval) if interval else None

    def _settled_head(self, quiet_s: float = 2.0, timeout_s: float = 30.0) -> int:
        """The head once no block has come for `quiet_s`: blocks anvil had begun to mine
        for transactions sent before mining stopped land a while later on a busy machine
        (seen: four blocks within a second after `evm_setAutomine false`), and a reorg or
        a base fee set before them would miss them."""
        head = int(self.rpc("eth_blockNumber"), 16)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(quiet_s)
            now = int(self.rpc("eth_blockNumber"), 16)
            if now == head:
                break
            head = now
        return head

    def _resume_mining(self, mode: tuple[bool, int | None]) -> str:
        automine, interval = mode
        if interval:
            self.rpc("evm_setIntervalMining", [interval])
        if automine:
            self.rpc("evm_setAutomine", [True])  # anvil mines what is pending right away
            if int(self.rpc("txpool_status")["pending"], 16):
                self.rpc("evm_mine")
        return "automine" if automine else (f"interval {interval} s" if interval else "manual")

    def _mined_again(self, mode: tuple[bool, int | None], head: int, held: set[str]) -> bool:
        """Mining is back: with automine, none of the transactions held by the pause is
        still pending (new ones keep arriving under load: the pool is rarely empty)."""
        automine, interval = mode
        if automine:
            return not held & self._pending_hashes()
        if interval:
            return int(self.rpc("eth_blockNumber"), 16) > head
        return True

    def _pending_hashes(self) -> set[str]:
        pending = self.rpc("txpool_content")["pending"]
        return {tx["hash"] for txs in pending.values() for tx in txs.values()}

    def _mining_pause(self, fault: PlannedFault) -> _Outcome:
        mode = self._pause_mining()
        head = int(self.rpc("eth_blockNumber"), 16)
        held: set[str] = set()
        try:
            time.sleep(fault.hold_s)
            held = self._pending_hashes()
        finally:
            how = self._resume_mining(mode)
        pending = len(held)
        ok = self._wait(lambda: self._mined_again(mode, head, held))
        detail = (
            f"no block for {fault.hold_s:g} s at head {head}; {pending} pending then; {how} again"
        )
        return _Outcome(self.handle.rpc_url, ok, detail)

    def _our_pending(self) -> list[tuple[str, int, str]]:
        """(wallet, nonce, hash) of our wallets' pending transactions."""
        ours = {wallet.lower() for wallet in self.handle.wallets}
        pending = self.rpc("txpool_content")["pending"]
        return sorted(
            (wallet.lower(), int(nonce), tx["hash"])
            for wallet, txs in pending.items()
            if wallet.lower() in ours
            for nonce, tx in txs.items()
        )

    def _tx_drop(self, fault: PlannedFault) -> _Outcome:
        if not self.handle.wallets:
            raise FaultError("no wallets of ours in the handle")
        mode = self._pause_mining()
        head = int(self.rpc("eth_blockNumber"), 16)
        victim = None
        try:
            deadline = time.monotonic() + fault.hold_s
            while victim is None and time.monotonic() < deadline:
                found = self._our_pending()
                if found:
                    victim = found[fault.pick % len(found)]
                else:
                    time.sleep(self.poll_s)
            if victim is not None:
                self.rpc("anvil_dropTransaction", [victim[2]])
            held = self._pending_hashes()
        finally:
            how = self._resume_mining(mode)
        if victim is None:
            return _Outcome(
                self.handle.rpc_url,
                False,
                f"none of our wallets' transactions was pending within "
                f"{fault.hold_s:g} s; nothing dropped; {how} again",
            )
        ok = self._wait(lambda: self._mined_again(mode, head, held))
        wallet, nonce, tx_hash = victim
        gone = self.rpc("eth_getTransactionByHash", [tx_hash]) is None
        detail = (
            f"dropped {wallet} nonce {nonce} while mining was paused; "
            f"{'gone from the node' if gone else 'seen again'}; {how} again"
        )
        return _Outcome(tx_hash, ok, detail)

    def _reorg(self, fault: PlannedFault, tries: int = 5, wait_s: float = 2.0) -> _Outcome:
        """A reorg at the first head (of `tries`, `wait_s` apart) whose last block holds one
        sender's transactions: after a mining pause the head holds many wallets' swaps."""
        for _ in range(tries - 1):
            try:
                return self._reorg_once(fault)
            except (_MixedHead, _LateBlock):
                time.sleep(wait_s)
        return self._reorg_once(fault)

    def _reorg_once(self, fault: PlannedFault) -> _Outcome:
        # Mining is paused around it: a block mined between reading the last blocks and the
        # reorg would be replaced unread, and its transactions lost.
        mode = self._pause_mining()
        try:
            head = int(self.rpc("eth_blockNumber"), 16)
            depth = self._reorderless_depth(head, min(max(fault.depth, 1), head - 1))
            if depth < 1:
                raise (_MixedHead if head > 1 else FaultError)(
                    f"no reorg at head {head}: the chain is too short, or its last block holds "
                    "transactions of several senders or a reverted one (outcomes could change)"
                )
            old = self._block(head)["hash"]
            # Each replaced block's transactions come back in the new block at its height:
            # new blocks (new hashes, timestamps and base fees), the same outcomes. anvil
            # orders a block's transactions by tip, which a new base fee can change, so
            # only blocks whose transactions are one sender's (nonce order) are replaced.
            # Re-ordered, a swap that reverted can succeed: the platform does not follow
            # that yet (README, "Seen and left").
            placed = [
                (h, offset)
                for offset, n in enumerate(range(head - depth + 1, head + 1))
                for h in self._block(n)["transactions"]
            ]
            hashes = [h for h, _ in placed]
            raws = [[self.rpc("eth_getRawTransactionByHash", [h]), at] for h, at in placed]
            if int(self.rpc("eth_blockNumber"), 16) != head:  # a late block: not now
                raise _LateBlock(f"a block came after head {head} with mining stopped")
            # Given time: on a busy machine anvil answers a reorg late, and a reorg left to
            # finish after mining resumed lost a swap for good (a 10,000-intent run).
            self.rpc("anvil_reorg", [depth, raws], timeout_s=REORG_TIMEOUT_S)
            if int(self.rpc("eth_blockNumber"), 16) != head:
                raise FaultError(f"the reorg raced a late block after head {head}")
            new = self._block(head)["hash"]
            kept = all(self.rpc("eth_getTransactionReceipt", [h]) is not None for h in hashes)
        finally:
            how = self._resume_mining(mode)
        detail = (
            f"the last {depth} blocks to {head} replaced; their {len(hashes)} transactions "
            f"re-included at their heights ({'all' if kept else 'NOT all'} mined again); "
            f"head hash {old} -> {new}; {how} again"
        )
        return _Outcome(f"block {head}", new != old and kept, detail, [head - depth + 1, head])

    def _reorderless_depth(self, head: int, most: int) -> int:
        """How many of the last blocks (up to `most`) a reorg can replace keeping their
        transactions' outcomes: each holds the transactions of at most one sender (anvil
        orders a block by tip, which a new base fee changes) and none that reverted (a
        replacement block takes an earlier timestamp: a swap its deadline reverted can
        succeed there, as a 10,000-intent run saw)."""
        depth = 0
        while depth < most:
            block = self.rpc("eth_getBlockByNumber", [hex(head - depth), True])
            transactions = block["transactions"]
            if len({tx["from"].lower() for tx in transactions}) > 1:
                break
            receipts = [self.rpc("eth_getTransactionReceipt", [tx["hash"]]) for tx in transactions]
            if any(r is None or int(r["status"], 16) != 1 for r in receipts):
                break
            depth += 1
        return depth

    def _next_base_fee(self, fee: int, tries: int = 3) -> int:
        """Mine one block with base fee `fee`, mining paused meanwhile (a transaction mined
        between the two calls would take the block that was meant to carry it); again if a
        late block took the fee (a busy machine), up to `tries` times. The head's fee."""
        got = -1
        for _ in range(tries):
            mode = self._pause_mining()
            try:
                self.rpc("anvil_setNextBlockBaseFeePerGas", [hex(fee)])
                self.rpc("evm_mine")
                got = int(self._block()["baseFeePerGas"], 16)
            finally:
                self._resume_mining(mode)
            if got == fee:
                break
        return got

    def _base_fee_spike(self, fault: PlannedFault) -> _Outcome:
        ceiling = int(self.handle.setting("fee_ceiling_wei"))
        before = int(self._block()["baseFeePerGas"], 16)
        high = 2 * ceiling  # above the ceiling even with no tip: every estimate is refused
        spiked = self._next_base_fee(high)
        try:
            time.sleep(fault.hold_s)
        finally:
            self._next_base_fee(before)

        def back() -> bool:
            return int(self._block()["baseFeePerGas"], 16) <= max(before, 1) * 2

        ok = spiked >= high and self._wait(back, 30.0)
        detail = (
            f"base fee {before} -> {spiked} wei (ceiling {ceiling}) for {fault.hold_s:g} s, "
            f"then {int(self._block()['baseFeePerGas'], 16)}"
        )
        return _Outcome(self.handle.rpc_url, ok, detail)


# -------------------------------------------------------------------- processes


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running (a zombie of ours is reaped and counts as gone)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _wait_reaped(pid: int, timeout_s: float) -> bool:
    """True once `pid` is gone from the process table (not even a zombie)."""
    deadline = time.monotonic() + timeout_s
    while True:
        _alive(pid)  # reaps it when it is ours
        if not Path(f"/proc/{pid}").exists():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    return _wait_gone_all([pid], timeout_s)


def _wait_gone_all(pids: Iterable[int], timeout_s: float) -> bool:
    pids = list(pids)
    deadline = time.monotonic() + timeout_s
    while any(map(_alive, pids)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _children(pid: int) -> list[int]:
    return [child for child, fields in launcher.process_stats() if int(fields[1]) == pid]


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _stream_last_seq(url: str, stream: str) -> int | None:
    """The stream's last sequence number; None when NATS or the stream is not there."""
    import nats

    async def quiet(_: Exception) -> None:
        return None

    try:
        nc = await nats.connect(
            url, connect_timeout=3, allow_reconnect=False, max_reconnect_attempts=1, error_cb=quiet
        )
    except Exception:
        return None
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.last_seq)
    except Exception:
        return None
    finally:
        await nc.close()
