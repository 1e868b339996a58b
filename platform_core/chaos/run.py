"""A chaos run: a whole platform of its own, a seeded workload through its API while a
seeded fault schedule lands, then the history checker and the secret canaries over all it
left. `make chaos` runs the long one; `tests/chaos/` a bounded one inside `make test`.

The platform is started by `sep up` with everything on free ports: its own NATS (JetStream
synced on every write), Redis and PostgreSQL, which the faults kill and restart, its own
devnet, Ray head, actors and Serve application. The machine's shared services are never
touched. The three devnet strategies trade from wallets 1-3 (`devnet/devnet.env`).

Everything is written under the run's folder: `calls.jsonl` (every API call and its
answer), `faults.jsonl`, `workload.jsonl`, `report.json` and `report.txt` (the tables).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from platform_core.chain.client import ChainClient
from platform_core.chaos import canaries
from platform_core.chaos.checker import Evidence, Violation, check, moved_by_reorgs
from platform_core.chaos.client import ClientConfig, Summary, run_workload
from platform_core.chaos.collect import collect, read_balances
from platform_core.chaos.faults import (
    FaultInjector,
    FaultKind,
    PlannedFault,
    PlatformHandle,
    plan_faults,
)
from platform_core.chaos.history import FaultRecord, read_jsonl, write_jsonl
from platform_core.chaos.report import render, summary
from platform_core.chaos.workload import (
    Market,
    WorkloadConfig,
    devnet_strategies,
    generate,
)
from platform_core.config import PROJECT_ROOT, Settings

SEP = [sys.executable, "-m", "platform_core.cli"]
DEVNET_ENV = PROJECT_ROOT / "devnet" / "devnet.env"
DEPLOYMENT = PROJECT_ROOT / "devnet" / "deployment.json"
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
PORT_SETTINGS = (
    "SEP_API_PORT",
    "SEP_RAY_GCS_PORT",
    "SEP_RAY_DASHBOARD_PORT",
    "SEP_RAY_CLIENT_PORT",
    "SEP_RAY_DASHBOARD_AGENT_PORT",
    "SEP_RAY_METRICS_EXPORT_PORT",
)
SECRET_RULE = "secret_leak"
# What the read model (updated a moment after the log) can still settle: only these are
# looked at again before the run is judged.
LAGGING_RULES = {"read_model", "final_status"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_of(env: dict[str, str]) -> Settings:
    """The settings `sep up` read from `env` (its `SEP_*` variables)."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update({k: v for k, v in env.items() if k.startswith("SEP_")})
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass(frozen=True)
class ChaosConfig:
    intents: int = 300
    faults: int = 12
    seed: int = 1
    kinds: tuple[FaultKind, ...] | None = None  # None: every kind
    rate_per_s: float = 8.0
    keep: bool = False  # keep the run's folder even when it ends clean
    out_dir: Path | None = None  # default: a new folder under .run/chaos/
    settle_s: float = 60.0  # after the workload: how long the read model may take to catch up


@dataclass
class ChaosResult:
    out_dir: Path
    table: dict[str, Any]
    violations: list[Violation]
    faults: list[FaultRecord]
    client: Summary
    text: str = ""
    problems: list[str] = field(default_factory=list)  # the run itself went wrong

    @property
    def clean(self) -> bool:
        return not self.violations and not self.problems


def _devnet_env() -> dict[str, str]:
    """DEVNET_* of devnet/devnet.env (JSON values on one line each)."""
    found = {}
    for line in DEVNET_ENV.read_text().splitlines():
        match = re.match(r"^\s*(DEVNET_[A-Z_]+)\s*=\s*(.*?)\s*$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def platform_env(run_dir: Path, tag: str) -> dict[str, str]:
    """`sep up`'s environment: names and ports of the run's own, its own services."""
    devnet = _devnet_env()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SEP_")}
    return {
        **inherited,
        **RAY_ENV,
        **{name: str(free_port()) for name in PORT_SETTINGS},
        "SEP_RUN_DIR": str(run_dir),
        "SEP_JOURNAL_PATH": str(run_dir / "journal.sqlite"),
        "SEP_NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "SEP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SEP_POSTGRES_DSN": f"postgresql://postgres@127.0.0.1:{free_port()}/sep",
        "SEP_REDIS_KEY_PREFIX": f"chaos:{tag}:",
        "SEP_STREAM_NAME": f"SEP_CHAOS_{tag}",
        "SEP_SUBJECT_PREFIX": f"c{tag}.events",
        "SEP_CHAINS": json.dumps(
            {"42161": {"name": "arbitrum", "rpc_url": f"http://127.0.0.1:{free_port()}"}}
        ),
        "SEP_STRATEGY_WALLETS": devnet["DEVNET_STRATEGY_WALLETS"],
        "SEP_SIGNING_KEYS": devnet["DEVNET_SIGNING_KEYS"],
        "SEP_PASSIVE_SLICE_INTERVAL_MS": str(WorkloadConfig().slice_interval_ms),
        "SEP_PROMETHEUS_PORT": "0",
        # Follow GETs and bursts of three strategies: well above the default 20/s each.
        "SEP_RATE_LIMIT_PER_S": "100",
        "SEP_RATE_LIMIT_BURST": "200",
    }


def _sep(env: dict[str, str], *args: str, timeout_s: float = 600) -> str:
    done = subprocess.run([*SEP, *args], env=env, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(
            f"`sep {' '.join(args)}` failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return done.stdout


@contextlib.contextmanager
def running_platform(run_dir: Path) -> Iterator[dict[str, str]]:
    """`sep up` on the run's own everything; `sep down` whatever happens."""
    env = platform_env(run_dir, uuid.uuid4().hex[:10])
    try:
        (run_dir / "sep-up.out").write_text(_sep(env, "up"))
        yield env
    finally:
        with contextlib.suppress(Exception):
            (run_dir / "sep-down.out").write_text(_sep(env, "down", timeout_s=300))


def api_keys(env: dict[str, str]) -> dict[str, str]:
    """A new API key per strategy of the run."""
    keys = {}
    for strategy in json.loads(env["SEP_STRATEGY_WALLETS"]):
        out = _sep(env, "keys", "create", "--strategy", strategy, timeout_s=60)
        keys[strategy] = next(ln.split()[-1] for ln in out.splitlines() if ln.startswith("api key"))
    return keys


async def _chain_start(
    settings: Settings, wallets: Sequence[str], tokens: Sequence[str]
) -> tuple[int, dict[str, dict[str, int]]]:
    chain = next(iter(settings.chains.values()))
    client = ChainClient(chain.rpc_url, timeout_s=settings.rpc_timeout_s)
    try:
        block = await client.block_number()
        return block + 1, await read_balances(client, wallets, tokens, block)
    finally:
        await client.close()


async def _inject_all(
    injector: FaultInjector, plan: Sequence[PlannedFault], out: Path, started: float
) -> list[FaultRecord]:
    records = []
    for fault in plan:
        await asyncio.sleep(max(0.0, started + fault.at - time.time()))
        record = await injector.inject_async(fault)
        write_jsonl(out, [record])
        records.append(record)
        print(f"  fault {record.kind} on {record.target}: {'ok' if record.ok else 'NOT OK'} "
              f"({record.detail[:160]})", flush=True)  # fmt: skip
    return records


async def _settled_evidence(
    settings: Settings, calls: Path, start: tuple[int, dict[str, dict[str, int]]],
    wallets: Sequence[str], tokens: Sequence[str], settle_s: float,
    reorgs: list[tuple[int, int]],
) -> tuple[Evidence, list[Violation]]:  # fmt: skip
    """The evidence once the read model has caught up with the log (or `settle_s` passed):
    the coordinator updates Redis a moment after the last event is stored."""
    deadline = time.monotonic() + settle_s
    while True:
        evidence = await collect(
            settings, api_calls_path=calls, start_block=start[0], start_balances=start[1],
            wallets=wallets, tokens=tokens,
        )  # fmt: skip
        evidence.reorgs = reorgs
        violations = check(evidence)
        lagging = any(v.rule in LAGGING_RULES for v in violations)
        if not lagging or time.monotonic() > deadline:
            return evidence, violations
        await asyncio.sleep(2.0)


async def _canary_places(
    settings: Settings, run_dir: Path, evidence: Evidence, dashboard: str
) -> list[canaries.Place]:
    places = list(canaries.file_places([run_dir, *_ray_session_dirs(run_dir)]))
    places += canaries.event_places(evidence.events)
    import redis.asyncio as aioredis

    client = aioredis.from_url(settings.redis_url)
    try:
        places += [p async for p in canaries.redis_places(client, settings.redis_key_prefix)]
    finally:
        await client.aclose()
    places += [p async for p in canaries.postgres_places(settings.postgres_dsn)]
    async with httpx.AsyncClient(timeout=30) as http:
        for what in ("actors", "tasks"):
            with contextlib.suppress(httpx.HTTPError):
                answer = await http.get(f"{dashboard}/api/v0/{what}?limit=10000&detail=1")
                places.append(canaries.json_place(f"dashboard {what}", answer.content))
    return places


def _ray_session_dirs(run_dir: Path) -> list[Path]:
    """The Ray session folder of the run's head (its logs), read off the head's log."""
    log = run_dir / "ray-head.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    found = {Path(m) for m in re.findall(r"(/\S*/session_[0-9_\-]+)", text)}
    return sorted(p for p in found if p.is_dir())


def _secrets(env: dict[str, str], keys: dict[str, str]) -> list[canaries.Secret]:
    signing = json.loads(env["SEP_SIGNING_KEYS"])
    found = canaries.signing_key_secrets(signing)
    found += [canaries.Secret(f"api key of {s}", token) for s, token in keys.items()]
    return found


async def _run(config: ChaosConfig, run_dir: Path) -> ChaosResult:
    problems: list[str] = []
    with running_platform(run_dir) as env:
        settings = settings_of(env)
        keys = api_keys(env)
        market = Market.load(DEPLOYMENT)
        wallets = list(json.loads(env["SEP_STRATEGY_WALLETS"]).values())
        tokens = [t.address for t in market.tokens.values()]
        strategies = devnet_strategies(json.loads(env["SEP_STRATEGY_WALLETS"]))
        workload_config = WorkloadConfig(rate_per_s=config.rate_per_s, run_id=run_dir.name[-40:])
        workload = generate(strategies, market, seed=config.seed, intents=config.intents,
                            config=workload_config)  # fmt: skip
        workload.to_jsonl(run_dir / "workload.jsonl")
        plan = plan_faults(config.seed, workload.duration_s, config.faults, config.kinds)
        handle = PlatformHandle.from_env(env)
        start = await _chain_start(settings, wallets, tokens)
        print(f"chaos: {config.intents} intents over {workload.duration_s:.0f} s, "
              f"{len(plan)} faults, seed {config.seed}; folder {run_dir}", flush=True)  # fmt: skip
        started = time.time()
        client_run = run_workload(
            workload, handle.api_url or "", keys, run_dir / "calls.jsonl",
            config=ClientConfig(follow_timeout_s=300.0),
            progress=lambda s: print(f"  {s.line()}", flush=True),
        )  # fmt: skip
        injector = FaultInjector(handle)
        client, records = await asyncio.gather(
            client_run, _inject_all(injector, plan, run_dir / "faults.jsonl", started)
        )
        if client.not_final:
            problems.append(f"{len(client.not_final)} accepted intents not final at the end")
        problems += [f"client: {e}" for e in client.client_errors[:20]]
        reorgs = [(r.blocks[0], r.blocks[1]) for r in records if r.blocks and r.ok]
        evidence, violations = await _settled_evidence(
            settings, run_dir / "calls.jsonl", start, wallets, tokens, config.settle_s, reorgs
        )
        leaks = canaries.find_secrets(
            _secrets(env, keys),
            await _canary_places(settings, run_dir, evidence, handle.dashboard_url),
        )
        violations += [Violation(SECRET_RULE, leak.place, f"{leak.secret} ({leak.form})")
                       for leak in leaks]  # fmt: skip
    table = summary(evidence, records, violations)
    table["violations"].setdefault(SECRET_RULE, 0)
    table["client"] = dict(sorted(client.calls.items()))
    table["confirmations_moved_by_reorgs"] = moved_by_reorgs(evidence)
    return ChaosResult(run_dir, table, violations, records, client, problems=problems)


async def _stoppable(run: Awaitable[ChaosResult]) -> ChaosResult:
    """`run`, cancelled by SIGINT or SIGTERM (even where the shell started the run with
    SIGINT ignored, as for a background job): the platform it started is then stopped
    (`sep down`) before the process ends, and nothing of it is left running."""
    task = asyncio.ensure_future(run)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run_chaos(config: ChaosConfig) -> ChaosResult:
    base = config.out_dir or PROJECT_ROOT / ".run" / "chaos"
    base.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=time.strftime("run-%Y%m%d-%H%M%S-"), dir=base))
    result = asyncio.run(_stoppable(_run(config, run_dir)))
    result.text = render(result.table)
    moved = result.table["confirmations_moved_by_reorgs"]
    result.text += (
        f"\n{moved} confirmed steps were moved to another block by an injected reorg (same"
        " transaction, status and gas used; the event names the block and gas price of before)\n"
    )
    if result.problems:
        result.text += "\nthe run itself:\n" + "\n".join(f"  {p}" for p in result.problems)
    if result.violations:
        shown = "\n".join(f"  {v.rule}: {v.subject}: {v.detail}" for v in result.violations[:50])
        result.text += f"\nviolations (first 50 of {len(result.violations)}):\n{shown}"
    (run_dir / "report.txt").write_text(result.text + "\n")
    record = {**result.table, "problems": result.problems, "seed": config.seed,
              "intents_submitted": config.intents, "faults_planned": config.faults}  # fmt: skip
    (run_dir / "report.json").write_text(json.dumps(record, indent=2))
    if result.clean and not config.keep:
        for name in ("journal.sqlite",):
            with contextlib.suppress(OSError):
                (run_dir / name).unlink()
        for sub in run_dir.iterdir():  # the services' data: large, and the report says it all
            if sub.is_symlink():  # PostgreSQL's data lives where its own user may write
                shutil.rmtree(sub.resolve(), ignore_errors=True)
                sub.unlink()
            elif sub.is_dir():
                shutil.rmtree(sub, ignore_errors=True)
    return result


def recorded_faults(run_dir: Path) -> list[FaultRecord]:
    return list(read_jsonl(run_dir / "faults.jsonl", FaultRecord))
